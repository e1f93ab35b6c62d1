"""Plotly figures for the Budgets page: pure functions over alerts.evaluate results, fresh figures.

Budget, member and scope names come from users and telemetry: every one goes through
`fmt.plain_label` (Plotly reads HTML in text fields).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from llmledger.ui import format as fmt

ACTUAL, FORECAST, BAND, LIMIT, THRESH = "#2b6cb0", "#dd6b20", "rgba(221,107,32,0.18)", "#c53030", "#a0aec0"
STATE_COLORS = {"ok": "#38a169", "warning": "#d69e2e", "forecast over": "#dd6b20", "over": "#e53e3e"}


def _unit_axis(fig: go.Figure, unit: str, axis: str = "y") -> None:
    update = fig.update_yaxes if axis == "y" else fig.update_xaxes
    if unit == "usd":
        update(tickprefix="$", tickformat=",.2~f", rangemode="tozero", title=None, automargin=True)
    else:
        update(tickformat=",.3~s", rangemode="tozero", title=None, automargin=True, ticksuffix=" tok")


def _value(unit: str, v: float | None) -> str:
    if v is None:
        return "—"
    return fmt.usd(v) if unit == "usd" else f"{v:,.0f} tokens"


def progress(status, f=None) -> go.Figure:
    """One budget (or member) as a bullet bar: actual spend, the p10–p90 forecast span with its
    p50 marker, threshold ticks and the 100% line, all in percent of the amount."""
    b = status.budget
    f = f or status.worst
    state = status.state(f)
    pct = f.pct if f else 0.0
    fig = go.Figure()
    fig.add_bar(
        x=[pct],
        y=[""],
        orientation="h",
        marker_color=STATE_COLORS.get(state, ACTUAL),
        width=0.5,
        hovertemplate=fmt.plain_label(f"spent {_value(b.unit, f.spent if f else 0)} ({pct:.0f}%)") + "<extra></extra>",
        showlegend=False,
    )
    xmax = max(110.0, pct * 1.05)
    if f is not None and f.p50 is not None:
        fp = f.forecast_pct
        if f.p10 is not None and f.p90 is not None:
            lo, hi = 100 * f.p10 / f.amount, 100 * f.p90 / f.amount
            fig.add_shape(type="rect", x0=lo, x1=hi, y0=-0.12, y1=0.12, fillcolor=BAND, line_width=0)
            xmax = max(xmax, hi * 1.05)
        fig.add_scatter(
            x=[fp],
            y=[""],
            mode="markers",
            marker={"symbol": "diamond", "size": 13, "color": FORECAST, "line": {"width": 1, "color": "white"}},
            hovertemplate=fmt.plain_label(f"forecast at period end (p50) {_value(b.unit, f.p50)} ({fp:.0f}%)")
            + "<extra></extra>",
            showlegend=False,
        )
        xmax = max(xmax, fp * 1.05)
    for t in b.thresholds:
        if t.kind == "actual" and t.pct != 100:
            fig.add_vline(x=t.pct, line={"color": THRESH, "width": 1, "dash": "dot"})
    fig.add_vline(x=100, line={"color": LIMIT, "width": 2})
    fig.update_layout(
        height=84,
        margin={"l": 4, "r": 4, "t": 4, "b": 24},
        bargap=0,
        plot_bgcolor="#f7fafc",
        xaxis={
            "range": [0, min(xmax, 1100)],
            "ticksuffix": "%",
            "showgrid": False,
            "fixedrange": True,
            "tickfont": {"size": 10},
        },
        yaxis={"visible": False, "fixedrange": True},
    )
    return fig


def burn_up(status) -> go.Figure:
    """Cumulative actual spend of the period so far, the forecast band (p10–p90) and p50 path to
    the period end, and the budget and threshold lines."""
    b = status.budget
    fig = go.Figure()
    amount = float(b.amount)
    fc = status.forecast
    daily = status.daily
    if daily is not None and len(daily):
        cum = daily.cumsum()
        fig.add_scatter(
            x=list(cum.index),
            y=cum.to_numpy(),
            mode="lines+markers",
            name="actual",
            line={"color": ACTUAL, "width": 3},
            marker={"size": 5},
            hovertemplate="%{x|%b %d}: "
            + ("$%{y:,.2f}" if b.unit == "usd" else "%{y:,.0f} tokens")
            + "<extra>actual</extra>",
        )
    if fc is not None and len(fc.daily):
        ahead = fc.daily[fc.daily["p10"] != fc.daily["p90"]] if len(fc.daily) else fc.daily
        path = fc.daily
        if len(ahead):
            x = list(ahead["date"])
            fig.add_scatter(
                x=x + x[::-1],
                y=list(ahead["p90"]) + list(ahead["p10"])[::-1],
                fill="toself",
                mode="lines",
                fillcolor=BAND,
                line={"width": 0},
                name="forecast p10–p90",
                hoverinfo="skip",
            )
        fig.add_scatter(
            x=list(path["date"]),
            y=path["p50"],
            mode="lines",
            name="forecast p50",
            line={"color": FORECAST, "dash": "dash", "width": 2},
            hovertemplate="%{x|%b %d}: "
            + ("$%{y:,.2f}" if b.unit == "usd" else "%{y:,.0f} tokens")
            + "<extra>p50</extra>",
        )
    fig.add_hline(
        y=amount,
        line={"color": LIMIT, "width": 2},
        annotation_text=fmt.plain_label(f"budget {_value(b.unit, amount)}"),
        annotation_position="top left",
    )
    for t in b.thresholds:
        if t.kind == "actual" and t.pct != 100:
            fig.add_hline(
                y=amount * t.pct / 100,
                line={"color": THRESH, "width": 1, "dash": "dot"},
                annotation_text=f"{t.pct:g}%",
                annotation_position="right",
            )
    fig.update_layout(
        title={"text": fmt.plain_label(f"{b.name}: burn-up, {status.period_label()}"), "x": 0, "font": {"size": 15}},
        height=360,
        margin={"l": 10, "r": 40, "t": 48, "b": 10},
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 1, "xanchor": "right"},
    )
    _unit_axis(fig, b.unit)
    return fig


def history(status, past: pd.DataFrame, member: str | None = None) -> go.Figure:
    """Spent vs budget in past periods (and the current one so far); of one member for "each"."""
    b = status.budget
    fig = go.Figure()
    if not past.empty:
        colors = [LIMIT if s > float(b.amount) else ACTUAL for s in past["spent"]]
        fig.add_bar(
            x=fmt.plain_labels(past["label"]),
            y=past["spent"],
            marker_color=colors,
            name="spent",
            hovertemplate="%{x}: " + ("$%{y:,.2f}" if b.unit == "usd" else "%{y:,.0f} tokens") + "<extra></extra>",
        )
    who = f" by {b.each} {member}" if member else ""
    fig.add_hline(
        y=float(b.amount),
        line={"color": LIMIT, "width": 2, "dash": "dash"},
        annotation_text="budget",
        annotation_position="top left",
    )
    fig.update_layout(
        title={"text": fmt.plain_label(f"{b.name}: spent per {b.period}{who}"), "x": 0, "font": {"size": 15}},
        height=300,
        margin={"l": 10, "r": 10, "t": 48, "b": 10},
        showlegend=False,
    )
    _unit_axis(fig, b.unit)
    return fig


def members(status) -> go.Figure:
    """The members of an "each" budget closest to their limit, in percent."""
    b = status.budget
    rows = status.members[:15][::-1]
    fig = go.Figure()
    fig.add_bar(
        x=[f.pct for f in rows],
        y=fmt.plain_labels(f.member for f in rows),
        orientation="h",
        marker_color=[STATE_COLORS.get(status.state(f), ACTUAL) for f in rows],
        customdata=[_value(b.unit, f.spent) for f in rows],
        hovertemplate="%{y}: %{customdata} (%{x:.0f}%)<extra></extra>",
    )
    fig.add_vline(x=100, line={"color": LIMIT, "width": 2})
    fig.update_layout(
        title={
            "text": fmt.plain_label(f"{b.name}: {b.each} closest to {_value(b.unit, float(b.amount))}"),
            "x": 0,
            "font": {"size": 15},
        },
        height=max(220, 26 * len(rows) + 80),
        margin={"l": 10, "r": 10, "t": 48, "b": 10},
        xaxis={"ticksuffix": "%"},
    )
    return fig
