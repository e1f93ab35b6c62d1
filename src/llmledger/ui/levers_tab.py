"""What-if page, the Levers tab: the ledger's filters (feature, days, sheet), what the content
policy leaves the levers, the savings of levers in sequence (waterfall), and one tab per lever
(ui/levers_forms.py). Only the open lever tab runs; compression only on its button.
"""

from __future__ import annotations

import importlib.util

import pandas as pd
import streamlit as st

from llmledger.errors import LedgerError
from llmledger.ui import format as fmt
from llmledger.ui import levers_charts as charts
from llmledger.ui import levers_forms as forms
from llmledger.ui import levers_widgets as lw
from llmledger.ui import sheet_widgets
from llmledger.ui.common import connection
from llmledger.ui.whatif_lab import error

SUMMARY = "Savings in sequence"
SEMANTIC_MODULE = "llmledger.simulate.levers.semantic"


@st.cache_data(show_spinner=False, ttl=60, max_entries=8)
def _features(db: str) -> list[str]:
    from llmledger.reads import whatif

    return whatif.known_features(connection(), limit=None)


def semantic_available() -> bool:
    """Whether the semantic-cache engine (built separately) is installed."""
    try:
        return importlib.util.find_spec(SEMANTIC_MODULE) is not None
    except (ImportError, ValueError):
        return False


def form_table() -> dict:
    table = dict(forms.FORMS)
    if semantic_available():
        from llmledger.ui import levers_semantic

        table["semantic"] = ("Semantic cache", levers_semantic.semantic_form)
    return table


def filters() -> lw.Ctx | None:
    db = lw.db()
    feats = _features(db)
    if not feats:
        st.info("No feature has calls yet: ingest telemetry (or demo data on the Ingest page) to try a lever on it.")
        return None
    c = st.columns([3, 1, 2])
    feature = c[0].selectbox("Feature", [lw.EVERY, *feats], key="wi_lv_feature")
    days = int(
        c[1].number_input("Days", 1, 3660, 30, key="wi_lv_days", help="the last N days, up to the latest call in scope")
    )
    with c[2]:
        sheet = sheet_widgets.sheet_picker("wi_lv_sheet")
    feature = None if feature == lw.EVERY else feature
    try:
        sc = lw.scope(db, feature, days, sheet)
    except LedgerError as exc:
        error(exc)
        return None
    return lw.Ctx(db=db, feature=feature, days=days, sheet=sheet, scope=sc)


def content_section(ctx: lw.Ctx) -> pd.DataFrame:
    """What the content policy and the captured content leave each lever."""
    from llmledger.simulate import lever_lab

    sc = ctx.scope
    avail = lever_lab.availability(sc)
    if not semantic_available():
        avail = avail[avail["lever"] != lever_lab.LABELS["semantic"]]
    said = lever_lab.policy_summary(sc.policy)
    if said:
        st.warning(fmt.plain_markdown(said))
    lc = sc.lc
    st.caption(
        f"{fmt.count(len(lc.calls))} calls from {str(lc.start)[:10]} to {str(lc.end)[:10]} under sheet "
        f"{fmt.plain_markdown(lc.sheet)}: {fmt.count(lc.with_text)} with captured text, "
        f"{fmt.count(lc.with_digest)} with message digests. Content policy in force: **{sc.policy}**."
    )
    with st.expander("Which levers can run on these calls", expanded=bool(said) or not avail["works"].all()):
        st.dataframe(
            avail.assign(works=avail["works"].map({True: "yes", False: "no"})),
            hide_index=True,
            key="wi_lv_avail",
            width="stretch",
        )
    return avail


def summary_section(ctx: lw.Ctx) -> None:
    """Levers one after another on what the previous left (no saving counted twice): a waterfall
    of the monthly cost and each top feature's saving by lever."""
    from llmledger.simulate.lever_lab import LABELS
    from llmledger.simulate.levers.ledger import SUMMARY_STEPS

    tolerant = lw.options("batch")["features"]
    default = [s for s in SUMMARY_STEPS if s != "batch" or tolerant]
    c = st.columns([4, 1])
    steps = c[0].multiselect(
        "Levers, in the order applied",
        list(SUMMARY_STEPS),
        default=default,
        format_func=lambda s: LABELS.get(s, s),
        key="wi_lv_steps",
        help="Each lever runs on what the ones before it left: calls a cache answered are gone, trimmed inputs "
        "stay trimmed. Each uses the options set on its own tab. Compression runs a local model and is left out.",
    )
    top = int(c[1].number_input("Top features", 1, 20, 5, key="wi_lv_top"))
    if not steps:
        st.info("Pick at least one lever.")
        return
    opts = {s: lw.options(s) for s in steps}
    try:
        wf = lw.waterfall(*ctx.key, tuple(steps), lw._freeze({s: lw._freeze(o) for s, o in opts.items()}), opts, top)
    except LedgerError as exc:
        error(exc)
        return
    m = st.columns(3)
    m[0].metric("Monthly cost today", fmt.usd(wf["monthly_baseline_usd"]))
    m[1].metric(
        "Monthly cost after the levers (estimate)",
        fmt.usd(wf["monthly_final_usd"]),
        delta=lw._delta(wf["monthly_final_usd"] - wf["monthly_baseline_usd"]),
        delta_color="inverse",
    )
    m[2].metric("Monthly saving (estimate)", fmt.signed_usd(wf["monthly_baseline_usd"] - wf["monthly_final_usd"]))
    left, right = st.columns(2)
    left.plotly_chart(charts.savings_waterfall(wf["total"], wf["monthly_baseline_usd"], LABELS), key="wi_lv_wf")
    right.plotly_chart(charts.savings_by_feature(wf["by_feature"], LABELS), key="wi_lv_wf_feat")
    st.dataframe(
        wf["total"].assign(lever=wf["total"]["lever"].map(lambda s: LABELS.get(s, s))),
        hide_index=True,
        key="wi_lv_wf_table",
        column_config={
            c: st.column_config.NumberColumn(format="$%.4f")
            for c in ("saving_usd", "monthly_saving_usd", "cost_after_usd")
        },
    )
    notes = [
        "Each feature's bar runs the levers on that feature's calls alone; prompt caching shares its cache across "
        "features, so the bars need not add up to the waterfall.",
    ]
    if "batch" in steps and not tolerant:
        notes.append("No latency-tolerant feature picked on the Batch API tab: batch moves every call in scope.")
    for n in notes:
        st.caption(n)


def levers_section() -> None:
    ctx = filters()
    if ctx is None:
        return
    avail = content_section(ctx)
    table = form_table()
    titles = [SUMMARY, *[t for t, _ in table.values()]]
    tabs = st.tabs(titles, key="wi_lv_tab", on_change="rerun")
    from llmledger.simulate.lever_lab import LABELS, NEEDS

    if tabs[0].open:
        with tabs[0]:
            summary_section(ctx)
    for tab, (lever, (_, form)) in zip(tabs[1:], table.items()):
        if not tab.open:
            continue
        with tab:
            row = avail[avail["lever"] == LABELS[lever]]
            if NEEDS[lever] != "tokens" and len(row) and not bool(row["works"].iloc[0]):
                st.warning(f"{LABELS[lever]} cannot run here: {fmt.plain_markdown(row['why'].iloc[0])}.")
                continue
            form(ctx)
