"""Local lab: what each quantization level costs in speed, memory and quality, on this machine."""

import streamlit as st

from llmledger.local import quantize, runner
from llmledger.ui import local_lab as ui
from llmledger.ui import local_tabs as tabs
from llmledger.ui.common import page_setup, show_errors

page_setup("Local lab", "🧪")
st.title("🧪 Local lab")
st.caption(
    "Quantize a local model, time every variant with llama.cpp on this machine, compare quality, "
    "memory and price against the APIs. Runs are recorded and show up on Calls and Spend."
)

with show_errors():
    s = ui.state()
    if note := ui.recover_cancelled():
        st.warning(note)
    left, mid, right = st.columns([2, 3, 2])
    with left:
        model_key, source = ui.model_choice("ll_model")
    src_type = ui.file_type_name(source)
    ladder = list(dict.fromkeys([src_type, *quantize.DEFAULT_LADDER]))
    with mid:
        qtypes = st.multiselect("Variants (file types)", ladder, default=[src_type, "Q8_0"], key="ll_quants")
    with right:
        threads = st.number_input("Threads", 1, 64, runner.DEFAULT_THREADS, key="ll_threads")
        n_ctx = st.select_slider("Context size", [256, 512, 1024, 2048, 4096], value=512, key="ll_ctx")
    if not qtypes:
        st.info("Choose at least one variant.")
        st.stop()
    variants = ui.prepare_variants(source, qtypes, int(threads))
    settings = runner.Settings(n_threads=int(threads), n_ctx=int(n_ctx))

    tab_runs, tab_quality, tab_memory, tab_price = st.tabs(
        ["Variants & runs", "Quality", "Memory", "Price"], key="ll_tab", on_change="rerun"
    )  # only the open tab runs; a run, its perplexities and results live in session state, seen by every tab
    if tab_runs.open:
        with tab_runs:
            tabs.runs_tab(s, variants, src_type, settings)
    if tab_quality.open:
        with tab_quality:
            tabs.quality_tab(s, variants, settings)
    if tab_memory.open:
        with tab_memory:
            tabs.memory_tab(source, variants)
    if tab_price.open:
        with tab_price:
            tabs.price_tab(s, variants)
