"""Vega-Lite charts for the Budgets page: pure functions over alerts.evaluate results, each
returning a `vega.Chart` (data, spec) that the page draws with `vega.show`.

Why Vega-Lite: every budget card draws a chart, so the page's first view would otherwise load and
run Streamlit's 4.7 MB Plotly bundle (2.9x a one-line page in bench/bench_pages.py; Vega-Lite 1.1x).

Budget, member and scope names come from users and telemetry: they reach the data and titles as
written (`fmt.label`); Vega draws text literally, so nothing is HTML-escaped.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from llmledger.ui import format as fmt
from llmledger.ui import vega

ACTUAL, FORECAST, BAND, LIMIT, THRESH = "#2b6cb0", "#dd6b20", "rgba(221,107,32,0.22)", "#c53030", "#a0aec0"
STATE_COLORS = {"ok": "#38a169", "warning": "#d69e2e", "forecast over": "#dd6b20", "over": "#e53e3e"}
#: The burn-up's series, in legend order, and their colours.
SERIES = {"actual": ACTUAL, "forecast p50": FORECAST, "forecast p10–p90": BAND}
PCT_LABELS = "datum.value + '%'"


def _value(unit: str, v: float | None) -> str:
    if v is None:
        return "—"
    return fmt.usd(v) if unit == "usd" else f"{v:,.0f} tokens"


def _unit_axis(unit: str) -> dict:
    """The y axis of a money (or token) amount: "$1,234.5" or "1.2k tok", from zero."""
    if unit == "usd":
        return {"format": "$,.2~f", "title": None}
    return {"labelExpr": "format(datum.value, ',.3~s') + ' tok'", "title": None}


def _tip_format(unit: str) -> str:
    return "$,.2f" if unit == "usd" else ",.0f"


def _day(d: Any) -> str:
    return pd.Timestamp(d).strftime("%Y-%m-%d")


def _only(kind: str) -> list[dict]:
    return [{"filter": {"field": "kind", "equal": kind}}]


def _labelled_rule(values: list[dict], rule: dict, tooltip: list[dict], label: dict, label_x: int | str) -> list[dict]:
    """Two layers over inline `values`: a horizontal rule at each row's `y` (the `rule` mark's
    style, `tooltip` on hover) and its `label` text, left-aligned at `label_x` (0: the plot's left
    edge; "width": just past its right edge)."""
    y = {"field": "y", "type": "quantitative"}
    return [
        {"data": {"values": values}, "mark": {"type": "rule", **rule}, "encoding": {"y": y, "tooltip": tooltip}},
        {
            "data": {"values": values},
            "mark": {"type": "text", "align": "left", **label},
            "encoding": {"y": y, "x": {"value": label_x}, "text": {"field": "label", "type": "nominal"}},
        },
    ]


def progress(status, f=None) -> vega.Chart:
    """One budget (or member) as a bullet bar: actual spend, the p10–p90 forecast span with its
    p50 marker, threshold ticks and the 100% line, all in percent of the amount.

    Data: one row per mark, `kind` in spent | band | forecast | threshold | limit, at `x` (to
    `x2` for the band), with its tooltip text `tip`."""
    b = status.budget
    f = f or status.worst
    state = status.state(f)
    pct = f.pct if f else 0.0
    rows: list[dict] = [
        {
            "kind": "spent",
            "x": pct,
            "x2": None,
            "color": STATE_COLORS.get(state, ACTUAL),
            "tip": f"spent {_value(b.unit, f.spent if f else 0)} ({pct:.0f}%)",
        }
    ]
    xmax = max(110.0, pct * 1.05)
    if f is not None and f.p50 is not None:
        fp = f.forecast_pct
        if f.p10 is not None and f.p90 is not None:
            lo, hi = 100 * f.p10 / f.amount, 100 * f.p90 / f.amount
            rows.append(
                {
                    "kind": "band",
                    "x": lo,
                    "x2": hi,
                    "color": BAND,
                    "tip": f"forecast p10–p90 {_value(b.unit, f.p10)}–{_value(b.unit, f.p90)} ({lo:.0f}–{hi:.0f}%)",
                }
            )
            xmax = max(xmax, hi * 1.05)
        rows.append(
            {
                "kind": "forecast",
                "x": fp,
                "x2": None,
                "color": FORECAST,
                "tip": f"forecast at period end (p50) {_value(b.unit, f.p50)} ({fp:.0f}%)",
            }
        )
        xmax = max(xmax, fp * 1.05)
    for t in b.thresholds:
        if t.kind == "actual" and t.pct != 100:
            rows.append({"kind": "threshold", "x": t.pct, "x2": None, "color": THRESH, "tip": f"threshold {t.pct:g}%"})
    rows.append(
        {
            "kind": "limit",
            "x": 100.0,
            "x2": None,
            "color": LIMIT,
            "tip": f"budget {_value(b.unit, f.amount if f else float(b.amount))}",
        }
    )
    data = pd.DataFrame(rows)
    x = {
        "field": "x",
        "type": "quantitative",
        "title": None,
        "scale": {"domain": [0, min(xmax, 1100.0)], "nice": False, "clamp": True},
        "axis": {"labelExpr": PCT_LABELS, "grid": False, "labelFontSize": 10, "tickCount": 6},
    }
    tip = [{"field": "tip", "type": "nominal", "title": None}]
    # One band on a nominal y (every row is ""), so the bar and the forecast span can take a share
    # of the element's height whatever height Streamlit gives it; rules span the whole height.
    data["row"] = ""
    y = {"field": "row", "type": "nominal", "axis": None, "scale": {"paddingInner": 0, "paddingOuter": 0}}
    layers = [
        {
            "transform": _only("spent"),
            "mark": {"type": "bar", "color": STATE_COLORS.get(state, ACTUAL), "height": {"band": 0.6}},
            "encoding": {"x": x, "x2": {"datum": 0}, "y": y, "tooltip": tip},
        },
        {
            "transform": _only("band"),
            "mark": {"type": "bar", "color": BAND, "height": {"band": 0.3}},
            "encoding": {"x": x, "x2": {"field": "x2"}, "y": y, "tooltip": tip},
        },
        {
            "transform": _only("threshold"),
            "mark": {"type": "rule", "color": THRESH, "strokeWidth": 1, "strokeDash": [2, 2]},
            "encoding": {"x": x, "tooltip": tip},
        },
        {
            "transform": _only("limit"),
            "mark": {"type": "rule", "color": LIMIT, "strokeWidth": 2},
            "encoding": {"x": x, "tooltip": tip},
        },
        {
            "transform": _only("forecast"),
            "mark": {
                "type": "point",
                "shape": "diamond",
                "filled": True,
                "size": 150,
                "color": FORECAST,
                "stroke": "white",
                "strokeWidth": 1,
                "opacity": 1,
            },
            "encoding": {"x": x, "y": y, "tooltip": tip},
        },
    ]
    spec = {
        "height": 64,
        "layer": layers,
        "config": {"view": {"stroke": None, "fill": "#f7fafc"}},
    }
    return data, spec


def burn_up(status) -> vega.Chart:
    """Cumulative actual spend of the period so far, the forecast band (p10–p90) and p50 path to
    the period end, and the budget and threshold lines.

    Data: one row per day and series (`kind` actual | p50), `day` as an ISO date, `value` the
    cumulative amount, and on p50 rows `lo`/`hi` (p10/p90) and `ahead` (the days still to come,
    where the band has a width). The budget and threshold lines are inline data of their layers."""
    b = status.budget
    amount = float(b.amount)
    fc = status.forecast
    daily = status.daily
    rows: list[dict] = []
    if daily is not None and len(daily):
        cum = daily.cumsum()
        for d, v in cum.items():
            rows.append({"kind": "actual", "day": _day(d), "value": float(v), "lo": None, "hi": None, "ahead": False})
    if fc is not None and len(fc.daily):
        for r in fc.daily.itertuples(index=False):
            rows.append(
                {
                    "kind": "p50",
                    "day": _day(r.date),
                    "value": float(r.p50),
                    "lo": float(r.p10),
                    "hi": float(r.p90),
                    "ahead": bool(r.p10 != r.p90),
                }
            )
    data = pd.DataFrame(rows, columns=["kind", "day", "value", "lo", "hi", "ahead"])
    data["when"] = [pd.Timestamp(d).strftime("%a %b %d") for d in data["day"]]
    data["series"] = ["actual" if k == "actual" else "forecast p50" for k in data["kind"]]
    money = _tip_format(b.unit)
    x = {
        **vega.time_axis("day"),
        "axis": {
            "labelOverlap": True,
            "grid": False,
            "format": "%b %d",
            "tickCount": {"interval": "day", "step": 1},
        },
    }
    y = {"field": "value", "type": "quantitative", "scale": {"zero": True}, "axis": _unit_axis(b.unit)}
    color_scale = {"domain": list(SERIES), "range": list(SERIES.values())}
    legend = {"orient": "top", "direction": "horizontal", "title": None, "symbolType": "stroke", "symbolStrokeWidth": 3}

    color = {"field": "series", "type": "nominal", "scale": color_scale, "legend": legend}

    layers: list[dict] = [
        {
            "transform": [
                *_only("p50"),
                {"filter": "datum.ahead"},
                {"calculate": "'forecast p10–p90'", "as": "series"},
            ],
            "mark": {"type": "area", "opacity": 1},
            "encoding": {
                "x": x,
                "y": {**y, "field": "lo"},
                "y2": {"field": "hi"},
                "color": color,
            },
        },
        {
            "transform": _only("p50"),
            "mark": {"type": "line", "strokeDash": [6, 4], "strokeWidth": 2, "point": {"size": 16, "filled": True}},
            "encoding": {
                "x": x,
                "y": y,
                "color": color,
                "tooltip": [
                    {"field": "when", "type": "nominal", "title": "Day"},
                    {"field": "value", "type": "quantitative", "title": "forecast p50", "format": money},
                    {"field": "lo", "type": "quantitative", "title": "p10", "format": money},
                    {"field": "hi", "type": "quantitative", "title": "p90", "format": money},
                ],
            },
        },
        {
            "transform": _only("actual"),
            "mark": {"type": "line", "strokeWidth": 3, "point": {"size": 30, "filled": True}},
            "encoding": {
                "x": x,
                "y": y,
                "color": color,
                "tooltip": [
                    {"field": "when", "type": "nominal", "title": "Day"},
                    {"field": "value", "type": "quantitative", "title": "actual (cumulative)", "format": money},
                ],
            },
        },
    ]
    lines = [{"y": amount, "label": f"budget {_value(b.unit, amount)}", "kind": "budget"}]
    for t in b.thresholds:
        if t.kind == "actual" and t.pct != 100:
            lines.append({"y": amount * t.pct / 100, "label": f"{t.pct:g}%", "kind": "threshold"})
    line_tip = [
        {"field": "label", "type": "nominal", "title": "Line"},
        {"field": "y", "type": "quantitative", "title": "Amount", "format": money},
    ]
    budget_line = [ln for ln in lines if ln["kind"] == "budget"]
    thresholds = [ln for ln in lines if ln["kind"] == "threshold"]
    layers += _labelled_rule(
        budget_line,
        {"color": LIMIT, "strokeWidth": 2},
        line_tip,
        {"baseline": "bottom", "dx": 4, "dy": -3, "color": LIMIT, "fontSize": 12},
        0,
    )
    if thresholds:
        layers += _labelled_rule(
            thresholds,
            {"color": THRESH, "strokeWidth": 1, "strokeDash": [2, 3]},
            line_tip,
            {"baseline": "middle", "dx": 4, "color": "#718096", "fontSize": 11},
            "width",
        )
    subtitle = None if rows else "No calls in this period yet"
    spec = {
        "title": vega.title(f"{b.name}: burn-up, {status.period_label()}", subtitle),
        "height": 380,
        "layer": layers,
        "padding": {"right": 36},
    }
    return data, spec


def history(status, past: pd.DataFrame, member: str | None = None) -> vega.Chart:
    """Spent vs budget in past periods (and the current one so far); of one member for "each".

    Data: one row per period, oldest first: `label`, `spent`, `over` (spent above the amount,
    drawn red) and its colour."""
    b = status.budget
    amount = float(b.amount)
    spent = (
        pd.to_numeric(past["spent"], errors="coerce").fillna(0.0).astype(float)
        if len(past)
        else pd.Series([], dtype=float)
    )
    data = pd.DataFrame(
        {
            "label": [str(v) for v in past["label"]] if len(past) else [],
            "spent": spent.tolist(),
            "over": [bool(s > amount) for s in spent],
        }
    )
    data["color"] = [LIMIT if o else ACTUAL for o in data["over"]]
    who = f" by {b.each} {fmt.label(member)}" if member else ""
    money = _tip_format(b.unit)
    x = {"field": "label", "type": "nominal", "sort": None, "title": None, "axis": {"labelAngle": 0, "labelLimit": 140}}
    line = [{"y": amount, "label": "budget", "amount": _value(b.unit, amount)}]
    spec = {
        "title": vega.title(f"{b.name}: spent per {b.period}{who}"),
        "height": 300,
        "layer": [
            {
                "mark": {"type": "bar"},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "spent",
                        "type": "quantitative",
                        "scale": {"zero": True},
                        "axis": _unit_axis(b.unit),
                    },
                    "color": {"field": "color", "type": "nominal", "scale": None, "legend": None},
                    "tooltip": [
                        {"field": "label", "type": "nominal", "title": b.period.capitalize()},
                        {"field": "spent", "type": "quantitative", "title": "Spent", "format": money},
                    ],
                },
            },
            *_labelled_rule(
                line,
                {"color": LIMIT, "strokeWidth": 2, "strokeDash": [6, 4]},
                [{"field": "amount", "type": "nominal", "title": "Budget"}],
                {"baseline": "middle", "dx": 4, "color": LIMIT},
                "width",
            ),
        ],
        "padding": {"right": 52},
    }
    return data, spec


def members(status) -> vega.Chart:
    """The members of an "each" budget closest to their limit, in percent (the closest on top).

    Data: one row per member (at most 15): `member` as written, `pct`, `spent` (text), `state`
    and its colour."""
    b = status.budget
    rows = status.members[:15]
    data = pd.DataFrame(
        {
            "member": [fmt.label(f.member) for f in rows],
            "pct": [float(f.pct) for f in rows],
            "spent": [_value(b.unit, f.spent) for f in rows],
            "state": [status.state(f) for f in rows],
        }
    )
    data["color"] = [STATE_COLORS.get(s, ACTUAL) for s in data["state"]]
    xmax = max([110.0, *(p * 1.05 for p in data["pct"])])
    x = {
        "field": "pct",
        "type": "quantitative",
        "title": None,
        "scale": {"domain": [0, xmax], "nice": False},
        "axis": {"labelExpr": PCT_LABELS},
    }
    spec = {
        "title": vega.title(f"{b.name}: {b.each} closest to {_value(b.unit, float(b.amount))}"),
        "height": max(220, 26 * len(rows) + 90),
        "layer": [
            {
                "mark": {"type": "bar"},
                "encoding": {
                    "y": {
                        "field": "member",
                        "type": "nominal",
                        "sort": None,
                        "title": None,
                        "axis": {"labelLimit": 240},
                    },
                    "x": x,
                    "color": {"field": "color", "type": "nominal", "scale": None, "legend": None},
                    "tooltip": [
                        {"field": "member", "type": "nominal", "title": (b.each or "member").capitalize()},
                        {"field": "spent", "type": "nominal", "title": "Spent"},
                        {"field": "pct", "type": "quantitative", "title": "% of budget", "format": ".0f"},
                        {"field": "state", "type": "nominal", "title": "State"},
                    ],
                },
            },
            {
                "data": {"values": [{"x": 100.0}]},
                "mark": {"type": "rule", "color": LIMIT, "strokeWidth": 2},
                "encoding": {"x": {"field": "x", "type": "quantitative"}},
            },
        ],
    }
    return data, spec


__all__ = ["progress", "burn_up", "history", "members", "STATE_COLORS"]
