"""Prices: import price sheets (upload or bundled), see their versions and effective dates, look a
model up (which entry prices it and why), and set the active sheet."""

import streamlit as st

from llmledger.ui import prices_widgets, sheet_widgets, widgets
from llmledger.ui.common import page_setup, show_errors

page_setup("Prices", "🏷️")
st.title("🏷️ Prices")
st.caption(
    "Every cost in the ledger is computed at query time from a price sheet. Import more sheets, see "
    "which version applies when, find out which entry prices a model (and whether it is the provider's "
    "own), and choose the active sheet."
)

with show_errors():
    widgets.show_flash()
    tab_lookup, tab_sheets, tab_import = st.tabs(
        ["Look a model up", "Sheets & active sheet", "Import"], key="prices_tab", on_change="rerun"
    )  # the open tab stays open across reruns (an import, a confirmation)
    if tab_lookup.open:  # only the open tab runs: a closed one runs no query and sends no element
        with tab_lookup:
            prices_widgets.lookup_section()
            prices_widgets.calls_section(sheet_widgets.view_sheet())
    if tab_sheets.open:
        with tab_sheets:
            prices_widgets.activate_section()
            prices_widgets.sheets_section()
    if tab_import.open:
        with tab_import:
            prices_widgets.import_section()
