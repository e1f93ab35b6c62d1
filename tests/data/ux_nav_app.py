"""Calls, Spend and Reprice under st.navigation, as app.py serves them (for AppTest page switches
in tests/test_ux_filters.py, without the pages the filters do not concern)."""

from pathlib import Path

import streamlit as st

root = Path(__file__).resolve().parents[2] / "app_pages"
nav = st.navigation([st.Page(root / f"{p}.py", title=p.title()) for p in ("calls", "spend", "reprice")])
nav.run()
