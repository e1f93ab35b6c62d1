"""Reprice: what would a period have cost under another sheet, another model for a feature or model,
or a discount? Repricing is a query over the same calls, never a rewrite."""

import streamlit as st

from llmledger.reads.filters import UNATTRIBUTED, period_bounds
from llmledger.ui import call_reads, money_charts, prices_widgets, reprice_widgets, sheet_widgets, vega, widgets
from llmledger.ui import format as fmt
from llmledger.ui.common import page_setup, show_errors

page_setup("Reprice", "🔁")
st.title("🔁 Reprice")
st.caption(
    "Actual cost is each call's cost under your price sheet (sidebar), the figure the Spend page shows; "
    "the repriced cost applies the scenario to the same calls. Nothing is rewritten, so you can try as "
    "many scenarios as you like."
)

GROUPS = {"feature": "Feature", "request_model": "Model", "team": "Team", "provider": "Provider", "service": "Service"}

with show_errors():
    if not call_reads.call_count():
        st.info("No LLM calls yet to reprice. Import traces on the Ingest page or generate demo traffic.")
        if widgets.demo_generate("reprice"):
            st.rerun()
        st.stop()
    widgets.demo_banner(call_reads.call_count(True))
    bounds = call_reads.date_bounds()
    dims = call_reads.dimension_values()
    names = sheet_widgets.sheet_names()

    with st.sidebar:
        active = sheet_widgets.sheet_picker("reprice_view_sheet", "Actual cost under (this browser session)")
    # The dates Calls and Spend use (one choice per session, kept in the URL).
    picked = widgets.call_filters({}, bounds, key="reprice", dimensions=False)
    start, end = picked.start, picked.end
    period = period_bounds(start, end)

    st.subheader("Scenario")
    c1, c2, c3 = st.columns([2, 2, 1])
    sheet = c1.selectbox(
        "Price sheet",
        names,
        index=names.index(active) if active in names else 0,
        key="reprice_sheet",
        help=f"Actual cost uses your sheet, {active} (sidebar).",
    )
    discount = c3.number_input(
        "Discount %",
        value=0.0,
        step=5.0,
        key="reprice_discount",
        help="Taken off the repriced cost (e.g. a negotiated rate)",
    )
    kind = c2.radio("Swap the model of", ["nothing", "a feature", "a model"], horizontal=True, key="reprice_swap_kind")
    swap, swap_kind, swap_key = (), None, None
    if kind != "nothing":
        s1, s2 = st.columns(2)
        swap_kind = "feature" if kind == "a feature" else "model"
        options = [v for v in dims[swap_kind] if v != UNATTRIBUTED]
        swap_key = s1.selectbox(f"Which {swap_kind}", options, key="reprice_swap_key")
        targets = sheet_widgets.model_options(sheet)
        target = s2.selectbox(
            "Target model",
            targets,
            accept_new_options=True,
            key="reprice_swap_target",
            index=targets.index("gpt-4o-mini") if "gpt-4o-mini" in targets else 0,
        )
        if swap_key and target:
            swap = ((f"{swap_kind}:{swap_key}", target),)
    group = st.segmented_control(
        "Compare by", list(GROUPS), format_func=GROUPS.get, default="feature", required=True, key="reprice_group"
    )

    raw = reprice_widgets.reprice(sheet, swap, float(discount), period, group)
    table = reprice_widgets.reprice_frame(raw, group)
    actual, repriced = float(raw.attrs["total_baseline_usd"]), float(raw.attrs["total_scenario_usd"])
    m1, m2, m3 = st.columns(3)
    m1.metric(
        f"Actual ({active})", fmt.usd(actual), help="Actual cost: computed, else reported; unpriced calls left out"
    )
    m2.metric("Repriced", fmt.usd(repriced), help="The same rule under the scenario")
    m3.metric(
        "Delta",
        fmt.signed_usd(repriced - actual),
        delta=fmt.share(repriced - actual, actual) if actual else None,
        delta_color="inverse",
    )
    scenario = [f"sheet **{fmt.plain_markdown(sheet)}**"] + ([f"{discount:g}% off"] if discount else [])
    if swap:
        counts = reprice_widgets.swap_mapping_counts(swap_kind, swap_key, period)
        scenario.append(f"{swap_kind} **{fmt.plain_markdown(swap_key)}** → **{fmt.plain_markdown(swap[0][1])}**")
        st.info(
            f"Token mapping for the swapped calls: **{fmt.count(counts['by_tokenizer'])}** re-counted with "
            f"{fmt.plain_markdown(swap[0][1])}'s tokenizer (their text was captured), "
            f"**{fmt.count(counts['token_for_token'])}** token-for-token (no text captured: the original counts carry over, an estimate)."
        )
    st.caption(
        f"{start:%Y-%m-%d} to {end:%Y-%m-%d} (UTC) · scenario: {', '.join(scenario)} · "
        f"{fmt.count(raw.attrs['total_unpriced_scenario'])} calls the scenario cannot price and "
        f"{fmt.count(raw.attrs['total_unpriced_baseline'])} with no known actual cost are left out of "
        "the totals."
    )
    st.caption(
        sheet_widgets.cost_rule_text(
            active,
            raw.attrs["total_computed_baseline"],
            raw.attrs["total_reported_only_baseline"],
            float(raw.attrs["total_reported_only_usd_baseline"]),
            raw.attrs["total_unpriced_baseline"],
            "see the Unpriced (actual) column",
        )
    )
    left, right = st.columns(2)
    vega.show(left, money_charts.actual_vs_repriced(table, GROUPS[group].lower()), key="reprice_fig_bars")
    vega.show(right, money_charts.delta_bars(table, GROUPS[group].lower()), key="reprice_fig_delta")
    st.dataframe(
        table,
        hide_index=True,
        key="reprice_table",
        column_config=dict(reprice_widgets.REPRICE_COLUMNS, grp=st.column_config.TextColumn(GROUPS[group])),
    )
    prices_widgets.route_note(sheet, "reprice_routes")  # models the scenario prices via a cloud or reseller
