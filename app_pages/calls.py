"""Calls: every model call over time, by any dimension; top traces with a waterfall; data quality."""

import streamlit as st

from llmledger.reads.buckets import bucket_for
from llmledger.reads.calls import TRACE_RANKS
from llmledger.reads.filters import DIMENSIONS
from llmledger.ui import call_messages, call_reads, charts, prices_widgets, sheet_widgets, vega, widgets
from llmledger.ui.common import page_setup, show_errors

page_setup("Calls", "📞")
st.title("Calls")
st.caption(
    "Every model call in your traces: volume, tokens, cost and latency by feature, team, user, "
    "service, environment, model, provider and instrumentation convention."
)


@st.fragment
def over_time_tab(f, bounds, cost: bool) -> None:
    """The first tab, a fragment: a group-by change reruns only this (two cached reads and the
    four charts), not the page's totals and other tabs."""
    with show_errors():  # a fragment rerun runs only this function
        group = st.segmented_control(
            "Group by",
            list(DIMENSIONS),
            format_func=widgets.DIM_TITLES.get,
            default="feature",
            required=True,
            key="calls_group_by",
        )
        title = widgets.DIM_TITLES[group].lower()
        bucket = bucket_for(f.start or bounds[0], f.end or bounds[1])
        series = call_reads.timeseries(f, group, bucket, 8, cost)
        left, right = st.columns(2)
        figures = [
            (left, "calls", f"Calls per {bucket}", "calls_fig_calls"),
            (right, "tokens", f"Tokens per {bucket}", "calls_fig_tokens"),
            (left, "p95_ms", f"p95 latency per {bucket} (ms)", "calls_fig_latency"),
            (right, "cost_usd", f"Cost per {bucket} (USD)", "calls_fig_cost"),
        ]
        for column, metric, chart_title, key in figures:
            vega.show(column, charts.over_time(series, metric, title, chart_title, bucket), key=key)
        table = call_reads.breakdown(f, group, 200, cost)
        st.dataframe(
            table,
            hide_index=True,
            column_config=widgets.breakdown_columns(widgets.DIM_TITLES[group]),
            key="calls_breakdown",
        )


def top_traces_tab(f) -> None:
    by = st.radio(
        "Rank traces by",
        list(TRACE_RANKS),
        horizontal=True,
        key="calls_rank_by",
        format_func={"tokens": "Tokens", "cost": "Cost", "latency": "LLM latency"}.get,
    )
    top = call_reads.top_traces(f, by)
    st.dataframe(
        top,
        hide_index=True,
        column_config=widgets.TRACE_COLUMNS,
        column_order=widgets.trace_column_order(by),
        key="calls_top_traces",
    )
    if not top.empty:
        labels = {r.trace_id: widgets.trace_label(r) for _, r in top.iterrows()}
        # A new ranking (or filter) opens its own top trace, not the one picked under the last.
        if st.session_state.get("calls_trace") not in labels or st.session_state.get("_calls_trace_by") != by:
            st.session_state["calls_trace"] = next(iter(labels))
        st.session_state["_calls_trace_by"] = by
        trace_id = st.selectbox("Drill into a trace", list(labels), format_func=labels.get, key="calls_trace")
        spans = call_reads.trace_spans(trace_id)
        st.plotly_chart(charts.waterfall(spans, f"Trace {trace_id}"), key="calls_fig_waterfall")
        st.caption("◆ orange bars are model calls (hover for model and tokens); red bars ended in error.")
        call_messages.drilldown(trace_id)  # the selected call's messages, tools and token source


def quality_tab(f, cost: bool) -> None:
    dq = call_reads.data_quality(f, cost)
    widgets.quality_metrics(dq)
    st.dataframe(dq, hide_index=True, column_config=widgets.QUALITY_COLUMNS, key="calls_quality")
    if cost:
        st.subheader("Models without a price")
        st.caption("Calls that report tokens but have no cost under the active price sheet.")
        st.dataframe(
            call_reads.unpriced_models(f),
            hide_index=True,
            key="calls_unpriced",
            column_config=widgets.UNPRICED_COLUMNS,
        )
        prices_widgets.route_note(sheet_widgets.active_sheet(), "calls_routes")  # priced via a cloud/reseller


with show_errors():
    widgets.show_flash()
    if not call_reads.call_count():
        st.info(
            "No LLM calls yet. Point an OpenTelemetry exporter at the receiver (see the Ingest page), "
            "import trace files there, or generate ~90 days of clearly labelled demo traffic to explore."
        )
        if widgets.demo_generate("calls"):
            st.rerun()
        st.stop()

    widgets.demo_banner(call_reads.call_count(True))
    bounds = call_reads.date_bounds()
    f = widgets.call_filters(call_reads.dimension_values(), bounds, key="calls")
    cost = widgets.cost_toggle(call_reads.call_count(), key="calls_with_cost")
    widgets.kpis(call_reads.summary(f, cost))

    # Only the open tab runs (and draws): a closed tab costs no query and no figure.
    tab_time, tab_traces, tab_quality = st.tabs(
        ["Over time", "Top traces", "Data quality"], key="calls_tab", on_change="rerun"
    )
    if tab_time.open:
        with tab_time:
            over_time_tab(f, bounds, cost)
    if tab_traces.open:
        with tab_traces:
            top_traces_tab(f)
    if tab_quality.open:
        with tab_quality:
            quality_tab(f, cost)
