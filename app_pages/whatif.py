"""What-if: routers and cascades on per-query outcome data, reproductions of the published figures,
a policy applied to your own traffic, and the levers (caching, compression, memory, batching, caps)
on the calls the ledger holds; each can be saved as a scenario the Plan page shows."""

import streamlit as st

from llmledger.ui import levers_tab
from llmledger.ui import whatif_lab as lab
from llmledger.ui import whatif_widgets as wi
from llmledger.ui.common import page_setup, show_errors

page_setup("What-if", "🔀")
st.title("🔀 What-if: routers, cascades and levers")
st.caption(
    "What would the bill and the quality be if a feature tried the cheap model first, or sent only the hard "
    "queries to the strong one? The dataset lab measures quality and cost on per-query outcomes; Apply to "
    "traffic reprices your own calls under the policy; Levers replays your calls with caching, compression, "
    "memory trimming, batching or output caps. Every figure says what it rests on."
)

with show_errors():
    t_lab, t_rep, t_traffic, t_levers, t_scen = st.tabs(
        ["Dataset lab", "Reproductions", "Apply to traffic", "Levers", "Scenarios"], key="wi_tab", on_change="rerun"
    )  # only the open tab runs
    if t_lab.open:
        with t_lab:
            ds, ds_id = lab.dataset_picker()
            if ds is not None:
                summary = lab.dataset_summary(ds)
                lab.router_section(ds, ds_id, summary)
                lab.cascade_section(ds, ds_id, summary)
    if t_rep.open:
        with t_rep:
            lab.reproductions_section()
    if t_traffic.open:
        with t_traffic:
            wi.traffic_section()
    if t_levers.open:
        with t_levers:
            levers_tab.levers_section()
    if t_scen.open:
        with t_scen:
            wi.scenarios_section()
