"""Home: this month's spend and run rate, the top features, budgets near their limit, data
quality, and links to the pages. On an empty ledger it offers demo data, as Calls does."""

import streamlit as st

from llmledger.ui import call_reads, home_widgets, prices_widgets, sheet_widgets, widgets
from llmledger.ui.common import page_setup, show_errors

page_setup("Home", "🏠")
st.title("📒 LLM Ledger")
st.caption("What your LLM calls cost this month, where the money goes, and whether any budget is close to its limit.")

with show_errors():
    widgets.show_flash()
    if not call_reads.call_count():
        st.info(
            "No LLM calls yet. Point an OpenTelemetry exporter at the receiver (see the Ingest page), "
            "import trace files there, or generate ~90 days of clearly labelled demo traffic to explore."
        )
        if widgets.demo_generate("home"):
            st.rerun()
        home_widgets.links()
        st.stop()

    widgets.demo_banner(call_reads.call_count(True))
    o = home_widgets.overview()
    home_widgets.spend_kpis(o)
    st.caption(
        sheet_widgets.cost_rule_text(
            sheet_widgets.active_sheet(),
            o.mtd_calls - o.quality["unpriced"] - o.quality["reported_only"],
            o.quality["reported_only"],
            o.reported_only_usd,
            o.quality["unpriced"],
            "see Data quality below",
        )
    )
    left, right = st.columns([3, 2])
    left.vega_lite_chart(*home_widgets.daily_chart(o), width="stretch", height=320, key="home_daily")
    with right:
        if len(o.top_features):
            st.vega_lite_chart(
                *home_widgets.features_chart(o.top_features),
                width="stretch",
                height=home_widgets.chart_height(len(o.top_features)),
                key="home_features",
            )
        else:
            st.info("No calls this month yet.")
    home_widgets.budgets_section(o.as_of)
    home_widgets.quality_section(o)
    prices_widgets.route_note(sheet_widgets.active_sheet(), "home_routes")
    home_widgets.links()
