"""Vega-Lite charts for the Local lab: pure functions from plain rows to `vega.Chart` (data, spec),
drawn by the page with `vega.show`.

Why Vega-Lite, not Plotly: a tab drawing any Plotly figure first loads and runs Streamlit's 4.7 MB
Plotly bundle (2.9x a one-line page in bench/bench_pages.py; Vega-Lite 1.1x).

Variant, file type and API model names (API ids come from price sheets anyone can import) reach
the data as written (`fmt.label`): Vega draws text literally, so nothing is HTML-escaped.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from llmledger.ui import format as fmt
from llmledger.ui import vega

BLUE, ORANGE, GREEN, GREY = "#2b6cb0", "#dd6b20", "#38a169", "#718096"
PALETTE = ["#dd6b20", "#805ad5", "#d53f8c", "#319795", "#d69e2e", "#e53e3e", "#5a67d8"]
LOCAL_PREFIX = "local"


def _num(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _runs_bars(summary: list[dict], series: tuple, chart_title: str, unit: str, y_format: str) -> vega.Chart:
    """Median per variant and series (`(key, label, colour)` each), side by side, on a y axis of
    "<unit> (median)", with a rule from the fastest to the slowest run (`<key>_min` to
    `<key>_max`; the median alone when a run range is missing)."""
    rows = []
    for r in summary:
        for key, label, _ in series:
            med = _num(r.get(key))
            lo, hi = _num(r.get(f"{key}_min")), _num(r.get(f"{key}_max"))
            rows.append(
                {
                    "category": r["variant"],
                    "series": label,
                    "value": med,
                    "lo": med if lo is None else lo,
                    "hi": med if hi is None else hi,
                }
            )
    long = pd.DataFrame(rows, columns=["category", "series", "value", "lo", "hi"])
    extra = [
        {"field": "lo", "type": "quantitative", "title": f"lowest run ({unit})", "format": y_format},
        {"field": "hi", "type": "quantitative", "title": f"highest run ({unit})", "format": y_format},
    ]
    data, spec = vega.grouped_bars(
        long,
        categories=[r["variant"] for r in summary],
        series_order=[label for _, label, _ in series],
        colors=[color for _, _, color in series],
        chart_title=chart_title,
        y_title=f"{unit} (median)",
        y_format=y_format,
        category_title="Variant",
        extra_tooltip=extra,
        height=400,
    )
    bars = {"mark": spec.pop("mark"), "encoding": spec.pop("encoding")}
    enc = bars["encoding"]
    ranges = {
        "mark": {"type": "rule", "color": "#2d3748", "strokeWidth": 1.5},
        "encoding": {
            "x": enc["x"],
            "xOffset": enc["xOffset"],
            "y": {"field": "lo", "type": "quantitative"},
            "y2": {"field": "hi"},
            "tooltip": enc["tooltip"],
        },
    }
    spec["layer"] = [bars, ranges]
    return data, spec


def throughput(summary: list[dict]) -> vega.Chart:
    """Median prompt and generation tokens/s per variant; rules span the runs' range."""
    series = (("prompt_tps", "prompt processing", BLUE), ("gen_tps", "generation", ORANGE))
    return _runs_bars(
        summary, series, "Throughput by variant (median; rules: fastest to slowest run)", "tokens/s", ",.1f"
    )


def latency(summary: list[dict]) -> vega.Chart:
    """Median time to first token and end-to-end ms per variant; rules span the runs' range."""
    series = (("ttft_ms", "time to first token", GREEN), ("e2e_ms", "end to end", GREY))
    return _runs_bars(summary, series, "Latency by variant", "ms", ",.0f")


def quality_vs_size(rows: list[dict]) -> vega.Chart:
    """Perplexity against file size: lower-left is better."""
    data = pd.DataFrame(
        {
            "variant": [fmt.label(r["variant"]) for r in rows],
            "size_mb": [float(r["size_mb"]) for r in rows],
            "perplexity": [float(r["perplexity"]) for r in rows],
        }
    )
    x = {"field": "size_mb", "type": "quantitative", "title": "file size (MB)", "scale": {"zero": True}}
    y = {
        "field": "perplexity",
        "type": "quantitative",
        "title": "perplexity on the shipped text",
        "scale": {"zero": False},
    }
    spec = {
        "title": vega.title("Quality against size"),
        "height": 340,
        "layer": [
            {
                "mark": {"type": "point", "filled": True, "size": 110, "color": ORANGE, "opacity": 1},
                "encoding": {
                    "x": x,
                    "y": y,
                    "tooltip": [
                        {"field": "variant", "type": "nominal", "title": "Variant"},
                        {"field": "size_mb", "type": "quantitative", "title": "file size (MB)", "format": ",.1f"},
                        {"field": "perplexity", "type": "quantitative", "title": "perplexity", "format": ".2f"},
                    ],
                },
            },
            {
                "mark": {"type": "text", "baseline": "bottom", "dy": -8, "fontSize": 12, "color": "#2d3748"},
                "encoding": {"x": x, "y": y, "text": {"field": "variant", "type": "nominal"}},
            },
        ],
    }
    return data, spec


def memory_bars(rows: list[dict]) -> vega.Chart:
    """Weights at the block type's bits vs the recipe's effective bits, plus KV cache."""
    if not rows:
        return vega.empty("Memory by file type", "Pick file types to compare")
    series = [("naive_gb", "block type only", "#cbd5e0"), ("gb", "effective (llama.cpp recipe)", BLUE)]
    if rows[0].get("kv_gb"):
        series.append(("kv_gb", "KV cache", GREEN))
    long = pd.DataFrame(
        [{"category": r["file_type"], "series": label, "value": r[key]} for r in rows for key, label, _ in series]
    )
    return vega.grouped_bars(
        long,
        categories=[r["file_type"] for r in rows],
        series_order=[label for _, label, _ in series],
        colors=[c for _, _, c in series],
        chart_title="Memory by file type",
        y_title="GB",
        y_format=",.3~f",
        height=440,
        category_title="File type",
    )


def break_even(curve: list[dict], break_evens: dict[str, float | None]) -> vega.Chart:
    """Monthly cost against monthly volume for local (a step: whole machines) and each API; dotted
    rules at each API's break-even volume, labelled "<api>: <volume>M".

    Data: one row per option and volume (`option` as written, `local`, `mtok`, `usd`). The
    break-even rules are inline data of their layers, in the order given."""
    options = list(dict.fromkeys(r["option"] for r in curve))
    colors = {o: BLUE if o.startswith(LOCAL_PREFIX) else PALETTE[i % len(PALETTE)] for i, o in enumerate(options)}
    data = pd.DataFrame(
        {
            "option": [fmt.label(r["option"]) for r in curve],
            "local": [str(r["option"]).startswith(LOCAL_PREFIX) for r in curve],
            "mtok": [float(r["mtok_per_month"]) for r in curve],
            "usd": [float(r["usd_per_month"]) for r in curve],
        }
    )
    x = {"field": "mtok", "type": "quantitative", "title": "tokens per month (millions)", "scale": {"zero": True}}
    y = {"field": "usd", "type": "quantitative", "title": "USD per month", "axis": {"format": "$,.2~f"}}
    color = {
        "field": "option",
        "type": "nominal",
        "scale": vega.color_scale(options, colors),
        "legend": vega.legend_bottom(None),
        "sort": [fmt.label(o) for o in options],
    }
    tooltip = [
        {"field": "option", "type": "nominal", "title": "Option"},
        {"field": "mtok", "type": "quantitative", "title": "M tokens/month", "format": ",.1f"},
        {"field": "usd", "type": "quantitative", "title": "USD/month", "format": "$,.2f"},
    ]

    def lines(local: bool) -> dict:
        return {
            "transform": [{"filter": "datum.local" if local else "!datum.local"}],
            "mark": {
                "type": "line",
                "strokeWidth": 3 if local else 2,
                "interpolate": "step-after" if local else "linear",
                "point": {"size": 12, "opacity": 0},
            },
            "encoding": {"x": x, "y": y, "color": color, "tooltip": tooltip},
        }

    layers = [lines(False), lines(True)]
    marks = [
        {"x": float(v), "label": f"{fmt.label(name)}: {float(v):,.1f}M", "row": i}
        for i, (name, v) in enumerate((n, v) for n, v in break_evens.items() if v is not None)
    ]
    if marks:
        rx = {"field": "x", "type": "quantitative"}
        layers += [
            {
                "data": {"values": marks},
                "mark": {"type": "rule", "color": GREY, "strokeDash": [2, 3], "strokeWidth": 1.5},
                "encoding": {"x": rx, "tooltip": [{"field": "label", "type": "nominal", "title": "Break-even"}]},
            },
            {
                "data": {"values": marks},
                "transform": [{"calculate": "6 + 14 * datum.row", "as": "ty"}],
                "mark": {
                    "type": "text",
                    "align": "right",
                    "baseline": "top",
                    "dx": -4,
                    "fontSize": 11,
                    "color": "#4a5568",
                },
                "encoding": {
                    "x": rx,
                    "y": {"field": "ty", "type": "quantitative", "scale": None},
                    "text": {"field": "label", "type": "nominal"},
                },
            },
        ]
    spec = {"title": vega.title("Break-even: where local gets cheaper"), "height": 420, "layer": layers}
    return data, spec


__all__ = ["throughput", "latency", "quality_vs_size", "memory_bars", "break_even"]
