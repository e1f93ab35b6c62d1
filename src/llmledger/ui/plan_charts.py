"""Plotly figures for the Plan page: pure functions from planning results to new figures.

Nothing here is cached as a resource (a figure is mutable and per session).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from llmledger.planning.projection import PLAN, Projection

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6",
           "#9D755D", "#BAB0AC"]


def _layout(fig: go.Figure, title: str, ytitle: str = "USD per month") -> go.Figure:
    fig.update_layout(title=title, height=380, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
                      yaxis_title=ytitle, hovermode="x unified", template="plotly_white")
    return fig


def projection_chart(proj: Projection, scenario: str = PLAN) -> go.Figure:
    """Stacked monthly bill per use case, the total's P90 when there is a band, and the budget."""
    s = proj.scenario_index(scenario)
    fig = go.Figure()
    for u, name in enumerate(proj.use_cases):
        fig.add_bar(x=proj.months, y=proj.cost[s, u], name=name, marker_color=PALETTE[u % len(PALETTE)],
                    hovertemplate="%{y:$,.2f}")
    p90 = proj.total_p90(scenario)
    total = proj.total(scenario)
    if np.any(p90 - total > 1e-9):
        fig.add_scatter(x=proj.months, y=p90, name="P90 total", mode="lines",
                        line=dict(color="#333", dash="dot"), hovertemplate="%{y:$,.2f}")
    budgeted = ~np.isnan(proj.budget)
    if budgeted.any():
        fig.add_scatter(x=proj.months, y=np.full(len(proj.months), proj.budget[budgeted].sum()),
                        name="Budget (budgeted use cases)", mode="lines",
                        line=dict(color="#E45756", dash="dash"), hovertemplate="%{y:$,.2f}")
    fig.update_layout(barmode="stack")
    return _layout(fig, f"Monthly bill — {scenario}")


def use_case_band_chart(proj: Projection, use_case: str, scenario: str = PLAN) -> go.Figure:
    """One use case: P50 line, P50–P90 band, its budget line and the month it is first exceeded."""
    s, u = proj.scenario_index(scenario), proj.use_cases.index(use_case)
    p50, p90 = proj.cost[s, u], proj.p90[s, u]
    fig = go.Figure()
    fig.add_scatter(x=proj.months, y=p90, name="P90", mode="lines", line=dict(width=0, color="#4C78A8"),
                    hovertemplate="%{y:$,.2f}")
    fig.add_scatter(x=proj.months, y=p50, name="P50", mode="lines+markers", fill="tonexty",
                    fillcolor="rgba(76,120,168,0.2)", line=dict(color="#4C78A8"), hovertemplate="%{y:$,.2f}")
    b = proj.budget[u]
    if not np.isnan(b):
        fig.add_hline(y=b, line=dict(color="#E45756", dash="dash"), annotation_text=f"budget ${b:,.0f}")
        over = np.nonzero(p50 > b)[0]
        if len(over):
            fig.add_vline(x=over[0], line=dict(color="#E45756", width=1))
            fig.add_annotation(x=proj.months[over[0]], y=p50[over[0]], text=f"over budget from {proj.months[over[0]]}",
                               showarrow=True, arrowhead=2, ax=-40, ay=-40)
    return _layout(fig, f"{use_case} — {proj.models[s][u] or 'no model'}")


def candidates_chart(proj: Projection) -> go.Figure:
    """Total monthly bill of each scenario side by side (lines), P90 as a dotted twin."""
    fig = go.Figure()
    for i, sc in enumerate(proj.scenarios):
        color = PALETTE[i % len(PALETTE)]
        fig.add_scatter(x=proj.months, y=proj.total(sc), name=sc, mode="lines+markers",
                        line=dict(color=color, width=3 if sc == PLAN else 2), hovertemplate="%{y:$,.2f}")
        p90 = proj.total_p90(sc)
        if np.any(p90 - proj.total(sc) > 1e-9):
            fig.add_scatter(x=proj.months, y=p90, name=f"{sc} P90", mode="lines", showlegend=False,
                            line=dict(color=color, dash="dot", width=1), hovertemplate="%{y:$,.2f}")
    return _layout(fig, "Total monthly bill by model")


def variance_waterfall(planned: float, effects, actual: float) -> go.Figure:
    """Planned cost → each effect → actual cost. `effects` has columns effect, usd."""
    labels = ["Planned"] + list(effects["effect"]) + ["Actual"]
    values = [planned] + [float(v) for v in effects["usd"]] + [actual]
    fig = go.Figure(go.Waterfall(
        x=labels, y=values, measure=["absolute"] + ["relative"] * len(effects) + ["total"],
        text=[f"${v:,.2f}" for v in values], textposition="outside",
        increasing=dict(marker_color="#E45756"), decreasing=dict(marker_color="#54A24B"),
        totals=dict(marker_color="#4C78A8"), connector=dict(line=dict(color="#999"))))
    fig = _layout(fig, "Cost variance: planned → actual", ytitle="USD")
    fig.update_layout(showlegend=False, hovermode="closest")
    return fig


def daily_chart(by_day) -> go.Figure:
    """Planned vs actual calls per day (`by_day` from plan_vs_actual)."""
    fig = go.Figure()
    fig.add_scatter(x=by_day["day"], y=by_day["planned_calls"], name="Planned calls", mode="lines",
                    line=dict(color="#4C78A8", dash="dash"))
    fig.add_scatter(x=by_day["day"], y=by_day["actual_calls"], name="Actual calls", mode="lines",
                    line=dict(color="#F58518"))
    return _layout(fig, "Calls per day: plan vs actual", ytitle="calls")


def shortlist_chart(eligible, top: int = 15) -> go.Figure:
    """Horizon cost of the cheapest eligible models (horizontal bars, cheapest on top)."""
    d = eligible.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=d["horizon_total_usd"], y=d["model"], orientation="h",
                           marker_color="#4C78A8", hovertemplate="%{x:$,.2f}<extra></extra>"))
    fig = _layout(fig, f"Projected cost over the horizon (top {min(top, len(eligible))})", ytitle="")
    fig.update_layout(xaxis_title="USD", height=max(260, 28 * len(d) + 90), hovermode="closest")
    return fig
