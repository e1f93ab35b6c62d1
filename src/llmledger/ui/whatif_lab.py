"""What-if page, the dataset lab: datasets (built-in or uploaded), router and cascade sections and
the reproductions. Streamlit only; the maths is
in llmledger.simulate, the charts in ui/whatif_charts.

Expensive results (datasets, trained routers, cascade searches) are cached with st.cache_data,
keyed by the dataset's id (a built-in key, or the upload's SHA-256 and sheet) and every option.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from llmledger.errors import LedgerError
from llmledger.ui import format as fmt
from llmledger.ui import sheet_widgets, vega
from llmledger.ui import whatif_charts as charts
from llmledger.ui.common import connection

UPLOAD = "Upload a CSV"
#: Up to this many queries with text, the router and the cascade scorer are trained on first view
#: (a few seconds); larger datasets start from random/oracle and train when asked.
LEARN_BY_DEFAULT, LEARN_MIN = 3000, 50
#: Session keys the dataset lab hands to "Apply to traffic".
ROUTER_FROM_LAB, CASCADE_FROM_LAB = "wi_lab_router", "wi_lab_cascade"
MONEY = {c: st.column_config.NumberColumn(format="$%.4f") for c in ("cost_usd", "cost_at_95")}


def error(exc: LedgerError) -> None:
    st.error(f"**{fmt.plain_markdown(exc.title)}**: {fmt.plain_markdown(exc.msg)}")


class _Bar:
    """A progress bar the simulate functions can drive: (done, total, what)."""

    def __init__(self, label: str):
        self.bar = st.progress(0.0, text=label)

    def __call__(self, done: int, total: int, what: str) -> None:
        self.bar.progress(min(done / max(total, 1), 1.0), text=f"{what}: {done} of {total}")

    def done(self) -> None:
        self.bar.empty()


# --------------------------------------------------------------------------- cached work


@st.cache_data(show_spinner="Loading the dataset…", max_entries=6)
def _builtin(key: str):
    from llmledger.simulate import load_builtin

    return load_builtin(key)


@st.cache_data(show_spinner="Reading the CSV…", max_entries=6)
def _uploaded(data: bytes, name: str, sheet: str):
    from llmledger.simulate import parse_long_csv

    return parse_long_csv(data, name=name, sheet=sheet, con=connection())


class _Results:
    """Trained routers and cascade searches, per process, keyed by the dataset's id and every
    option (least recently used dropped past `size`). Not st.cache_data: a progress bar drawn while
    they run would be replayed from the cache (Streamlit refuses that for a bar made outside)."""

    def __init__(self, size: int = 32):
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()
        self.size = size

    def get(self, key: tuple):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: tuple, value) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


@st.cache_resource(show_spinner=False)
def _results() -> _Results:
    return _Results()


def _cached(key: tuple, label: str, compute):
    """`compute(progress)` once per key, with a progress bar while it runs."""
    store = _results()
    hit = store.get(key)
    if hit is not None:
        return hit
    bar = _Bar(label)
    try:
        value = compute(bar)
    finally:
        bar.done()
    store.put(key, value)
    return value


def _router(ds_id: str, ds, strong: str, weak: str, source: str, seed: int = 0, folds: int = 5):
    from llmledger.simulate import router

    return _cached(
        ("router", ds_id, strong, weak, source, seed, folds),
        "Training the router (cross-validation folds)…" if source == "learned" else "Sweeping the router's thresholds…",
        lambda bar: router.route(ds, strong, weak, source=source, seed=seed, folds=folds, progress=bar),
    )


def _cascade(ds_id: str, ds, order: tuple, scorer: str, grid: int, folds: int = 5, seed: int = 0):
    from llmledger.simulate import cascade

    return _cached(
        ("cascade", ds_id, order, scorer, grid, folds, seed),
        "Searching cascade thresholds…",
        lambda bar: cascade.cascade(
            ds, list(order) or None, scorer=scorer, grid=grid, folds=folds, seed=seed, progress=bar
        ),
    )


# --------------------------------------------------------------------------- dataset lab


def dataset_picker():
    """Built-in examples or an uploaded long CSV; returns (dataset, id) or (None, None) after
    showing what is wrong."""
    from llmledger.simulate import builtin_datasets

    shipped = {b.key: b for b in builtin_datasets()}
    options = [*shipped, UPLOAD]
    pick = st.selectbox(
        "Outcome dataset",
        options,
        key="wi_dataset",
        format_func=lambda k: shipped[k].title if k in shipped else k,
        help="Per query: each model's correctness (or score) and its cost.",
    )
    try:
        if pick != UPLOAD:
            st.caption(fmt.plain_markdown(shipped[pick].description))
            return _builtin(pick), pick
        st.caption(
            "A long CSV, one row per query and model: `query_id`, `model`, `correct` (0/1) or `score` (0..1), "
            "and `cost_usd` or `input_tokens` + `output_tokens` (priced with the sheet below). Optional: "
            "`query` (text, to train a router), `latency_ms`, `router_<name>` (imported router scores)."
        )
        up = st.file_uploader("CSV file", type=["csv"], key="wi_upload")
        sheet = sheet_widgets.sheet_picker("wi_upload_sheet", "Price sheet for token columns (this browser session)")
        if up is None:
            st.info("Choose a CSV file to run the lab on it, or pick a built-in example above.")
            return None, None
        data = up.getvalue()
        return _uploaded(data, up.name, sheet), f"upload:{hashlib.sha256(data).hexdigest()}:{sheet}"
    except LedgerError as exc:
        error(exc)
        return None, None


def dataset_summary(ds) -> dict:
    from llmledger.simulate import metrics

    d = ds.describe()
    models = metrics.model_points(ds)
    oracle = metrics.oracle_point(ds)
    st.markdown(
        f"**{fmt.plain_markdown(d['name'])}**: {d['queries']:,} queries × {len(d['models'])} models. "
        f"Quality rests on *{fmt.plain_markdown(d['score_basis'])}*; cost on *{fmt.plain_markdown(d['cost_basis'])}*."
    )
    for n in d["notes"]:
        st.caption(fmt.plain_markdown(n))
    table = pd.DataFrame(
        [{"model": m, "accuracy": v["accuracy"], "cost_usd": v["cost_usd"]} for m, v in models.items()]
        + [
            {
                "model": "oracle (cheapest of the best per query)",
                "accuracy": oracle["accuracy"],
                "cost_usd": oracle["cost_usd"],
            }
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        key="wi_models_table",
        column_config={
            "model": st.column_config.TextColumn("Model"),
            "accuracy": st.column_config.NumberColumn("Accuracy", format="%.4f", help="Mean score over all queries"),
            "cost_usd": st.column_config.NumberColumn("Cost over the dataset", format="$%.4f"),
        },
    )
    st.caption("Measured on the dataset: accuracy is the mean score over all queries, cost the total over the dataset.")
    return {"models": models, "oracle": oracle}


def router_section(ds, ds_id: str, summary: dict) -> None:
    from llmledger.simulate import metrics, router

    st.subheader("Router: strong or weak model per query")
    strong0, weak0 = ds.default_pair()
    c = st.columns([2, 2, 2])
    strong = c[0].selectbox("Strong model", ds.models, index=ds.models.index(strong0), key=f"wi_strong_{ds_id}")
    weak_opts = [m for m in ds.models if m != strong]
    weak = c[1].selectbox(
        "Weak model", weak_opts, index=weak_opts.index(weak0) if weak0 in weak_opts else 0, key=f"wi_weak_{ds_id}"
    )
    sources = (
        ["random", "oracle"] + (["learned"] if ds.queries else []) + [f"imported:{k}" for k in sorted(ds.router_scores)]
    )
    small = bool(ds.queries) and LEARN_MIN <= ds.n_queries <= LEARN_BY_DEFAULT
    default = f"imported:{sorted(ds.router_scores)[0]}" if ds.router_scores else ("learned" if small else "random")
    source = c[2].selectbox(
        "Router scores",
        sources,
        index=sources.index(default),
        key=f"wi_source_{ds_id}",
        help="random: the baseline; oracle: knows each outcome (upper bound); learned: TF-IDF + logistic "
        "regression on the query text, 5-fold cross-validated; imported: scores that came with the data.",
    )
    try:
        curve = _router(ds_id, ds, strong, weak, source)
    except LedgerError as exc:
        error(exc)
        return
    share = st.slider("Chosen operating point: % of calls to the strong model", 0, 100, 50, key=f"wi_share_{ds_id}")
    chosen = curve.at_share(share / 100)
    rnd, orc = router.random_line(ds, strong, weak), router.oracle_line(ds, strong, weak)
    unit = ds.score_unit
    left, right = st.columns(2)
    vega.show(
        left,
        charts.router_vs_share(curve.points, rnd, orc, chosen, unit, "Quality against % of strong calls"),
        key="wi_router_share_chart",
    )
    vega.show(
        right,
        charts.quality_vs_cost(
            curve.points, summary["models"], summary["oracle"], chosen, unit, "Quality against cost", random=rnd
        ),
        key="wi_router_cost_chart",
    )
    strong_cost = summary["models"][strong]["cost_usd"]
    m = st.columns(4)
    m[0].metric("Quality at the chosen point", f"{chosen['accuracy']:.4f}", help="measured on the dataset")
    m[1].metric("Cost at the chosen point", fmt.usd(chosen["cost_usd"]), help="measured on the dataset (total)")
    m[2].metric(
        "Saved against the strong model",
        fmt.share(strong_cost - chosen["cost_usd"], strong_cost),
        help="measured on the dataset: 1 − cost at this point / the strong model's cost alone",
    )
    m[3].metric(
        "Strong calls",
        fmt.pct(chosen["strong_share"]),
        help="the share of queries this threshold sends to the strong model",
    )
    met = curve.metrics
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "metric": "CPT(50%)",
                    "value": met.get("cpt50"),
                    "meaning": "strong calls needed for half the quality gap",
                },
                {"metric": "CPT(80%)", "value": met.get("cpt80"), "meaning": "strong calls needed for 80% of the gap"},
                {"metric": "APGR", "value": met.get("apgr"), "meaning": "average performance gap recovered (area)"},
                {
                    "metric": "Cost saved at 95% of strong quality",
                    "value": met.get("cost_saved_at_95"),
                    "meaning": "1 − cost / strong model's cost, where quality first reaches 95% of the strong model's",
                },
            ]
        ),
        hide_index=True,
        key="wi_router_metrics",
        column_config={"value": st.column_config.NumberColumn(format="%.3f")},
    )
    st.caption("RouteLLM's definitions; " + "; ".join(fmt.plain_markdown(r) for r in curve.rests_on) + ".")
    with st.expander("Operating points (every 10% of strong calls)"):
        pts = pd.DataFrame([curve.at_share(x / 10) for x in range(11)])
        pts["pareto"] = metrics.pareto_mask(pts["cost_usd"].to_numpy(), pts["accuracy"].to_numpy())
        st.dataframe(pts, hide_index=True, key="wi_router_points", column_config=MONEY)
    if st.button("Use this share for Apply to traffic", key=f"wi_use_router_{ds_id}", icon=":material/call_split:"):
        st.session_state[ROUTER_FROM_LAB] = {
            "share_pct": round(chosen["strong_share"] * 100, 2),
            "source": f"measured on {ds.name} ({source} router, quality {chosen['accuracy']:.3f})",
        }
        st.toast("The router's share is ready in Apply to traffic.")


def cascade_section(ds, ds_id: str, summary: dict) -> None:
    from llmledger.simulate import cascade

    st.subheader("Cascade: cheap model first, escalate when unsure")
    cheap = cascade.cheapest_first(ds, ds.models)
    default = cheap if len(cheap) <= 3 else [cheap[0], cheap[len(cheap) // 2], cheap[-1]]
    c = st.columns([4, 1, 1])
    order = c[0].multiselect(
        "Tiers, in the order they are tried",
        ds.models,
        default=default,
        max_selections=4,
        key=f"wi_order_{ds_id}",
        help="Leave empty for FrugalGPT's search over every cheapest-first cascade of up to 3 models.",
    )
    scorers = ["oracle"] + (["learned"] if ds.queries else [])
    scorer = c[1].selectbox(
        "Scorer",
        scorers,
        index=scorers.index("learned") if "learned" in scorers and LEARN_MIN <= ds.n_queries <= LEARN_BY_DEFAULT else 0,
        key=f"wi_scorer_{ds_id}",
        help="oracle: accepts exactly the good answers (upper bound); learned: cross-validated",
    )
    grid = int(c[2].number_input("Grid", 5, 41, 21, step=2, key=f"wi_grid_{ds_id}", help="thresholds tried per tier"))
    if len(order) == 1:
        st.info("Pick at least two tiers (or none, for the search over orders).")
        return
    try:
        fr = _cascade(ds_id, ds, tuple(order), scorer, grid)
    except LedgerError as exc:
        error(exc)
        return
    front = fr.frontier
    labels = [f"{r.order} · quality {r.accuracy:.4f} · {fmt.usd(r.cost_usd)}" for r in front.itertuples()]
    mid = int(np.argmin(np.abs(front["accuracy"] - 0.97 * front["accuracy"].max()))) if len(front) else 0
    i = st.selectbox(
        "Chosen operating point (on the frontier)",
        range(len(front)),
        index=mid,
        format_func=lambda j: labels[j],
        key=f"wi_cpoint_{ds_id}",
    )
    row = front.iloc[i]
    chosen = {"accuracy": float(row["accuracy"]), "cost_usd": float(row["cost_usd"])}
    vega.show(
        st,
        charts.quality_vs_cost(
            fr.points,
            summary["models"],
            summary["oracle"],
            chosen,
            ds.score_unit,
            "Cascade: quality against cost",
            curve_name="cascade thresholds",
        ),
        key="wi_cascade_chart",
    )
    tiers = row["order"].split(" > ")
    st.markdown(
        "At this point: "
        + ", ".join(f"**{fmt.plain_markdown(m)}** answers {fmt.pct(s)}" for m, s in zip(tiers, row["accept_shares"]))
        + (f"; mean latency {fmt.ms(row['latency_ms'])}" if pd.notna(row["latency_ms"]) else "")
        + "."
    )
    st.caption("Measured on the dataset; " + "; ".join(fmt.plain_markdown(r) for r in fr.rests_on) + ".")
    with st.expander(f"Frontier points ({len(front)})"):
        st.dataframe(front.drop(columns=["pareto"]), hide_index=True, key="wi_cascade_points", column_config=MONEY)
    if len(tiers) >= 2 and st.button(
        "Use these acceptance rates for Apply to traffic", key=f"wi_use_cascade_{ds_id}", icon=":material/stairs:"
    ):
        st.session_state[CASCADE_FROM_LAB] = {
            "tiers": tiers,
            "shares": list(row["accept_shares"]),
            "queries": fr.queries,
            "dataset": ds.name,
        }
        st.toast("The cascade's acceptance rates are ready in Apply to traffic.")


def reproductions_section() -> None:
    st.caption(
        "Published figures next to what this lab computes from the same data, and why they differ where they do."
    )
    with st.status("Reproducing the published figures (training routers and cascades)…", expanded=False) as status:
        reps = _reproductions()
        status.update(label=f"{len(reps)} reproductions", state="complete")
    headlines = pd.DataFrame(
        [
            {
                "benchmark": r["name"].removeprefix("RouteLLM headline on "),
                "published (RouteLLM)": r["raw_published"].get("cost_saved_at_95"),
                "this lab's router": r["raw_ours"].get("cost_saved_at_95"),
                "oracle": r["raw_ours"].get("oracle_cost_saved_at_95"),
                "random": r["raw_ours"].get("random_cost_saved_at_95"),
            }
            for r in reps
            if r["name"].startswith("RouteLLM headline")
        ]
    )
    if not headlines.empty:
        vega.show(st, charts.headline_bars(headlines), key="wi_rep_headlines")
    for r in reps:
        with st.container(border=True):
            verdict = {True: " · matches", False: " · differs (see why below)"}.get(r["matches"], "")
            st.markdown(f"**{fmt.plain_markdown(r['name'])}**{verdict}")
            if r["citation"]:
                st.caption(fmt.plain_markdown(r["citation"]))
            st.dataframe(pd.DataFrame(r["rows"]), hide_index=True, key=f"wi_rep_{r['name']}")
            if r["explanation"]:
                st.markdown(fmt.plain_markdown(r["explanation"]))
            st.caption("Ours rests on: " + fmt.plain_markdown(r["rests_on"]))


_PERCENT = ("share", "saved", "gain", "apgr", "cpt")


def _figure(key: str, v) -> str:
    """A reproduction's figure as people read it: shares as %, money in $, scores to 4 digits."""
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if any(w in key for w in _PERCENT):
        return f"{v:.1%}"
    if "cost" in key:
        return f"${v:.4g}"
    return f"{v:.4g}" if isinstance(v, float) else f"{v:,}"


@st.cache_data(show_spinner=False, max_entries=2)
def _reproductions() -> list[dict[str, Any]]:
    from llmledger.simulate import reproduce

    out = []
    for r in reproduce.all_reproductions():
        d = r.as_dict()
        rows = [
            {
                "figure": k.replace("_", " "),
                "published": _figure(k, d["published"].get(k)),
                "ours": _figure(k, d["ours"].get(k)),
            }
            for k in dict.fromkeys([*d["published"], *d["ours"]])
        ]
        rests = d.get("rests_on")
        out.append(
            {
                "name": d["name"],
                "rows": rows,
                "raw_published": d["published"],
                "raw_ours": d["ours"],
                "explanation": d.get("explanation", ""),
                "citation": d.get("citation", ""),
                "matches": d.get("matches"),
                "rests_on": "; ".join(rests) if isinstance(rests, list) else str(rests or ""),
            }
        )
    return out
