"""Plotly figures for the What-if page, built fresh from DataFrames (never cached as resources)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from llmledger.ui import format as fmt
from llmledger.ui.charts import PALETTE, _layout

ROUTER, RANDOM, ORACLE, CHOSEN, FRONTIER = PALETTE[0], "#A0AEC0", PALETTE[2], "#E53E3E", PALETTE[1]


def _lay(fig: go.Figure, title: str, height: int, hovermode: str = "closest") -> go.Figure:
    """The shared layout, with the legend below the x axis's title (not over it)."""
    _layout(fig, title, height + 40)
    fig.update_layout(hovermode=hovermode, margin={"l": 10, "r": 10, "t": 40, "b": 70}, legend={"y": -0.22})
    return fig


def _pad(values, lo: float = 0.06, hi: float = 0.12) -> list[float]:
    """An axis range with room for the labels at its ends."""
    v = [float(x) for x in values if x == x]
    a, b = min(v), max(v)
    span = (b - a) or (abs(b) or 1.0)
    return [a - lo * span, b + hi * span]


def _quality_axis(unit: str) -> str:
    return "accuracy" if unit == "accuracy" else f"quality ({unit})"


def router_vs_share(
    curve: pd.DataFrame, random: pd.DataFrame, oracle: pd.DataFrame, chosen: dict, unit: str, title: str
):
    """Quality against the share of strong calls: the router's sweep, the random and oracle lines,
    the chosen operating point."""
    fig = go.Figure()
    fig.add_scatter(
        x=oracle["strong_share"] * 100,
        y=oracle["accuracy"],
        name="oracle (upper bound)",
        line={"color": ORACLE, "dash": "dot"},
    )
    fig.add_scatter(
        x=random["strong_share"] * 100,
        y=random["accuracy"],
        name="random router",
        line={"color": RANDOM, "dash": "dash"},
    )
    fig.add_scatter(
        x=curve["strong_share"] * 100, y=curve["accuracy"], name="this router", line={"color": ROUTER, "width": 3}
    )
    fig.add_scatter(
        x=[chosen["strong_share"] * 100],
        y=[chosen["accuracy"]],
        name="chosen point",
        mode="markers",
        marker={"color": CHOSEN, "size": 13, "symbol": "diamond"},
    )
    fig.update_xaxes(title="% of calls to the strong model", range=[0, 100])
    fig.update_yaxes(title=_quality_axis(unit))
    return _lay(fig, title, 400)


def quality_vs_cost(
    curve: pd.DataFrame,
    models: dict,
    oracle_pt: dict,
    chosen: dict,
    unit: str,
    title: str,
    random: pd.DataFrame | None = None,
    curve_name: str = "this router",
):
    """Quality against total cost: the policy's points with their Pareto frontier, each model
    alone, the random line, the oracle and the chosen point."""
    from llmledger.simulate.metrics import pareto_mask

    fig = go.Figure()
    fig.add_scatter(
        x=curve["cost_usd"],
        y=curve["accuracy"],
        name=curve_name,
        mode="markers",
        marker={"color": ROUTER, "size": 4, "opacity": 0.35},
    )
    mask = pareto_mask(curve["cost_usd"].to_numpy(), curve["accuracy"].to_numpy())
    front = curve[mask].sort_values("cost_usd")
    fig.add_scatter(
        x=front["cost_usd"],
        y=front["accuracy"],
        name="Pareto frontier",
        line={"color": FRONTIER, "width": 3, "shape": "hv"},
    )
    if random is not None:
        fig.add_scatter(
            x=random["cost_usd"], y=random["accuracy"], name="random router", line={"color": RANDOM, "dash": "dash"}
        )
    fig.add_scatter(
        x=[v["cost_usd"] for v in models.values()],
        y=[v["accuracy"] for v in models.values()],
        text=list(models),
        name="each model alone",
        mode="markers+text",
        textposition="top center",
        cliponaxis=False,
        marker={"color": "#2D3748", "size": 9},
    )
    fig.add_scatter(
        x=[oracle_pt["cost_usd"]],
        y=[oracle_pt["accuracy"]],
        name="oracle",
        mode="markers",
        marker={"color": ORACLE, "size": 12, "symbol": "star"},
    )
    fig.add_scatter(
        x=[chosen["cost_usd"]],
        y=[chosen["accuracy"]],
        name="chosen point",
        mode="markers",
        marker={"color": CHOSEN, "size": 13, "symbol": "diamond"},
    )
    xs = [*curve["cost_usd"], *(v["cost_usd"] for v in models.values()), oracle_pt["cost_usd"]]
    ys = [*curve["accuracy"], *(v["accuracy"] for v in models.values()), oracle_pt["accuracy"]]
    fig.update_xaxes(title="total cost over the dataset (USD)", tickprefix="$", range=_pad(xs, 0.12, 0.12))
    fig.update_yaxes(title=_quality_axis(unit), range=_pad(ys, 0.08, 0.12))
    return _lay(fig, title, 420)


def traffic_costs(result) -> go.Figure:
    """Monthly cost today, under the policy (with its band), and with every call on one model."""
    scale = float(result.monthly_baseline_usd) / float(result.baseline_usd) if float(result.baseline_usd) else 0.0
    names = ["today", "under the policy"] + [f"every call to {m}" for m in result.all_to_model_usd]
    values = [float(result.monthly_baseline_usd), float(result.monthly_policy_usd)] + [
        float(v) * scale for v in result.all_to_model_usd.values()
    ]
    low, high = float(result.policy_low_usd) * scale, float(result.policy_high_usd) * scale
    err_plus = [0.0, max(high - values[1], 0.0)] + [0.0] * len(result.all_to_model_usd)
    err_minus = [0.0, max(values[1] - low, 0.0)] + [0.0] * len(result.all_to_model_usd)
    colors = ["#718096", CHOSEN] + [PALETTE[(i + 3) % len(PALETTE)] for i in range(len(result.all_to_model_usd))]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=values,
            marker_color=colors,
            error_y={"type": "data", "array": err_plus, "arrayminus": err_minus, "visible": True},
            text=[f"${v:,.2f}" for v in values],
            textposition="auto",
        )
    )
    fig.update_yaxes(title="USD per month", tickprefix="$")
    return _lay(fig, f"Monthly cost of {fmt.plain_label(result.feature)}", 380).update_layout(showlegend=False)


def sensitivity_chart(df: pd.DataFrame, result) -> go.Figure:
    """Monthly cost as the policy's main rate moves, with today's cost, the strongest model alone,
    the break-even and the rate as chosen."""
    x = df["rate"] * 100
    fig = go.Figure()
    fig.add_scatter(x=x, y=df["monthly_policy_usd"], name="the policy", line={"color": ROUTER, "width": 3})
    fig.add_scatter(x=x, y=df["monthly_baseline_usd"], name="today", line={"color": "#718096", "dash": "dash"})
    fig.add_scatter(
        x=x,
        y=df["monthly_reference_usd"],
        name=df.attrs.get("reference", "reference"),
        line={"color": ORACLE, "dash": "dot"},
    )
    be = result.break_even
    if be and 0 < be["rate"] < 1:
        fig.add_vline(x=be["rate"] * 100, line={"color": CHOSEN, "dash": "dot"})
        fig.add_annotation(
            x=be["rate"] * 100,
            y=0.04,
            yref="paper",
            text=f"break-even {be['rate']:.1%}",
            showarrow=False,
            xanchor="left",
            xshift=4,
        )
    current = be["current"] if be else None
    if current is not None:
        y = float(np.interp(current, df["rate"], df["monthly_policy_usd"]))
        fig.add_scatter(
            x=[current * 100],
            y=[y],
            name="as chosen",
            mode="markers",
            marker={"color": CHOSEN, "size": 12, "symbol": "diamond"},
        )
    fig.update_xaxes(title=f"{df.attrs.get('x', 'rate')} (%)", range=[0, 100])
    fig.update_yaxes(title="USD per month", tickprefix="$", rangemode="tozero")
    return _lay(fig, "Cost as the rate moves", 380, hovermode="x unified")


def plan_candidates(months: list[str], plan_total: np.ndarray, lines: pd.DataFrame) -> go.Figure:
    """The plan's monthly total and each scenario's, with the scenario's band."""
    fig = go.Figure()
    fig.add_scatter(x=months, y=plan_total, name="Plan", line={"color": "#2D3748", "width": 3})
    for i, (name, g) in enumerate(lines.groupby("scenario", sort=False)):
        color = PALETTE[(i + 1) % len(PALETTE)]
        fig.add_scatter(
            x=g["month"], y=g["high_usd"], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
        )
        fig.add_scatter(
            x=g["month"],
            y=g["low_usd"],
            mode="lines",
            fill="tonexty",
            line={"width": 0},
            fillcolor=_alpha(color),
            name=f"{name} (band)",
            hoverinfo="skip",
        )
        fig.add_scatter(x=g["month"], y=g["total_usd"], name=f"what-if: {name}", line={"color": color, "dash": "dash"})
    fig.update_yaxes(title="USD per month", tickprefix="$", rangemode="tozero")
    return _lay(fig, "Plan with saved what-if scenarios", 380, hovermode="x unified")


def headline_bars(df: pd.DataFrame) -> go.Figure:
    """RouteLLM's headline (cost saved at 95% of GPT-4's quality) per benchmark: published, this
    lab's router, the oracle and the random router."""
    fig = go.Figure()
    colors = {"published (RouteLLM)": "#2D3748", "this lab's router": ROUTER, "oracle": ORACLE, "random": RANDOM}
    for col, color in colors.items():
        if col in df:
            fig.add_bar(
                x=df["benchmark"],
                y=df[col],
                name=col,
                marker_color=color,
                text=[f"{v:.0%}" if v == v and v is not None else "" for v in df[col]],
                textposition="outside",
            )
    fig.update_yaxes(title="cost saved at 95% of GPT-4's quality", tickformat=".0%", rangemode="tozero")
    return _lay(fig, "RouteLLM's headlines next to this lab's", 380).update_layout(barmode="group")


def _alpha(hex_color: str, a: float = 0.18) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{a})"
