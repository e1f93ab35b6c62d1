"""Plotly figures for the Local lab: pure functions from plain rows to new figures.

Variant and model names are escaped (`_plain`) before they reach Plotly, which reads HTML in
names, labels and hover text; API model ids come from price sheets anyone can import.
"""

from __future__ import annotations

import html
import math

import plotly.graph_objects as go

BLUE, ORANGE, GREEN, GREY = "#2b6cb0", "#dd6b20", "#38a169", "#718096"
PALETTE = ["#dd6b20", "#805ad5", "#d53f8c", "#319795", "#d69e2e", "#e53e3e", "#5a67d8"]


def _plain(value) -> str:
    # ui.format.plain_label, which this layer (below ui) cannot import.
    return html.escape(str(value), quote=False)


def _layout(fig: go.Figure, title: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        plot_bgcolor="white",
        legend={"orientation": "h", "y": -0.2},
    )
    fig.update_xaxes(showgrid=False)
    fig.update_yaxes(gridcolor="#edf2f7", rangemode="tozero")
    return fig


def _range(summary: list[dict], key: str) -> dict:
    """Error bars from the fastest to the slowest run around the median."""

    def gap(r, end):
        v = r.get(f"{key}_{end}")
        return 0.0 if v is None or math.isnan(v) else abs(v - r[key])

    return {
        "type": "data",
        "symmetric": False,
        "array": [gap(r, "max") for r in summary],
        "arrayminus": [gap(r, "min") for r in summary],
    }


def throughput(summary: list[dict]) -> go.Figure:
    """Median prompt and generation tokens/s per variant; bars span the runs' range."""
    names = [_plain(r["variant"]) for r in summary]
    fig = go.Figure()
    for key, label, color in (("prompt_tps", "prompt processing", BLUE), ("gen_tps", "generation", ORANGE)):
        fig.add_bar(
            x=names,
            y=[r[key] for r in summary],
            name=label,
            marker_color=color,
            error_y=_range(summary, key),
            hovertemplate="%{x}: %{y:.1f} tokens/s<extra>" + label + "</extra>",
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="tokens/s (median)")
    return _layout(fig, "Throughput by variant (median; bars: fastest to slowest run)")


def latency(summary: list[dict]) -> go.Figure:
    names = [_plain(r["variant"]) for r in summary]
    fig = go.Figure()
    for key, label, color in (("ttft_ms", "time to first token", GREEN), ("e2e_ms", "end to end", GREY)):
        fig.add_bar(
            x=names,
            y=[r[key] for r in summary],
            name=label,
            marker_color=color,
            error_y=_range(summary, key),
            hovertemplate="%{x}: %{y:.0f} ms<extra>" + label + "</extra>",
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="ms (median)")
    return _layout(fig, "Latency by variant")


def quality_vs_size(rows: list[dict]) -> go.Figure:
    """Perplexity against file size: lower-left is better."""
    fig = go.Figure()
    fig.add_scatter(
        x=[r["size_mb"] for r in rows],
        y=[r["perplexity"] for r in rows],
        mode="markers+text",
        text=[_plain(r["variant"]) for r in rows],
        textposition="top center",
        marker={"size": 11, "color": ORANGE},
        hovertemplate="%{text}: %{x:.1f} MB, perplexity %{y:.2f}<extra></extra>",
    )
    fig.update_xaxes(title="file size (MB)", rangemode="tozero")
    fig.update_yaxes(title="perplexity on the shipped text", rangemode="normal")
    return _layout(fig, "Quality against size")


def memory_bars(rows: list[dict]) -> go.Figure:
    """Weights at the block type's bits vs the recipe's effective bits, plus KV cache."""
    names = [_plain(r["file_type"]) for r in rows]
    fig = go.Figure()
    fig.add_bar(x=names, y=[r["naive_gb"] for r in rows], name="block type only", marker_color="#cbd5e0")
    fig.add_bar(x=names, y=[r["gb"] for r in rows], name="effective (llama.cpp recipe)", marker_color=BLUE)
    if rows and rows[0].get("kv_gb"):
        fig.add_bar(x=names, y=[r["kv_gb"] for r in rows], name="KV cache", marker_color=GREEN)
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="GB")
    return _layout(fig, "Memory by file type")


def break_even(curve: list[dict], break_evens: dict[str, float | None]) -> go.Figure:
    """Monthly cost against monthly volume for local and each API; dotted lines at break-even."""
    fig = go.Figure()
    options = list(dict.fromkeys(r["option"] for r in curve))
    for i, opt in enumerate(options):
        pts = [r for r in curve if r["option"] == opt]
        local = opt.startswith("local")
        fig.add_scatter(
            x=[p["mtok_per_month"] for p in pts],
            y=[p["usd_per_month"] for p in pts],
            name=_plain(opt),
            mode="lines",
            line={
                "color": BLUE if local else PALETTE[i % len(PALETTE)],
                "width": 3 if local else 2,
                "shape": "hv" if local else "linear",
            },
            hovertemplate="%{x:.1f}M tokens: $%{y:,.2f}/month<extra>%{fullData.name}</extra>",
        )
    for name, x in break_evens.items():
        if x is not None:
            fig.add_vline(
                x=x,
                line_dash="dot",
                line_color=GREY,
                annotation_text=f"{_plain(name)}: {x:,.1f}M",
                annotation_position="top left",
            )
    fig.update_xaxes(title="tokens per month (millions)", rangemode="tozero")
    fig.update_yaxes(title="USD per month")
    return _layout(fig, "Break-even: where local gets cheaper", height=380)
