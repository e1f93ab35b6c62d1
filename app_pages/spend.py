"""Spend: where the money went, month to date with a run-rate projection, and exports."""

import streamlit as st

from llmledger.reads.buckets import bucket_for
from llmledger.reads.spend import SPEND_DIMENSIONS
from llmledger.ui import call_reads, money_charts, sheet_widgets, spend_widgets, vega, widgets
from llmledger.ui import format as fmt
from llmledger.ui.common import page_setup, show_errors

page_setup("Spend", "💸")
st.title("💸 Spend")
st.caption(
    "What the calls cost under your price sheet (sidebar; yours alone, for this browser session): over "
    "time and by feature, team, user, model, provider and service. Cost is computed at query time, so "
    "switching the sheet reprices all history."
)


@st.fragment
def over_time_tab(sheet: str, f, bounds) -> None:
    """The first tab, a fragment: a group-by, top-N or chart-kind change reruns only this (two
    cached reads and two figures), not the page's totals and other tabs."""
    with show_errors():  # a fragment rerun runs only this function
        c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
        group = c1.segmented_control(
            "Break down by",
            list(SPEND_DIMENSIONS),
            format_func=widgets.DIM_TITLES.get,
            default="feature",
            required=True,
            key="spend_group_by",
        )
        top_n = c2.number_input("Top N (rest is “(other)”)", min_value=1, max_value=50, value=8, key="spend_top_n")
        kind = c3.radio("Chart", ["area", "bar"], horizontal=True, key="spend_chart_kind")
        label = widgets.DIM_TITLES[group].lower()
        bucket = bucket_for(f.start or bounds[0], f.end or bounds[1])
        series = spend_widgets.series(sheet, f, group, bucket, int(top_n))
        vega.show(st, money_charts.spend_over_time(series, label, kind, bucket), key="spend_fig_time")
        table = spend_widgets.breakdown(sheet, f, group, int(top_n))
        left, right = st.columns([2, 3])
        vega.show(left, money_charts.spend_by(table, label), key="spend_fig_by")
        right.dataframe(
            table,
            hide_index=True,
            key="spend_breakdown",
            column_config=spend_widgets.breakdown_columns(widgets.DIM_TITLES[group]),
        )
        st.caption(f"Per {bucket}. Cost per successful call = cost of successful priced calls ÷ their number.")


with show_errors():
    widgets.show_flash()
    active = sheet_widgets.active_sheet()  # once per run: each read below takes `sheet`
    with st.sidebar:
        sheet = sheet_widgets.sheet_picker("spend_sheet", active=active)
        sheet_widgets.make_active_control(sheet, "spend_make_active", active=active)
    if not call_reads.call_count():
        st.info(
            "No LLM calls yet. Send traces to the receiver or import files on the Ingest page, "
            "or generate clearly labelled demo traffic to explore."
        )
        if widgets.demo_generate("spend"):
            st.rerun()
        st.stop()

    spend_widgets.ensure_priced(sheet)
    widgets.demo_banner(call_reads.call_count(True))
    bounds = call_reads.date_bounds()
    f = widgets.call_filters(call_reads.dimension_values(), bounds, key="spend")
    totals = spend_widgets.totals(sheet, f)
    as_of = spend_widgets.default_as_of(sheet)
    run = spend_widgets.month_to_date(sheet, f, as_of)
    spend_widgets.spend_kpis(totals, run)
    st.caption(
        sheet_widgets.cost_rule_text(
            sheet,
            totals["computed_calls"],
            totals["reported_only_calls"],
            totals["reported_only_usd"],
            totals["unpriced_calls"],
        )
    )
    st.caption(f"Sheet `{sheet}`. {run.method}")

    # Only the open tab runs (and draws): a closed tab costs no query and no figure.
    tab_time, tab_top, tab_reported, tab_unpriced, tab_export = st.tabs(
        ["Over time & breakdown", "Most expensive", "Reported vs computed", "Unknown prices", "Export"],
        key="spend_tab",
        on_change="rerun",
    )

    if tab_time.open:
        with tab_time:
            over_time_tab(sheet, f, bounds)

    if tab_top.open:
        with tab_top:
            st.subheader("Most expensive traces")
            st.dataframe(
                spend_widgets.top_traces(sheet, f),
                hide_index=True,
                key="spend_top_traces",
                column_config=spend_widgets.TRACE_COLUMNS,
                column_order=spend_widgets.TRACE_ORDER,
            )
            st.subheader("Most expensive calls")
            st.dataframe(
                spend_widgets.top_calls(sheet, f),
                hide_index=True,
                key="spend_top_calls",
                column_config=spend_widgets.CALL_COLUMNS,
            )

    if tab_reported.open:
        with tab_reported:
            rep, counts = spend_widgets.reported_vs_computed(sheet, f)
            if counts["compared_calls"]:
                diff = rep["difference_usd"].sum()
                st.metric("Computed − reported", fmt.signed_usd(diff), help="Over calls that carry both costs")
                vega.show(st, money_charts.reported_vs_computed(rep), key="spend_fig_reported")
                st.dataframe(rep, hide_index=True, key="spend_reported", column_config=spend_widgets.REPORTED_COLUMNS)
            st.caption(
                f"{fmt.count(counts['compared_calls'])} calls carry both a cost reported by their "
                f"instrumentation and one computed from `{sheet}`; for {fmt.count(counts['reported_only_calls'])} "
                f"the sheet cannot price, the reported cost ({fmt.usd(counts['reported_only_usd'])}) is their "
                "actual cost."
            )

    if tab_unpriced.open:
        with tab_unpriced:
            unpriced = spend_widgets.unpriced_calls(sheet, f)
            if unpriced.empty:
                st.success(f"Every call has a cost under `{sheet}`, computed or reported.")
            else:
                st.warning(
                    f"{fmt.count(unpriced['calls'].sum())} calls have no known cost under `{sheet}`: no price "
                    "for their model (or no token usage to price) and no reported cost. They are left out of "
                    "every total above (never counted as $0). Import a sheet that prices them, or choose "
                    "another sheet."
                )
                st.dataframe(
                    unpriced, hide_index=True, key="spend_unpriced", column_config=spend_widgets.UNPRICED_COLUMNS
                )

    if tab_export.open:
        with tab_export:
            n = spend_widgets.export_count(sheet, f)
            st.write(f"{fmt.count(n)} calls match the filters (the `llm_calls` columns, cost under `{sheet}`).")
            d1, d2 = st.columns(2)
            d1.download_button(
                "Download CSV",
                lambda: spend_widgets.export_csv(sheet, f),
                file_name="llm_calls.csv",
                mime="text/csv",
                key="spend_export_csv",
                disabled=not n,
                on_click="ignore",
            )
            d2.download_button(
                "Download Parquet",
                lambda: spend_widgets.export_parquet(sheet, f),
                file_name="llm_calls.parquet",
                mime="application/vnd.apache.parquet",
                key="spend_export_parquet",
                disabled=not n,
                on_click="ignore",
            )
