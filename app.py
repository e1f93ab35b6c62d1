"""LLM Ledger dashboard: st.navigation over the pages; nothing else."""

from pathlib import Path

import streamlit as st

PAGES = [
    ("app_pages/home.py", "Home", "🏠"),
    ("app_pages/calls.py", "Calls", "📞"),
    ("app_pages/spend.py", "Spend", "💸"),
    ("app_pages/budgets.py", "Budgets", "🎯"),
    ("app_pages/estimate.py", "Estimate", "🧮"),
    ("app_pages/reprice.py", "Reprice", "🔁"),
    ("app_pages/whatif.py", "What-if", "🔀"),
    ("app_pages/plan.py", "Plan", "🗓️"),
    ("app_pages/local_lab.py", "Local lab", "🧪"),
    ("app_pages/ingest.py", "Ingest", "📥"),
    ("app_pages/prices.py", "Prices", "🏷️"),
]

here = Path(__file__).parent
st.set_page_config(page_title="LLM Ledger", page_icon="📒", layout="wide")
nav = st.navigation([st.Page(p, title=t, icon=i) for p, t, i in PAGES if (here / p).exists()])
nav.run()
