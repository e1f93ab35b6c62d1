"""What-if page, levers: the semantic cache's form. It talks to simulate/levers/semantic.py (built
separately) only through its public functions: semantic_cache(calls, threshold, ttl_s, progress=)
-> LeverResult, sweep_frame(result) -> the threshold sweep, embedding.available(). Embedding runs
a local model, so it runs on a button, with a progress bar, never on page load.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from llmledger.errors import LedgerError
from llmledger.ui import format as fmt
from llmledger.ui import levers_charts as charts
from llmledger.ui import levers_widgets as lw
from llmledger.ui.whatif_lab import _Bar, error

DEFAULTS = {"threshold": 0.9, "ttl_s": 3600.0}


def usable() -> tuple[bool, str]:
    """Whether the semantic cache engine and its embedding model are here (and why not)."""
    try:
        from llmledger.simulate.levers import embedding, semantic
    except ImportError as exc:
        return False, f"the semantic-cache engine does not import: {exc}"
    if not (hasattr(semantic, "semantic_cache") and hasattr(semantic, "sweep_frame")):
        return False, "the semantic-cache engine lacks semantic_cache() or sweep_frame()"
    return embedding.available()


def _run(ctx, opts: dict, bar):
    from llmledger.simulate import lever_lab
    from llmledger.simulate.levers import semantic

    r = semantic.semantic_cache(ctx.scope.calls, threshold=opts["threshold"], ttl_s=opts["ttl_s"], progress=bar)
    return lever_lab.wrap(ctx.scope, r), semantic.sweep_frame(r)


def semantic_form(ctx) -> None:
    from llmledger.simulate.lever_lab import TTLS

    ok, why = usable()
    if not ok:
        st.info(f"The semantic cache is not available here: {fmt.plain_markdown(why)}.")
        return
    saved = st.session_state.setdefault(lw.OPTIONS_KEY, {}).get("semantic", {})
    o = {**DEFAULTS, **saved}
    c = st.columns([2, 1, 1])
    thr = c[0].slider("Similarity threshold (cosine)", 0.80, 1.0, float(o["threshold"]), 0.01, key="wi_lv_sem_thr")
    ttl = c[1].selectbox(
        "Entry lives (TTL)",
        list(TTLS),
        index=list(TTLS).index(float(o["ttl_s"])) if float(o["ttl_s"]) in TTLS else 3,
        format_func=lambda s: _ttl_words(s),
        key="wi_lv_sem_ttl",
    )
    opts = lw.keep_options("semantic", {"threshold": float(thr), "ttl_s": float(ttl)})
    st.caption(
        "Each distinct captured prompt is embedded on this machine (a small sentence-embedding model), so the "
        "semantic cache runs only when you ask. The sweep shows every threshold from the same run."
    )
    with c[2]:
        st.write("")
        go = st.button("Run semantic cache", key="wi_lv_sem_run", icon=":material/hub:", type="primary")
    store = st.session_state.setdefault("wi_lv_semantic", {})
    sc = ctx.scope
    rkey = hashlib.sha256(repr((ctx.key, opts, len(sc.calls), str(sc.lc.end))).encode()).hexdigest()
    if go:
        bar = _Bar("Loading the embedding model…")
        try:
            store[rkey] = _run(ctx, opts, bar)
        except LedgerError as exc:
            error(exc)
            return
        finally:
            bar.done()
    if rkey not in store:
        st.info("Not run yet for these options: press Run semantic cache.")
        return
    ll, sweep = store[rkey]
    lw.show_result(ll, "wi_lv_sem")
    risk = "false_hit_rate" if "false_hit_rate" in sweep.columns else "pair_risk"
    st.plotly_chart(
        charts.threshold_sweep(sweep.astype({risk: float}), "threshold", "hit_rate", risk, chosen=thr),
        key="wi_lv_sem_chart",
    )
    st.caption(
        "Hit rate: share of calls with text answered from the cache. False-hit risk: of the hits whose answers "
        "were both captured, the share whose matched prompt was answered differently in the ledger (an estimate: "
        "a different answer is not always a wrong one). At 1.0 only identical prompts hit."
    )
    lw.save_form(ll, opts, "wi_lv_sem")


def _ttl_words(s: float) -> str:
    from llmledger.simulate.levers.response import _ttl_words as words

    return words(float(s))
