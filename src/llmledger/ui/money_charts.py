"""Vega-Lite charts for the Estimate, Spend and Reprice pages: pure functions returning
`vega.Chart` (data, spec) pairs that pages draw with `vega.show`.

Nothing here is cached or imports Streamlit. Money axes read "$1,234.5"; anything estimated says so
in the title or subtitle; a missing price is never drawn as $0 (left out and named instead). Names
from data (groups, models, sheets, tokenizers) and titles pass as written (`fmt.label`): Vega draws
text literally, so nothing is HTML-escaped.

Why Vega-Lite and not Plotly: a fresh tab drawing any Plotly figure loads and runs Streamlit's
4.7 MB Plotly bundle (2.9x the one-line page in bench/bench_pages.py; Vega-Lite 1.1x), see ui/vega.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from llmledger.reads.filters import OTHER, UNATTRIBUTED
from llmledger.ui import format as fmt
from llmledger.ui import vega
from llmledger.ui.charts import GREY, PALETTE, group_colors

ACTUAL_COLOR, REPRICED_COLOR = "#2b6cb0", "#dd6b20"
UP_COLOR, DOWN_COLOR = "#e53e3e", "#38a169"
REPORTED_COLOR, CUMULATIVE_COLOR = "#a0aec0", "#2d3748"
#: Money with its sign first: "+$0.5000", "−$1.2500" (d3 writes the minus as U+2212).
SIGNED_USD = "+$,.4f"
LABEL_COLOR = "#4a5568"
#: Money ticks: "$0.00005", "$0.2", "$1,500" (trailing zeros trimmed). vega.USD_AXIS stops at four
#: decimals, which wrote "$0.0001" three times on an axis of a few hundredths of a cent; ticks are
#: round numbers, so more decimals never show noise. Tooltips keep vega.USD_AXIS / USD_TIP.
MONEY_AXIS = "$,.8~f"


def _signed(v: float) -> str:
    text = fmt.usd(abs(v))
    return ("+" if v > 0 else "−" if v < 0 else "") + text


def _order(df: pd.DataFrame, grp: str, value: str) -> list[str]:
    totals = df.groupby(grp)[value].sum().sort_values(ascending=False)
    return [str(g) for g in totals.index if g not in GREY] + [str(g) for g in totals.index if g in GREY]


def _headroom(spec: dict, channel: str, values: Sequence[float], share: float = 0.22) -> None:
    """Room past the largest bar for its text label (marks are not clipped, so a label past the
    scale's end would run off the chart): the `channel` scale of every layer ends `share` further."""
    top = max([float(v) for v in values if v == v] + [0.0])
    if top <= 0:
        return
    for layer in spec.get("layer", [spec]):
        enc = layer["encoding"].get(channel, {})
        if "field" in enc:
            enc["scale"] = {**enc.get("scale", {}), "domainMax": top * (1 + share), "nice": False}


def _money_ticks(spec: dict, channel: str) -> None:
    """The `channel` axis of every layer in MONEY_AXIS (tooltips keep their own format)."""
    for layer in spec.get("layer", [spec]):
        enc = layer["encoding"].get(channel, {})
        if "field" in enc:
            enc.setdefault("axis", {})["format"] = MONEY_AXIS


def _labels_on_the_right(chart: vega.Chart) -> vega.Chart:
    """Horizontal bars (vega.hbars with text) whose labels are a second y axis on the right of the
    plot rather than text after each bar: an axis is laid out inside the chart's width, where text
    after the longest bar ran off a narrow column. Each row's label is made unique (invisible
    joiners) so two equal labels keep a row each on their own band scale."""
    data, spec = chart
    seen: dict[str, int] = {}
    ticks = []
    for t in data["text"]:
        seen[t] = seen.get(t, -1) + 1
        ticks.append(t + "\u2060" * seen[t])
    data["tick"] = ticks
    bars = spec["layer"][0]
    right = {
        "mark": {"type": "text", "text": ""},
        "encoding": {
            "y": {
                "field": "tick",
                "type": "nominal",
                "sort": None,
                "title": None,
                "axis": {
                    "orient": "right",
                    "domain": False,
                    "ticks": False,
                    "labelColor": LABEL_COLOR,
                    "labelFontSize": 11,
                    "labelLimit": 200,
                },
            }
        },
    }
    spec["layer"] = [bars, right]
    spec["resolve"] = {"scale": {"y": "independent"}}
    return data, spec


def _category_labels(chart: vega.Chart, n: int) -> vega.Chart:
    """Every category named under grouped bars: level when there are few, else slanted and all
    drawn (Vega's overlap test on slanted labels' boxes hid every other one in a half-width column)."""
    spec = chart[1]
    for layer in spec.get("layer", [spec]):
        if "x" not in layer["encoding"]:
            continue
        axis = layer["encoding"]["x"].setdefault("axis", {})
        axis.update({"labelAngle": 0, "labelLimit": 160} if n <= 4 else {"labelAngle": -40, "labelOverlap": False})
    if n > 4:  # the slanted labels take their room out of the chart's height, not the bars'
        spec["height"] = spec.get("height", 340) + 70
    return chart


def _with_labels(chart: vega.Chart, text_field: str = "text") -> vega.Chart:
    """Grouped bars (vega.grouped_bars) with each bar's `text_field` written above it."""
    data, spec = chart
    enc = spec.pop("encoding")
    mark = spec.pop("mark")
    labels = {
        "mark": {"type": "text", "baseline": "bottom", "dy": -2, "fontSize": 10, "color": LABEL_COLOR},
        "encoding": {
            "x": enc["x"],
            "xOffset": enc["xOffset"],
            "y": enc["y"],
            "text": {"field": text_field, "type": "nominal"},
        },
    }
    spec["layer"] = [{"mark": mark, "encoding": enc}, labels]
    return data, spec


# ------------------------------------------------------------------ Spend


def spend_over_time(
    series: pd.DataFrame, group_label: str, kind: str = "area", bucket: str | None = None
) -> vega.Chart:
    """Stacked cost per time bucket and group (`spend_queries.spend_series`): kind "area" or "bar"
    (bars span their bucket). The largest group sits at the bottom of the stack and first in the
    legend; OTHER and UNATTRIBUTED last, in grey."""
    title = f"Spend over time by {group_label} (priced calls)"
    if series.empty or not series["cost_usd"].fillna(0).any():
        return vega.empty(title, "No priced calls in this selection")
    order = _order(series, "grp", "cost_usd")
    long = pd.DataFrame(
        {"bucket": series["bucket"], "grp": series["grp"].astype(str), "value": series["cost_usd"].fillna(0.0)}
    )
    chart = vega.over_time(
        long,
        order=order,
        colors=group_colors(order),
        kind="bar" if kind == "bar" else "area",
        chart_title=title,
        y_title="Cost (USD)",
        y_format=vega.USD_AXIS,
        group_title=group_label,
        bucket=bucket,
        height=420,
    )
    _money_ticks(chart[1], "y")
    return chart


def spend_by(table: pd.DataFrame, group_label: str) -> vega.Chart:
    """Horizontal bars of cost per group (`spend_queries.spend_breakdown`) in the table's order
    (largest on top), each labelled "$cost · share"."""
    title = f"Spend by {group_label} (priced calls)"
    data = table.dropna(subset=["cost_usd"])
    if data.empty:
        return vega.empty(title, "No priced calls in this selection")
    colors = group_colors([str(g) for g in table["grp"]])
    chart = vega.hbars(
        [str(g) for g in data["grp"]],
        data["cost_usd"].tolist(),
        chart_title=title,
        x_title=None,
        x_format=vega.USD_AXIS,
        colors=[colors[str(g)] for g in data["grp"]],
        text=[f"{fmt.usd(v)} · {fmt.pct(s)}" for v, s in zip(data["cost_usd"], data["share"])],
        tip_title="Cost",
        label_title=group_label.capitalize(),
    )
    _money_ticks(chart[1], "x")
    return _labels_on_the_right(chart)


def reported_vs_computed(table: pd.DataFrame) -> vega.Chart:
    """Reported and computed cost per model side by side (`spend_queries.reported_vs_computed`)."""
    title = "Reported vs computed cost, per model"
    if table.empty:
        return vega.empty(title, "No call carries both a reported and a computed cost")
    data = table.head(12)
    series = ["reported by instrumentation", "computed from the sheet"]
    long = pd.DataFrame(
        {
            "category": list(data["model"]) * 2,
            "series": [series[0]] * len(data) + [series[1]] * len(data),
            "value": list(data["reported_usd"]) + list(data["computed_usd"]),
        }
    )
    chart = vega.grouped_bars(
        long,
        categories=list(data["model"]),
        series_order=series,
        colors=[REPORTED_COLOR, ACTUAL_COLOR],
        chart_title=title,
        y_title="Cost (USD)",
        y_format=vega.USD_AXIS,
        category_title="Model",
    )
    _money_ticks(chart[1], "y")
    return _category_labels(chart, len(data))


# ------------------------------------------------------------------ Estimate


def tokens_by_tokenizer(counts: pd.DataFrame) -> vega.Chart:
    """Token count per tokenizer (columns: tokenizer, tokens), most tokens on top."""
    title = "Tokens per tokenizer (counted locally)"
    if counts.empty:
        return vega.empty(title, "Nothing counted yet")
    data = counts.sort_values("tokens", ascending=False, kind="stable")
    chart = vega.hbars(
        list(data["tokenizer"]),
        data["tokens"].tolist(),
        chart_title=title,
        x_title=None,
        x_format=vega.COUNT,
        colors=ACTUAL_COLOR,
        text=[fmt.count(v) for v in data["tokens"]],
        tip_title="Tokens",
        label_title="Tokenizer",
    )
    return _labels_on_the_right(chart)


def cost_per_model(table: pd.DataFrame, title: str = "Cost per model and sheet") -> vega.Chart:
    """Grouped bars: x = model, one bar per sheet (columns: model, sheet, cost_usd, estimated).

    Models a sheet has no price for are left out of the bars (not drawn as $0) and named in the
    subtitle instead ("no price: model (sheet)").
    """
    if table.empty:
        return vega.empty(title, "Choose at least one model and one sheet")
    priced = table.dropna(subset=["cost_usd"])
    missing = table[table["cost_usd"].isna()]
    subtitle = None
    if not missing.empty:
        subtitle = "no price: " + ", ".join(sorted({f"{m} ({s})" for m, s in zip(missing["model"], missing["sheet"])}))
    if priced.empty:
        data, spec = vega.empty(title, "None of these models has a price on these sheets")
        spec["title"] = vega.title(title, subtitle)
        return data, spec
    sheets = list(dict.fromkeys(priced["sheet"]))
    long = pd.DataFrame(
        {
            "category": list(priced["model"]),
            "series": list(priced["sheet"]),
            "value": priced["cost_usd"].astype(float).tolist(),
            "text": [fmt.usd(v) for v in priced["cost_usd"]],
        }
    )
    chart = vega.grouped_bars(
        long,
        categories=list(dict.fromkeys(priced["model"])),
        series_order=sheets,
        colors=[PALETTE[i % len(PALETTE)] for i in range(len(sheets))],
        chart_title=title,
        y_title="Cost (USD, estimate)",
        y_format=vega.USD_AXIS,
        height=360,
        subtitle=subtitle,
        category_title="Model",
    )
    chart[1]["encoding"]["color"]["legend"]["title"] = "Sheet"
    chart[1]["encoding"]["tooltip"][1]["title"] = "Sheet"
    chart[1]["encoding"]["tooltip"][2]["format"] = "$,.6f"
    data, spec = _with_labels(chart)
    _headroom(spec, "y", long["value"].tolist(), 0.12)
    _money_ticks(spec, "y")
    return _category_labels((data, spec), len(set(priced["model"])))


BILL_PARTS = ("input_usd", "cached_input_usd", "output_usd", "batch_usd", "request_usd")


def monthly_bill(bill: pd.DataFrame, title: str = "Projected monthly bill") -> vega.Chart:
    """Bars per month (stacked by what the money pays for when those columns exist) plus the
    cumulative total as a line on a second, independent y axis on the right. Columns: month,
    cost_usd and optionally input_usd, cached_input_usd, output_usd, batch_usd, request_usd,
    cumulative_usd."""
    if bill.empty or "cost_usd" not in bill:
        return vega.empty(title, "No bill to show")
    months = [str(m) for m in bill["month"]]
    cumulative = (bill["cumulative_usd"] if "cumulative_usd" in bill else bill["cost_usd"].cumsum()).astype(float)
    parts = [c for c in BILL_PARTS if c in bill]
    columns = {c: c.removesuffix("_usd").replace("_", " ") for c in parts} or {"cost_usd": "monthly cost"}
    names = list(columns.values())
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(parts))] or [ACTUAL_COLOR]
    rows = []
    for i, (month, total) in enumerate(zip(months, cumulative)):
        for j, (col, name) in enumerate(columns.items()):
            rows.append(
                {
                    "month": month,
                    "part": name,
                    "rank": j,
                    "value": float(bill[col].iloc[i]),
                    "cumulative": float(total),
                    "first": j == 0,  # one row per month carries the cumulative line
                }
            )
    data = pd.DataFrame(rows)
    x = {"field": "month", "type": "nominal", "sort": months, "title": None, "axis": {"labelAngle": 0}}
    color_scale = {"domain": [*names, "cumulative"], "range": [*colors, CUMULATIVE_COLOR]}
    bars = {
        "mark": {"type": "bar"},
        "encoding": {
            "x": x,
            "y": {
                "field": "value",
                "type": "quantitative",
                "stack": "zero",
                "title": "Cost per month",
                "axis": {"format": MONEY_AXIS},
            },
            "color": {
                "field": "part",
                "type": "nominal",
                "scale": color_scale,
                "sort": names,
                "legend": vega.legend_bottom(None),
            },
            "order": {"field": "rank", "type": "quantitative", "sort": "ascending"},
            "tooltip": [
                {"field": "month", "type": "nominal", "title": "Month"},
                {"field": "part", "type": "nominal", "title": "Pays for"},
                {"field": "value", "type": "quantitative", "title": "Cost", "format": "$,.2f"},
            ],
        },
    }
    line = {
        "transform": [{"filter": "datum.first"}],
        "mark": {"type": "line", "point": True, "strokeWidth": 2},
        "encoding": {
            "x": x,
            "y": {
                "field": "cumulative",
                "type": "quantitative",
                "title": "Cumulative",
                # The right axis in whole dollars, without its own gridlines over the bars'.
                "axis": {"format": "$,.0f", "orient": "right", "grid": False},
            },
            "color": {"datum": "cumulative"},
            "tooltip": [
                {"field": "month", "type": "nominal", "title": "Month"},
                {"field": "cumulative", "type": "quantitative", "title": "So far", "format": "$,.2f"},
            ],
        },
    }
    spec = {
        "title": vega.title(title),
        "height": 340,
        "layer": [bars, line],
        "resolve": {"scale": {"y": "independent"}},
    }
    return data, spec


def token_tax(tax: pd.DataFrame) -> vega.Chart:
    """Tokens relative to English per language, one bar per tokenizer (`tokens.token_tax`), with
    a dotted rule at 1× English. Languages costliest first."""
    title = "Token tax: tokens for the same message, relative to English"
    if tax.empty:
        return vega.empty(title, "Choose at least one tokenizer")
    order = tax.groupby("language")["ratio_vs_english"].mean().sort_values(ascending=False).index.tolist()
    tokenizers = list(dict.fromkeys(tax["tokenizer"]))
    long = pd.DataFrame(
        {
            "category": list(tax["language"]),
            "series": list(tax["tokenizer"]),
            "value": tax["ratio_vs_english"].astype(float).tolist(),
            "tokens": tax["tokens"].tolist(),
        }
    )
    data, spec = vega.grouped_bars(
        long,
        categories=order,
        series_order=tokenizers,
        colors=[PALETTE[i % len(PALETTE)] for i in range(len(tokenizers))],
        chart_title=title,
        y_title="× English",
        y_format=".2f",
        height=360,
        category_title="Language",
        extra_tooltip=[{"field": "tokens", "type": "quantitative", "title": "Tokens", "format": ","}],
    )
    spec["encoding"]["y"]["axis"] = {"labelExpr": "format(datum.value, '.1~f') + '×'"}
    spec["encoding"]["y"]["scale"] = {"zero": True}
    spec["encoding"]["color"]["legend"]["title"] = "Tokenizer"
    spec["encoding"]["tooltip"][1]["title"] = "Tokenizer"
    english = {
        "data": {"values": [{"english": 1.0}]},
        "mark": {"type": "rule", "strokeDash": [2, 3], "color": vega.MUTED, "strokeWidth": 1.5},
        "encoding": {"y": {"field": "english", "type": "quantitative", "title": "× English"}},
    }
    bars = {"mark": spec.pop("mark"), "encoding": spec.pop("encoding")}
    spec["layer"] = [bars, english]
    return _category_labels((data, spec), len(order))


# ------------------------------------------------------------------ Reprice


def actual_vs_repriced(table: pd.DataFrame, group_label: str) -> vega.Chart:
    """Per group (the table's first 15): actual and repriced cost side by side, the delta in the
    tooltip. Columns: grp, actual_usd, repriced_usd, delta_usd. A missing cost draws no bar."""
    title = f"Actual vs repriced, by {group_label}"
    data = table.dropna(subset=["actual_usd", "repriced_usd"], how="all")
    if data.empty:
        return vega.empty(title, "No priced calls in this period")
    data = data.head(15)
    groups = [str(g) for g in data["grp"]]
    n = len(data)
    long = pd.DataFrame(
        {
            "category": groups * 2,
            "series": ["actual"] * n + ["repriced"] * n,
            "value": list(data["actual_usd"]) + list(data["repriced_usd"]),
            "delta": list(data["delta_usd"]) * 2,
        }
    )
    long = long.dropna(subset=["value"])
    chart = vega.grouped_bars(
        long,
        categories=groups,
        series_order=["actual", "repriced"],
        colors=[ACTUAL_COLOR, REPRICED_COLOR],
        chart_title=title,
        y_title="Cost (USD)",
        y_format=vega.USD_AXIS,
        category_title=group_label.capitalize(),
        extra_tooltip=[{"field": "delta", "type": "quantitative", "title": "Delta", "format": SIGNED_USD}],
    )
    _money_ticks(chart[1], "y")
    return _category_labels(chart, n)


def delta_bars(table: pd.DataFrame, group_label: str) -> vega.Chart:
    """Horizontal bars of repriced − actual per group (the table's first 15, in its order, the
    first on top): red costs more, green saves; each bar labelled with its signed amount at its
    outer end, and a rule at zero."""
    title = f"Change per {group_label} (repriced − actual)"
    rows = table.dropna(subset=["delta_usd"])
    if rows.empty:
        return vega.empty(title, "Nothing to compare")
    rows = rows.head(15)
    deltas = rows["delta_usd"].astype(float).tolist()
    data = pd.DataFrame(
        {
            "label": [fmt.label(g) for g in rows["grp"]],
            "value": deltas,
            "color": [UP_COLOR if v > 0 else DOWN_COLOR for v in deltas],
            "text": [_signed(v) for v in deltas],
            "side": ["up" if v > 0 else "down" for v in deltas],
        }
    )
    span = max(abs(v) for v in deltas) or 1.0
    lo = min(min(deltas), 0.0)
    hi = max(max(deltas), 0.0)
    # Room for the labels on whichever side has bars.
    scale = {"domain": [lo - 0.4 * span if lo < 0 else 0.0, hi + 0.4 * span if hi > 0 else 0.0], "nice": False}
    y = {"field": "label", "type": "nominal", "sort": None, "title": None, "axis": {"labelLimit": 180}}
    x = {"field": "value", "type": "quantitative", "title": None, "axis": {"format": MONEY_AXIS}, "scale": scale}
    text = {"field": "text", "type": "nominal"}
    label = {"type": "text", "baseline": "middle", "fontSize": 11, "color": LABEL_COLOR}
    layers = [
        {
            "mark": {"type": "bar"},
            "encoding": {
                "y": y,
                "x": x,
                "color": {"field": "color", "type": "nominal", "scale": None, "legend": None},
                "tooltip": [
                    {"field": "label", "type": "nominal", "title": group_label.capitalize()},
                    {"field": "value", "type": "quantitative", "title": "Change", "format": SIGNED_USD},
                ],
            },
        },
        {
            "transform": [{"filter": "datum.side == 'up'"}],
            "mark": {**label, "align": "left", "dx": 4},
            "encoding": {"y": y, "x": x, "text": text},
        },
        {
            "transform": [{"filter": "datum.side == 'down'"}],
            "mark": {**label, "align": "right", "dx": -4},
            "encoding": {"y": y, "x": x, "text": text},
        },
        {
            "data": {"values": [{"zero": 0.0}]},
            "mark": {"type": "rule", "color": vega.MUTED},
            "encoding": {"x": {"field": "zero", "type": "quantitative", "title": None}},
        },
    ]
    spec = {"title": vega.title(title), "height": max(160, 28 * len(data) + 60), "layer": layers}
    return data, spec


__all__ = [
    "spend_over_time",
    "spend_by",
    "reported_vs_computed",
    "tokens_by_tokenizer",
    "cost_per_model",
    "monthly_bill",
    "token_tax",
    "actual_vs_repriced",
    "delta_bars",
    "OTHER",
    "UNATTRIBUTED",
]
