"""LLM Ledger dashboard: st.navigation over the pages; nothing else."""

from pathlib import Path

import streamlit as st

PAGES = [
    ("pages/calls.py", "Calls", "📞"),
    ("pages/spend.py", "Spend", "💸"),
    ("pages/estimate.py", "Estimate", "🧮"),
    ("pages/reprice.py", "Reprice", "🔁"),
    ("pages/plan.py", "Plan", "🗓️"),
    ("pages/local_lab.py", "Local lab", "🧪"),
    ("pages/ingest.py", "Ingest", "📥"),
]

here = Path(__file__).parent
st.set_page_config(page_title="LLM Ledger", page_icon="📒", layout="wide")
nav = st.navigation([st.Page(p, title=t, icon=i) for p, t, i in PAGES if (here / p).exists()])
nav.run()
