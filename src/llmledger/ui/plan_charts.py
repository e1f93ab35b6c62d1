"""Plotly figures for the Plan page: pure functions from planning results to new figures.

Figures are built as plain dicts and wrapped without Plotly's per-property validation
(`_validate=False`): validating ~50 traces costs tens of milliseconds per chart, more than the
whole projection, and the page redraws on every edit. tests/test_planning_charts.py rebuilds each
figure with validation on, so a malformed spec still fails a test. Nothing here is cached as a
resource (a figure is mutable and per session); Streamlit applies its own theme. Use case, model
and scenario names go through `fmt.plain_label`: Plotly reads HTML in names, labels and titles.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from llmledger.planning.projection import PLAN, Projection
from llmledger.ui import format as fmt

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC"]
MONEY_HOVER = "%{y:$,.2f}"


def _figure(traces: list[dict], title: str, ytitle: str = "USD per month", **layout) -> go.Figure:
    base = dict(
        title=dict(text=title),
        height=380,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        yaxis=dict(title=dict(text=ytitle)),
        hovermode="x unified",
    )
    base.update(layout)
    return go.Figure({"data": traces, "layout": base}, _validate=False)


def _list(a) -> list:
    return np.asarray(a, dtype=float).tolist()


def _hline(y: float, color: str = "#E45756") -> dict:
    return dict(
        type="line", xref="paper", x0=0, x1=1, yref="y", y0=y, y1=y, line=dict(color=color, dash="dash", width=2)
    )


def projection_chart(proj: Projection, scenario: str = PLAN) -> go.Figure:
    """Stacked monthly bill per use case, the total's P90 when there is a band, and the budget."""
    s = proj.scenario_index(scenario)
    traces = [
        dict(
            type="bar",
            x=proj.months,
            y=_list(proj.cost[s, u]),
            name=fmt.plain_label(name),
            marker=dict(color=PALETTE[u % len(PALETTE)]),
            hovertemplate=MONEY_HOVER,
        )
        for u, name in enumerate(proj.use_cases)
    ]
    p90, total = proj.total_p90(scenario), proj.total(scenario)
    if np.any(p90 - total > 1e-9):
        traces.append(
            dict(
                type="scatter",
                x=proj.months,
                y=_list(p90),
                name="P90 total",
                mode="lines",
                line=dict(color="#333333", dash="dot"),
                hovertemplate=MONEY_HOVER,
            )
        )
    budgeted = ~np.isnan(proj.budget)
    if budgeted.any():
        traces.append(
            dict(
                type="scatter",
                x=proj.months,
                y=[float(proj.budget[budgeted].sum())] * len(proj.months),
                name="Sum of monthly budgets",
                mode="lines",
                line=dict(color="#E45756", dash="dash"),
                hovertemplate=MONEY_HOVER,
            )
        )
    return _figure(traces, fmt.plain_label(f"Monthly bill — {scenario}"), barmode="stack")


def use_case_band_chart(proj: Projection, use_case: str, scenario: str = PLAN) -> go.Figure:
    """One use case: P50 line, P50–P90 band, its budget line and the month it is first exceeded."""
    s, u = proj.scenario_index(scenario), proj.use_cases.index(use_case)
    p50, p90 = proj.cost[s, u], proj.p90[s, u]
    traces = [
        dict(
            type="scatter",
            x=proj.months,
            y=_list(p90),
            name="P90",
            mode="lines",
            line=dict(width=0, color="#4C78A8"),
            hovertemplate=MONEY_HOVER,
        ),
        dict(
            type="scatter",
            x=proj.months,
            y=_list(p50),
            name="P50",
            mode="lines+markers",
            fill="tonexty",
            fillcolor="rgba(76,120,168,0.2)",
            line=dict(color="#4C78A8"),
            hovertemplate=MONEY_HOVER,
        ),
    ]
    shapes, notes = [], []
    b = proj.budget[u]
    if not np.isnan(b):
        shapes.append(_hline(float(b)))
        notes.append(
            dict(
                xref="paper",
                x=1,
                y=float(b),
                yref="y",
                text=f"budget ${b:,.2f}",
                showarrow=False,
                xanchor="right",
                yanchor="bottom",
                font=dict(color="#E45756"),
            )
        )
        m = proj.budget_breaches(scenario).get(use_case)  # the headline's computation
        if m is not None:
            notes.append(
                dict(
                    x=m,
                    y=float(p50[proj.months.index(m)]),
                    text=f"over budget from {m}",
                    showarrow=True,
                    arrowhead=2,
                    ax=-50,
                    ay=-40,
                )
            )
    title = fmt.plain_label(f"{use_case} — {proj.models[s][u] or 'no model'}")
    return _figure(traces, title, shapes=shapes, annotations=notes)


def candidates_chart(proj: Projection) -> go.Figure:
    """Total monthly bill of each scenario side by side (lines), P90 as a dotted twin."""
    traces = []
    for i, sc in enumerate(proj.scenarios):
        color = PALETTE[i % len(PALETTE)]
        total = proj.total(sc)
        traces.append(
            dict(
                type="scatter",
                x=proj.months,
                y=_list(total),
                name=fmt.plain_label(sc),
                mode="lines+markers",
                line=dict(color=color, width=3 if sc == PLAN else 2),
                hovertemplate=MONEY_HOVER,
            )
        )
        p90 = proj.total_p90(sc)
        if np.any(p90 - total > 1e-9):
            traces.append(
                dict(
                    type="scatter",
                    x=proj.months,
                    y=_list(p90),
                    name=fmt.plain_label(f"{sc} P90"),
                    mode="lines",
                    showlegend=False,
                    line=dict(color=color, dash="dot", width=1),
                    hovertemplate=MONEY_HOVER,
                )
            )
    return _figure(traces, "Total monthly bill by model")


def variance_waterfall(planned: float, effects, actual: float) -> go.Figure:
    """Planned cost → each effect → actual cost. `effects` has columns effect, usd."""
    labels = ["Planned"] + fmt.plain_labels(effects["effect"]) + ["Actual"]
    values = [float(planned)] + [float(v) for v in effects["usd"]] + [float(actual)]
    trace = dict(
        type="waterfall",
        x=labels,
        y=values,
        measure=["absolute"] + ["relative"] * len(effects) + ["total"],
        text=[f"${v:,.2f}" for v in values],
        textposition="outside",
        increasing=dict(marker=dict(color="#E45756")),
        decreasing=dict(marker=dict(color="#54A24B")),
        totals=dict(marker=dict(color="#4C78A8")),
        connector=dict(line=dict(color="#999999")),
    )
    return _figure([trace], "Cost variance: planned → actual", ytitle="USD", showlegend=False, hovermode="closest")


def daily_chart(by_day) -> go.Figure:
    """Planned vs actual calls per day (`by_day` from plan_vs_actual)."""
    days = [str(d) for d in by_day["day"]]
    traces = [
        dict(
            type="scatter",
            x=days,
            y=_list(by_day["planned_calls"]),
            name="Planned calls",
            mode="lines",
            line=dict(color="#4C78A8", dash="dash"),
        ),
        dict(
            type="scatter",
            x=days,
            y=_list(by_day["actual_calls"]),
            name="Actual calls",
            mode="lines",
            line=dict(color="#F58518"),
        ),
    ]
    return _figure(traces, "Calls per day: plan vs actual", ytitle="calls")


def shortlist_chart(eligible, top: int = 15) -> go.Figure:
    """Horizon cost of the cheapest eligible models (horizontal bars, cheapest on top)."""
    d = eligible.head(top).iloc[::-1]
    trace = dict(
        type="bar",
        x=_list(d["horizon_total_usd"]),
        y=fmt.plain_labels(d["model"]),
        orientation="h",
        marker=dict(color="#4C78A8"),
        hovertemplate="%{x:$,.2f}<extra></extra>",
    )
    return _figure(
        [trace],
        f"Projected cost over the horizon (top {min(top, len(eligible))})",
        ytitle="",
        xaxis=dict(title=dict(text="USD")),
        height=max(260, 28 * len(d) + 90),
        hovermode="closest",
    )
