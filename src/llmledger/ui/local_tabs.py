"""The Local lab page's four tabs (app_pages/local_lab.py runs only the open one). Widgets keep
their values while their tab is closed (persist_state="page"), as when every tab ran."""

from __future__ import annotations

import streamlit as st

from llmledger.local import lab, memory, price
from llmledger.local.gguf import read_gguf
from llmledger.ui import format as fmt
from llmledger.ui import local_charts, vega
from llmledger.ui import local_lab as ui

KEEP = "page"  # a closed (lazy) tab's widgets keep their values


def runs_tab(s: dict, variants: list, src_type: str, settings) -> None:
    """The variants, the prompts and ▶ Run, and the results of the last run (kept in `s`)."""
    st.dataframe(
        [
            {
                "variant": v.label,
                "size (MB)": round(v.size_bytes / 1e6, 1),
                "bits/weight": v.bits_per_weight,
                "tensor types": ", ".join(f"{t} {n / v.n_params:.0%}" for t, n in v.type_mix.items()),
                "note": v.note,
            }
            for v in variants
        ],
        hide_index=True,
        key="ll_variants",
    )
    if any(v.requantized_from for v in variants):
        st.caption(
            f"⚠️ The source is already quantized ({src_type}). Variants made from it were "
            f"requantized: none can be better than {src_type}, however many bits it uses."
        )
    c1, c2, c3 = st.columns([3, 1, 1])
    set_name = c1.selectbox("Prompt set", list(lab.PROMPT_SETS), key="ll_prompt_set", persist_state=KEEP)
    text = c1.text_area(
        "Prompts (one per line)",
        "\n".join(t for _, t in lab.PROMPT_SETS[set_name]),
        key=f"ll_prompts_{set_name}",
        persist_state=KEEP,
        height=100,
    )
    repeats = c2.number_input("Repeats", 1, 20, 3, key="ll_repeats", persist_state=KEEP)
    max_tokens = c3.number_input("Max new tokens", 1, 1024, 32, key="ll_max_tokens", persist_state=KEEP)
    prompts = [(f"p{i + 1}", t.strip()) for i, t in enumerate(text.splitlines()) if t.strip()]
    b1, b2, _ = st.columns([1, 1, 4])
    start = b1.button("▶ Run", type="primary", key="ll_run")
    b2.button("■ Cancel", key="ll_cancel", help="Stops the run at the next token; finished runs are kept")
    if start:
        ui.run_live(variants, prompts, int(repeats), int(max_tokens), settings)

    m = s.get("matrix")
    if m is not None and m.runs:
        summary = lab.summary(m, s.get("variants") or variants)
        st.subheader("Results" + (" (cancelled run: partial)" if m.cancelled else ""))
        st.dataframe(
            summary,
            hide_index=True,
            key="ll_summary",
            column_order=list(ui.SUMMARY_COLUMNS),
            column_config=ui.SUMMARY_COLUMNS,
        )
        st.caption(
            "Medians over runs; ± = slowest − fastest run. The llama.cpp column is its own counter for "
            f"the same runs. Agreement compares greedy outputs with {summary[-1]['reference']}, the "
            "least-quantized variant run."
        )
        g1, g2 = st.columns(2)
        vega.show(g1, local_charts.throughput(summary), key="ll_fig_tps")
        vega.show(g2, local_charts.latency(summary), key="ll_fig_latency")
        with st.expander("Every run"):
            st.dataframe(
                [
                    {
                        k: r[k]
                        for k in (
                            "variant",
                            "prompt_id",
                            "repeat",
                            "input_tokens",
                            "output_tokens",
                            "ttft_ms",
                            "gen_tps",
                            "e2e_ms",
                            "stop_reason",
                            "output_text",
                        )
                    }
                    for r in m.runs
                ],
                hide_index=True,
                key="ll_runs",
            )


def quality_tab(s: dict, variants: list, settings) -> None:
    """Perplexity of each variant on the fixed text, measured on demand."""
    st.markdown(
        "Perplexity on a fixed ~1,500-word text shipped in `data/local_lab/` (lower is better), "
        "from llama.cpp's logits, 256-token windows scored on their second half."
    )
    if st.button("Measure perplexity", key="ll_ppl"):
        ui.measure_perplexity(variants, settings)
    rows = [
        {
            "variant": v.name,
            "size_mb": v.size_bytes / 1e6,
            "bits_per_weight": v.bits_per_weight,
            **s["ppl"][v.path],
            "note": v.note,
        }
        for v in variants
        if v.path in s["ppl"]
    ]
    if rows:
        st.dataframe(
            rows,
            hide_index=True,
            key="ll_ppl_table",
            column_order=["variant", "perplexity", "size_mb", "bits_per_weight", "n_scored", "note"],
        )
        vega.show(st, local_charts.quality_vs_size(rows), key="ll_fig_quality")


def memory_tab(source, variants: list) -> None:
    """Weights and KV cache per file type for an architecture, beside what the variants took."""
    m1, m2, m3 = st.columns(3)
    arch_name = m1.selectbox(
        "Architecture",
        ["This model's GGUF", *memory.ARCHITECTURES],
        index=1 + list(memory.ARCHITECTURES).index("Llama 3.3 70B"),
        key="ll_arch",
        persist_state=KEEP,
    )
    arch = (
        memory.architecture_from_gguf(read_gguf(source))
        if arch_name == "This model's GGUF"
        else memory.ARCHITECTURES[arch_name]
    )
    params_b = m1.number_input(
        "Parameters (billions)",
        0.01,
        2000.0,
        round(arch.n_params / 1e9, 3),
        key=f"ll_params_{arch_name}",
        persist_state=KEEP,
    )
    kv_ctx = m2.number_input(
        "Context length (tokens)", 256, 1_048_576, 8192, step=1024, key="ll_kv_ctx", persist_state=KEEP
    )
    kv_type = m2.selectbox("KV cache type", list(memory.KV_TYPES), key="ll_kv_type", persist_state=KEEP)
    fts = m3.multiselect(
        "File types",
        memory.FILE_TYPES,
        default=["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"],
        key="ll_mem_fts",
        persist_state=KEEP,
    )
    rows = memory.memory_table(
        params_b * 1e9, fts, arch, int(kv_ctx), kv_type, {v.name: v.bits_per_weight for v in variants}
    )
    st.dataframe(
        rows,
        hide_index=True,
        key="ll_mem_table",
        column_order=list(ui.MEMORY_COLUMNS),
        column_config=ui.MEMORY_COLUMNS,
    )
    st.caption(
        f"KV cache: {arch.name}, {arch.n_layer} layers × {arch.n_head_kv} KV heads × {arch.head_size} "
        f"dims, K and V, {kv_type} (full attention assumed). Effective bits apply llama.cpp's "
        "per-tensor rules to the layout; the last column is what your variants above really took "
        "(small models keep big embeddings at Q8_0 and fall back where rows don't divide by 256)."
    )
    vega.show(st, local_charts.memory_bars(rows), key="ll_fig_memory")


def price_tab(s: dict, variants: list) -> None:
    """A measured variant's cost per token on a machine against API prices; save it as a sheet."""
    p1, p2, p3 = st.columns(3)
    preset = p1.selectbox("Machine", list(price.PRESETS), key="ll_preset", persist_state=KEEP)
    usd_h = p1.number_input(
        "$ per hour",
        0.0001,
        1000.0,
        float(price.PRESETS[preset]),
        format="%.4f",
        key=f"ll_usd_h_{preset}",
        persist_state=KEEP,
    )
    done = lab.summary(s["matrix"], s.get("variants") or variants) if s.get("matrix") else []
    pick = p2.selectbox(
        "Measured variant",
        [r["variant"] for r in done] or ["(run the lab first)"],
        key="ll_price_variant",
        persist_state=KEEP,
    )
    row = next((r for r in done if r["variant"] == pick), None)
    in_tps = p2.number_input(
        "Input tokens/s",
        0.1,
        1e6,
        float(row["prompt_tps"]) if row else 250.0,
        key=f"ll_in_tps_{pick}",
        persist_state=KEEP,
    )
    out_tps = p2.number_input(
        "Output tokens/s",
        0.1,
        1e6,
        float(row["gen_tps"]) if row else 100.0,
        key=f"ll_out_tps_{pick}",
        persist_state=KEEP,
    )
    share = p3.slider("Output share of tokens", 0.0, 1.0, 0.25, key="ll_out_share", persist_state=KEEP)
    cat = ui.api_catalog(ui.db_key())
    default_apis = [m for m in price.DEFAULT_API_MODELS if m in set(cat["model_id"])]
    apis = p3.multiselect(
        "Compare with", list(cat["model_id"]), default=default_apis, key="ll_apis", persist_state=KEEP
    )
    r = price.rates(usd_h, in_tps, out_tps)
    prices = ui.api_prices(cat, apis)
    table, bes = price.comparison(r, f"local {pick}", prices, share)
    st.dataframe(table, hide_index=True, key="ll_price_table", column_config=ui.PRICE_COLUMNS)
    st.caption(
        f"One always-on machine serves up to {float(price.capacity_mtok_per_month(r, share)):,.0f}M "
        "tokens a month at these rates; an empty break-even means local never wins against that API."
    )
    vega.show(st, local_charts.break_even(price.break_even_curve(r, prices, share), bes), key="ll_fig_break_even")
    name = st.text_input("Sheet name", f"self-hosted-{pick}".lower(), key=f"ll_sheet_name_{pick}", persist_state=KEEP)
    if st.button("Save as a self-hosted price sheet", key="ll_save_sheet", disabled=row is None):
        model_name = lab.run_model_name(next(v for v in (s.get("variants") or variants) if v.name == pick))
        ui.save_sheet(price.self_hosted_sheet(name, r, [model_name]))
        st.success(fmt.plain_markdown(f"Saved sheet '{name}' pricing {model_name}; choose it on Spend or Reprice."))
