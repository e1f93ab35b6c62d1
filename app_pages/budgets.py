"""Budgets: every budget's spend against its amount with the forecast to period end, the alerts
inbox, budget editing, notification deliveries and the review export."""

import streamlit as st

from llmledger.pricing.engine import ACTUAL_COST_RULE
from llmledger.ui import budget_monitors, budget_widgets, widgets
from llmledger.ui import format as fmt
from llmledger.ui.common import page_setup, show_errors

page_setup("Budgets", "🎯")
st.title("🎯 Budgets and alerts")
st.caption(
    fmt.plain_markdown(
        f"{ACTUAL_COST_RULE} Budgets always use the active price sheet, never a viewer's choice. "
        "Forecast thresholds compare the p50 (median) forecast of the period-end total."
    )
)

with show_errors():
    widgets.show_flash()
    as_of = budget_widgets.as_of_picker()
    # Only the open tab runs (a closed one runs no query and sends no element); the open tab stays
    # open across reruns (a save, an acknowledgement), even when the inbox's count changes its label.
    tab_budgets, tab_inbox, tab_edit, tab_deliveries, tab_review = st.tabs(
        budget_widgets.tab_labels(budget_widgets.firing_count()), key=budget_widgets.TAB_KEY, on_change="rerun"
    )

    if tab_budgets.open:
        with tab_budgets:
            statuses = budget_widgets.statuses(as_of)
            if not statuses:
                st.info(
                    "No budgets yet. Create one in **Create / edit**, or with "
                    "`python -m llmledger budgets add NAME --amount USD --period month`."
                )
            for i, s in enumerate(statuses):
                budget_widgets.budget_card(s, i)
            if statuses:
                names = [s.budget.name for s in statuses]
                pick = st.selectbox("Details of", names, key="budgets_detail_pick", persist_state="page")
                budget_widgets.budget_detail(statuses[names.index(pick)], "budgets_detail")

    if tab_inbox.open:
        with tab_inbox:
            budget_widgets.inbox()

    if tab_edit.open:
        with tab_edit:
            budget_widgets.editor()
            st.subheader("Monitors")
            st.caption(
                "Anomalies budgets do not catch: a cost spike against the same weekday's median, a model with "
                "no price, missing usage or errors rising, over every call or a scope. Each fires once per "
                "member and cool-down."
            )
            budget_monitors.monitors_editor()

    if tab_deliveries.open:
        with tab_deliveries:
            budget_widgets.deliveries()

    if tab_review.open:
        with tab_review:
            statuses = budget_widgets.statuses(as_of)
            if statuses:
                budget_widgets.review(statuses, as_of)
            else:
                st.info("Nothing to review: no budgets yet.")
