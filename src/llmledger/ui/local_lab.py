"""Streamlit glue for the Local lab: the one loaded model behind a lock, live runs, caches.

The model host is a process-wide resource: every tab shares it, and the lock makes sure only one
of them drives llama.cpp at a time. A run streams into placeholders; pressing Cancel makes
Streamlit stop this script at its next redraw, which unwinds the generation (the lock is released
by `with`), and the runs finished so far stay in session state.
"""

from __future__ import annotations

import threading

import streamlit as st

from llmledger import config
from llmledger.errors import LocalModelError
from llmledger.local import lab, models, quantize, runner
from llmledger.ui import common
from llmledger.ui import format as fmt

STATE = "local_lab"  # session_state key holding this session's results

_N1, _N0, _N3, _PCT = "%.1f", "%.0f", "%.3f", "%.0f%%"
SUMMARY_COLUMNS = {
    "variant": st.column_config.TextColumn("variant"),
    "size_mb": st.column_config.NumberColumn("size MB", format=_N1),
    "bits_per_weight": st.column_config.NumberColumn("bits/weight", format="%.2f"),
    "load_s": st.column_config.NumberColumn("load s", format=_N3),
    "peak_rss_mb": st.column_config.NumberColumn("peak RSS MB", format=_N0),
    "ttft_ms": st.column_config.NumberColumn("TTFT ms", format=_N1),
    "ttft_ms_spread": st.column_config.NumberColumn("TTFT ±", format=_N1),
    "prompt_tps": st.column_config.NumberColumn("prompt tok/s", format=_N1),
    "gen_tps": st.column_config.NumberColumn("gen tok/s", format=_N1),
    "gen_tps_spread": st.column_config.NumberColumn("gen ±", format=_N1),
    "perf_gen_tps": st.column_config.NumberColumn("llama.cpp gen tok/s", format=_N1),
    "e2e_ms": st.column_config.NumberColumn("end-to-end ms", format=_N0),
    "e2e_ms_spread": st.column_config.NumberColumn("e2e ±", format=_N0),
    "agreement_prefix": st.column_config.ProgressColumn("agreement", format="percent", min_value=0, max_value=1),
    "agreement_exact": st.column_config.NumberColumn("identical outputs", format="percent"),
    "runs": st.column_config.NumberColumn("runs"),
}
MEMORY_COLUMNS = {
    "file_type": st.column_config.TextColumn("file type"),
    "block_bpw": st.column_config.NumberColumn("block bits/weight", format="%.3f"),
    "effective_bpw": st.column_config.NumberColumn("effective bits/weight", format="%.3f"),
    "naive_gb": st.column_config.NumberColumn("weights GB at block bits", format=_N1),
    "gb": st.column_config.NumberColumn("weights GB (effective)", format=_N1),
    "kv_gb": st.column_config.NumberColumn("KV cache GB", format="%.2f"),
    "total_gb": st.column_config.NumberColumn("total GB", format=_N1),
    "measured_bpw_here": st.column_config.NumberColumn("bits/weight of your variant", format="%.2f"),
    "layout": st.column_config.TextColumn("recipe applied to"),
}
PRICE_COLUMNS = {
    "option": st.column_config.TextColumn("option"),
    "input $/1M": st.column_config.NumberColumn("input $/1M", format="$%.4f"),
    "output $/1M": st.column_config.NumberColumn("output $/1M", format="$%.4f"),
    "blended $/1M": st.column_config.NumberColumn("blended $/1M", format="$%.4f"),
    "break-even (M tokens/month)": st.column_config.NumberColumn("local cheaper above (M tokens/month)", format="%.1f"),
}


@st.cache_resource(show_spinner=False)
def _lab_resources() -> dict:
    return {"host": runner.ModelHost(), "lock": threading.Lock()}


def host() -> runner.ModelHost:
    return _lab_resources()["host"]


def lock() -> threading.Lock:
    return _lab_resources()["lock"]


@st.cache_resource(show_spinner=False)
def _emitter(endpoint: str):
    from llmledger.local.telemetry import SpanEmitter

    return SpanEmitter(endpoint)


def emitter():
    """Spans go to the app's own receiver when it runs (then runs show up on Calls and Spend)."""
    svc = common.service()
    stats = svc.stats() if svc is not None else {}
    if not stats.get("running"):
        return None
    return _emitter(stats["endpoint"])


def state() -> dict:
    return st.session_state.setdefault(STATE, {"matrix": None, "variants": [], "ppl": {}, "running": False})


@st.cache_data(show_spinner=False)
def _variants(source: str, mtime: float, qtypes: tuple[str, ...], threads: int) -> list[dict]:
    return [quantize.quantize(source, q, threads=threads).to_dict() for q in qtypes]


def prepare_variants(source, qtypes: list[str], threads: int) -> list[quantize.Variant]:
    """Quantize (or reuse) the chosen variants; llama.cpp's quantizer runs under the model lock."""
    from pathlib import Path

    src = Path(source)
    with st.spinner("Preparing variants with llama.cpp (cached under data/models/)…"):
        rows = _variants(str(src), src.stat().st_mtime, tuple(qtypes), threads)
    out = []
    for d in rows:
        d = {k: v for k, v in d.items() if k not in ("label", "note")}
        out.append(quantize.Variant(**d))
    return sorted(out, key=lambda v: v.bits_per_weight)


@st.cache_data(show_spinner=False, max_entries=16)
def _file_type_name(source: str, mtime: float, size: int) -> str:
    return quantize.file_type_name(source)


def file_type_name(source) -> str:
    """The GGUF's file type (Q4_1, F16...), read once per file version: reading it parses the whole
    metadata, vocabulary included (~0.3 s for SmolLM2, on every rerun before)."""
    from pathlib import Path

    stat = Path(source).stat()
    return _file_type_name(str(source), stat.st_mtime, stat.st_size)


def model_choice(key: str) -> tuple[str, object]:
    """Shipped models that are installed, plus any GGUF path the user types."""
    avail = models.available_models()
    labels = {m.key: m.label for m in models.SHIPPED if m.key in avail}
    options = list(labels) + ["custom"]
    pick = st.selectbox("Model", options, format_func=lambda k: labels.get(k, "Another GGUF file…"), key=key)
    if pick == "custom":
        path = st.text_input("Path to a .gguf file", key=key + "_path")
        if not path:
            st.stop()
        return path, models.resolve_model(path)
    return pick, avail[pick]


def run_live(variants, prompts, repeats: int, max_tokens: int, settings: runner.Settings) -> None:
    """Run the matrix here, streaming into the page; results land in session state."""
    s = state()
    if not lock().acquire(blocking=False):
        raise LocalModelError(
            "Another tab is running the local model right now. Try again when it "
            "finishes (one model runs at a time, so llama.cpp is never shared).",
            title="Model busy",
        )
    try:
        s["running"], s["partial"], s["pending_variants"] = True, [], variants
        bar = st.progress(0.0, text="starting…")
        header, box = st.empty(), st.empty()
        stream = lab.TextStream(lambda text: box.code(text or " ", language=None, wrap_lines=True))

        def on_progress(done, total, row, label):
            # Labels name the variant, and a custom GGUF's name is whatever its file is called.
            bar.progress(done / total, text=f"{done}/{total} runs · {fmt.plain_markdown(label)}")
            if row is None:
                header.markdown(f"**{fmt.plain_markdown(label)}**")
                stream.reset()
            else:
                stream.close()

        cur = common.connection()
        recorder = lab.Recorder(cur, emitter())

        def record(row):
            recorder(row)
            s["partial"].append(row)

        try:
            matrix = lab.run_matrix(
                host(),
                variants,
                prompts,
                repeats,
                max_tokens,
                settings,
                on_token=stream,
                on_progress=on_progress,
                record=record,
            )
        except LocalModelError:
            s["running"] = False  # a real error, not a cancel: nothing to recover
            raise
        recorder.flush()
        header.empty()
        box.empty()
        bar.progress(1.0, text=f"{len(matrix.runs)}/{matrix.total} runs done")
        s["matrix"], s["variants"], s["running"] = matrix, variants, False
        st.cache_data.clear()  # new rows in local_runs (and soon llm_calls)
    finally:
        # Cancel interrupts this script with Streamlit's own exception: `running` stays True so
        # the next run of the page (recover_cancelled) keeps the finished runs.
        lock().release()


def recover_cancelled() -> str | None:
    """After a cancelled run: keep the finished runs and say how far it got."""
    s = state()
    partial = s.pop("partial", None)
    if s.get("running") and partial is not None:
        s["running"] = False
        m = lab.Matrix(batch_id=partial[0]["batch_id"] if partial else "cancelled", runs=partial, cancelled=True)
        for r in partial:
            m.loads.setdefault(r["variant"], {"load_s": r["load_s"]})
        if partial:
            s["matrix"] = m
            if s.get("pending_variants"):
                s["variants"] = s["pending_variants"]
        return f"Run cancelled after {len(partial)} finished runs; those are kept below."
    return None


def measure_perplexity(variants, settings: runner.Settings) -> None:
    s = state()
    if not lock().acquire(blocking=False):
        raise LocalModelError("Another tab is running the local model right now.", title="Model busy")
    try:
        bar = st.progress(0.0, text="perplexity…")

        def on_progress(i, n, _row, label):
            bar.progress(i / n, text=fmt.plain_markdown(label))

        ppl = lab.measure_quality(host(), variants, settings, on_progress=on_progress)
        bar.progress(1.0, text="perplexity done")
        cur = common.connection()
        rec = lab.Recorder(cur)
        for v in variants:
            if v.name in ppl:
                rec.quality(v, ppl[v.name])
        s["ppl"].update({v.path: ppl[v.name].to_dict() for v in variants if v.name in ppl})
    finally:
        lock().release()


@st.cache_data(show_spinner=False)
def api_catalog(db: str):
    from llmledger.pricing.sheets import model_catalog

    df = model_catalog(common.connection())
    return df[df["input_mtok"].notna() & df["output_mtok"].notna()].reset_index(drop=True)


def api_prices(catalog, model_ids) -> dict[str, tuple]:
    rows = catalog.drop_duplicates("model_id").set_index("model_id")
    return {m: (rows.at[m, "input_mtok"], rows.at[m, "output_mtok"]) for m in model_ids if m in rows.index}


def save_sheet(sheet) -> None:
    from llmledger.pricing.sheets import save_sheet as save

    save(common.connection(), sheet, replace=True)
    st.cache_data.clear()


def db_key() -> str:
    return str(config.db_path())
