"""What-if page, levers: one form per lever (its assumptions), its result (ui/levers_widgets.
show_result, the same for every lever), its chart and Save as scenario. FORMS maps a lever to its
tab title and form; the semantic cache's form is added when simulate/levers/semantic.py exists.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from llmledger.errors import LedgerError
from llmledger.ui import format as fmt
from llmledger.ui import levers_charts as charts
from llmledger.ui import levers_widgets as lw
from llmledger.ui import sheet_widgets
from llmledger.ui.whatif_lab import _Bar, error

OWN_MODEL = "the session's own model"


def _ttl_words(s: float) -> str:
    from llmledger.simulate.levers.response import _ttl_words

    return _ttl_words(float(s))


def _finish(ctx, lever: str, opts: dict, key: str, extra: tuple = (), then=None):
    """Run the lever, draw its result, `then(result)` (its own charts), and the save form; the
    result, or None after an error."""
    try:
        ll = lw.run(ctx, lever, opts, extra)
    except LedgerError as exc:
        error(exc)
        return None
    lw.show_result(ll, key)
    if then is not None:
        then(ll)
    lw.save_form(ll, opts, key)
    return ll


def cache_form(ctx) -> None:
    from llmledger.simulate.lever_lab import TTLS

    o = lw.options("cache")
    c = st.columns([1, 1, 2])
    mode = c[0].radio(
        "Match prompts",
        ["exact", "normalised"],
        index=["exact", "normalised"].index(o["mode"]),
        horizontal=True,
        key="wi_lv_mode",
        help="exact: messages byte for byte (or their digests under the hash policy); normalised: case and "
        "whitespace ignored (needs the text)",
    )
    ttls = list(TTLS) if float(o["ttl_s"]) in TTLS else sorted({*TTLS, float(o["ttl_s"])})
    ttl = c[1].selectbox(
        "Entry lives (TTL)", ttls, index=ttls.index(float(o["ttl_s"])), format_func=_ttl_words, key="wi_lv_ttl"
    )
    opts = lw.keep_options("cache", {"ttl_s": float(ttl), "mode": mode})

    def chart(_ll) -> None:
        sweep = lw.ttl_sweep(*ctx.key)
        st.plotly_chart(charts.ttl_hit_rate(sweep, float(ttl), mode), key="wi_lv_ttl_chart")
        st.caption(
            "Every point is the same simulation at another TTL: an entry lives that long from the miss that wrote it."
        )

    _finish(ctx, "cache", opts, "wi_lv_cache", then=chart)


def agent_form(ctx) -> None:
    o = lw.options("agent-cache")
    scope = st.radio(
        "Identical calls within one",
        ["trace", "session"],
        index=["trace", "session"].index(o["scope"]),
        horizontal=True,
        key="wi_lv_scope",
    )
    _finish(ctx, "agent-cache", lw.keep_options("agent-cache", {"scope": scope}), "wi_lv_agent")


def prompt_form(ctx) -> None:
    from llmledger.simulate.levers.prefix import ANTHROPIC_WRITE

    o = lw.options("prompt-cache")
    c = st.columns(3)
    life = c[0].radio(
        "Cache lifetime",
        ["5m", "1h"],
        index=["5m", "1h"].index(o["lifetime"]),
        format_func=lambda v: {"5m": "5 min", "1h": "1 hour"}[v],
        horizontal=True,
        key="wi_lv_life",
    )
    min_prefix = c[1].number_input(
        "Minimum cacheable prefix (tokens)", 1, 100_000, int(o["min_prefix"]), step=128, key="wi_lv_minpre"
    )
    mult = c[2].number_input(
        "Cache-write price (x input)",
        min_value=0.0,
        max_value=10.0,
        value=o["write_multiplier"],
        step=0.25,
        key="wi_lv_wmult",
        placeholder=f"sheet's, else {ANTHROPIC_WRITE[life]}x for Claude",
        help="Blank: the sheet's write price, else Anthropic's premium for Claude models (1.25x input for 5 min, "
        "2x for 1 hour) and no fee for others. A number: that multiple of each model's input price.",
    )
    opts = lw.keep_options(
        "prompt-cache",
        {"lifetime": life, "min_prefix": int(min_prefix), "write_multiplier": None if mult in (None, 0) else mult},
    )
    _finish(ctx, "prompt-cache", opts, "wi_lv_prompt", then=lambda ll: _observed(ll.result.metrics.get("observed")))


def _observed(obs: dict | None) -> None:
    st.markdown("**Estimate against what the calls report**")
    if not obs:
        st.caption("No call in scope reports cache_read_tokens: nothing to compare the estimate with.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {"measure": "calls reporting cache reads", "observed": obs["calls"], "estimated": obs["calls"]},
                {
                    "measure": "calls with a cache read",
                    "observed": obs["hit_calls"],
                    "estimated": obs["estimated_hit_calls"],
                },
                {
                    "measure": "cache-read tokens",
                    "observed": obs["read_tokens"],
                    "estimated": obs["estimated_read_tokens"],
                },
            ]
        ),
        hide_index=True,
        key="wi_lv_prompt_obs",
    )
    st.caption(
        "Observed: the cache_read_tokens the calls reported. Estimated: this simulation on the same calls. A call "
        "that already reads more than the estimate keeps today's cost."
    )


def memory_form(ctx) -> None:
    o = lw.options("memory")
    c = st.columns(4)
    k = c[0].number_input("Turns kept whole (k)", 1, 100, int(o["k"]), key="wi_lv_k")
    s_tok = c[1].number_input("Summary length (tokens)", 1, 20_000, int(o["summary_tokens"]), step=50, key="wi_lv_stok")
    models = [OWN_MODEL, *sheet_widgets.model_options(ctx.sheet)]
    current = o["summary_model"] or OWN_MODEL
    s_model = c[2].selectbox(
        "Summary model", models, index=models.index(current) if current in models else 0, key="wi_lv_smodel"
    )
    strategy = c[3].radio(
        "Headline figure",
        ["summary", "window"],
        index=["summary", "window"].index(o["strategy"]),
        format_func=lambda v: {"summary": "summary + window", "window": "window only"}[v],
        key="wi_lv_strategy",
    )
    model = None if s_model == OWN_MODEL else s_model
    opts = lw.keep_options(
        "memory", {"k": int(k), "summary_tokens": int(s_tok), "strategy": strategy, "summary_model": model}
    )
    _finish(ctx, "memory", opts, "wi_lv_memory", extra=(model,) if model else (), then=_memory_chart)


def _memory_chart(ll) -> None:
    if ll.result.details.empty:
        return
    st.plotly_chart(charts.memory_turns(ll.result.details), key="wi_lv_memory_chart")
    st.caption(
        "Sessions whose input carries the whole history, summed turn by turn. The summary line includes the calls "
        "that write the summaries."
    )


def compress_form(ctx) -> None:
    o = lw.options("compress")
    c = st.columns([2, 1, 1])
    keep = c[0].slider("Target share of prompt tokens kept", 0.1, 0.9, float(o["keep"]), step=0.05, key="wi_lv_keep")
    sample = c[1].number_input("Prompts sampled", 1, 200, int(o["sample"]), key="wi_lv_sample")
    opts = lw.keep_options("compress", {"keep": float(keep), "sample": int(sample)})
    sc = ctx.scope
    store = st.session_state.setdefault("wi_lv_compressed", {})
    rkey = hashlib.sha256(repr((ctx.key, opts, len(sc.calls), str(sc.lc.end))).encode()).hexdigest()
    st.caption(
        "Compression runs SmolLM2-135M locally over a sample of distinct captured prompts (a forward pass per token), "
        "so it runs only when you ask."
    )
    with c[2]:
        st.write("")
        go = st.button("Run compression", key="wi_lv_compress_run", icon=":material/compress:", type="primary")
    if go:
        bar = _Bar("Loading SmolLM2…")
        try:
            store[rkey] = _compress(ctx, opts, bar)
        except LedgerError as exc:
            error(exc)
            return
        finally:
            bar.done()
    ll = store.get(rkey)
    if ll is None:
        st.info("Not run yet for these options: press Run compression.")
        return
    lw.show_result(ll, "wi_lv_compress")
    r = ll.result
    st.markdown(
        f"**Real ratio {r.metrics['real_ratio']:.3f}** (target {keep:.2f}): "
        f"{fmt.count(r.metrics['sample_tokens_before'])} tokens before, {fmt.count(r.metrics['sample_tokens_after'])} "
        "after, in the called models' tokenizers. Quality is the risk: read the examples."
    )
    for i, ex in enumerate(r.examples):
        st.markdown(
            f"Example {i + 1} ({fmt.plain_markdown(ex['model'])}): {fmt.count(ex['before_tokens'])} → "
            f"{fmt.count(ex['after_tokens'])} tokens, ratio {ex['after_tokens'] / max(ex['before_tokens'], 1):.2f}"
        )
        left, right = st.columns(2)
        left.caption("before")
        left.code(ex["before"], language=None, wrap_lines=True)
        right.caption("after")
        right.code(ex["after"], language=None, wrap_lines=True)
    lw.save_form(ll, opts, "wi_lv_compress")


def _compress(ctx, opts: dict, bar):
    from llmledger.simulate import lever_lab

    return lever_lab.run(ctx.scope, "compress", **lever_lab.engine_params(ctx.scope, "compress", opts), progress=bar)


def batch_form(ctx) -> None:
    o = lw.options("batch")
    feats = ctx.scope.features()
    picked = st.multiselect(
        "Latency-tolerant features (moved to the batch API)",
        feats,
        default=[f for f in o["features"] if f in feats],
        key="wi_lv_tolerant",
        help="Calls of these features go through the provider's batch endpoint at the sheet's batch prices; "
        "answers come back within 24 hours.",
    )
    where = st.text_input(
        "Or a rule (all clauses must hold)",
        value=o.get("where") or "",
        key="wi_lv_where",
        placeholder="hour=0-6; model=gpt-4o-mini",
        help="Clauses KEY=VALUE joined by ';': feature, model, operation or status (several values: "
        "model=a,b), and hour=A-B for calls started in those UTC hours (22-6 wraps midnight). "
        "With features picked, a call must be of one of them and match the rule.",
    ).strip()
    opts = lw.keep_options("batch", {"features": list(picked), "where": where or None})
    if not picked and not where:
        st.info(
            "Pick the features nobody waits for (reports, evaluations, back-fills), or write a rule such as "
            "`hour=0-6` for the night's traffic, to price them at batch rates."
        )
        return
    _finish(ctx, "batch", opts, "wi_lv_batch")


def caps_form(ctx) -> None:
    o = lw.options("caps")
    c = st.columns(2)
    q = c[0].slider(
        "Cap each feature at its quantile of output tokens", 0.5, 1.0, float(o["quantile"]), 0.01, key="wi_lv_q"
    )
    cap = c[1].number_input(
        "Or one max_tokens cap for every feature",
        min_value=1,
        max_value=1_000_000,
        value=o["cap_all"],
        step=64,
        key="wi_lv_cap",
        placeholder="blank: each feature's quantile",
    )
    opts = lw.keep_options("caps", {"quantile": float(q), "cap_all": None if cap is None else int(cap)})

    def chart(_ll) -> None:
        from llmledger.simulate.lever_lab import cap_grid

        grid = tuple(cap_grid(ctx.scope, opts["cap_all"]))
        st.plotly_chart(charts.cap_saving(lw.cap_sweep(*ctx.key, grid), opts["cap_all"]), key="wi_lv_caps_chart")
        st.caption(
            "One cap on every feature in scope at each point; the dotted line is the share of answers it would cut."
        )

    _finish(ctx, "caps", opts, "wi_lv_caps", then=chart)


FORMS = {
    "cache": ("Response cache", cache_form),
    "prompt-cache": ("Prompt caching", prompt_form),
    "agent-cache": ("Agent calls", agent_form),
    "memory": ("Memory", memory_form),
    "compress": ("Compression", compress_form),
    "batch": ("Batch API", batch_form),
    "caps": ("Output caps", caps_form),
}
