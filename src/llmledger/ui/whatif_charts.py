"""Charts for the What-if page, built fresh from DataFrames (never cached as resources).

The dataset lab's and the reproductions' charts (router_vs_share, quality_vs_cost, headline_bars)
are Vega-Lite (`vega.Chart`, drawn with `vega.show`): the page opens on the dataset lab, and a tab
drawing any Plotly figure first loads Streamlit's 4.7 MB Plotly bundle (2.9x a one-line page in
bench/bench_pages.py; Vega-Lite 1.1x). Apply to traffic and the Plan candidates stay Plotly.
Model names reach Vega-Lite as written (`fmt.label`); Plotly text goes through `fmt.plain_label`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from llmledger.ui import format as fmt
from llmledger.ui import vega
from llmledger.ui.charts import PALETTE, _layout

ROUTER, RANDOM, ORACLE, CHOSEN, FRONTIER = PALETTE[0], "#A0AEC0", PALETTE[2], "#E53E3E", PALETTE[1]
#: router_vs_share's series, in legend order.
SHARE_SERIES = ["oracle (upper bound)", "random router", "this router", "chosen point"]
#: quality_vs_cost's fixed series after the policy's own (and the random line when drawn).
COST_SERIES = ["each model alone", "oracle", "chosen point"]


#: A legend under the chart whose symbols read whatever the mark's size or opacity (a faint cloud
#: of points, a big diamond), three to a row so a half-width column does not clip them.
LEGEND = {**vega.legend_bottom(None), "columns": 3, "symbolSize": 90, "symbolOpacity": 1, "labelLimit": 200}


def _scale(order: list[str]) -> dict:
    colors = {"oracle (upper bound)": ORACLE, "random router": RANDOM, "this router": ROUTER, "chosen point": CHOSEN}
    return {"domain": order, "range": [colors[s] for s in order]}


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
) -> vega.Chart:
    """(Vega-Lite) Quality against the share of strong calls: the router's sweep, the random and
    oracle lines, the chosen operating point.

    Data: one row per point, `series` in SHARE_SERIES, `share` (% of calls to the strong model) and
    `quality`."""
    parts = []
    for name, frame in (("oracle (upper bound)", oracle), ("random router", random), ("this router", curve)):
        parts.append(pd.DataFrame({"series": name, "share": frame["strong_share"] * 100, "quality": frame["accuracy"]}))
    parts.append(
        pd.DataFrame(
            {"series": ["chosen point"], "share": [chosen["strong_share"] * 100], "quality": [chosen["accuracy"]]}
        )
    )
    data = pd.concat(parts, ignore_index=True)
    data["share"] = data["share"].astype(float)
    data["quality"] = pd.to_numeric(data["quality"], errors="coerce").astype(float)
    q = _quality_axis(unit)
    x = {
        "field": "share",
        "type": "quantitative",
        "title": "% of calls to the strong model",
        "scale": {"domain": [0, 100]},
    }
    y = {"field": "quality", "type": "quantitative", "title": q, "scale": {"zero": False}}
    color = {"field": "series", "type": "nominal", "scale": _scale(SHARE_SERIES), "legend": LEGEND}
    tooltip = [
        {"field": "series", "type": "nominal", "title": "Series"},
        {"field": "share", "type": "quantitative", "title": "% strong calls", "format": ".1f"},
        {"field": "quality", "type": "quantitative", "title": q, "format": ".4f"},
    ]
    # One line layer per series (dotted oracle, dashed random, the router solid and wider); the
    # legend comes from the colour alone.
    dashes = {"oracle (upper bound)": ([2, 3], 2), "random router": ([6, 4], 2), "this router": ([1, 0], 3)}
    lines = [
        {
            "transform": [{"filter": {"field": "series", "equal": name}}],
            "mark": {"type": "line", "strokeDash": dash, "strokeWidth": width, "point": {"size": 14, "opacity": 0}},
            "encoding": {"x": x, "y": y, "color": color, "tooltip": tooltip},
        }
        for name, (dash, width) in dashes.items()
    ]
    point = {
        "transform": [{"filter": "datum.series === 'chosen point'"}],
        "mark": {"type": "point", "shape": "diamond", "filled": True, "size": 170, "opacity": 1},
        "encoding": {"x": x, "y": y, "color": color, "tooltip": tooltip},
    }
    return data, {"title": vega.title(title), "height": 440, "layer": [*lines, point]}


def quality_vs_cost(
    curve: pd.DataFrame,
    models: dict,
    oracle_pt: dict,
    chosen: dict,
    unit: str,
    title: str,
    random: pd.DataFrame | None = None,
    curve_name: str = "this router",
) -> vega.Chart:
    """(Vega-Lite) Quality against total cost: the policy's points with their Pareto frontier, each
    model alone (labelled with its name, as written), the random line, the oracle and the chosen point.

    Data: one row per mark, `series` (legend order: curve_name, Pareto frontier, random router,
    each model alone, oracle, chosen point), `cost`, `quality` and `label` (the model's name)."""
    from llmledger.simulate.metrics import pareto_mask

    mask = pareto_mask(curve["cost_usd"].to_numpy(), curve["accuracy"].to_numpy())
    front = curve[mask].sort_values("cost_usd")

    def rows(series: str, cost, quality, labels=None) -> pd.DataFrame:
        cost = [float(v) for v in cost]
        return pd.DataFrame(
            {
                "series": series,
                "cost": cost,
                "quality": [float(v) for v in quality],
                "label": list(labels) if labels is not None else [""] * len(cost),
            }
        )

    parts = [
        rows(curve_name, curve["cost_usd"], curve["accuracy"]),
        rows("Pareto frontier", front["cost_usd"], front["accuracy"]),
    ]
    if random is not None:
        parts.append(rows("random router", random["cost_usd"], random["accuracy"]))
    parts += [
        rows(
            "each model alone",
            [v["cost_usd"] for v in models.values()],
            [v["accuracy"] for v in models.values()],
            [fmt.label(m) for m in models],
        ),
        rows("oracle", [oracle_pt["cost_usd"]], [oracle_pt["accuracy"]]),
        rows("chosen point", [chosen["cost_usd"]], [chosen["accuracy"]]),
    ]
    data = pd.concat(parts, ignore_index=True)
    order = [curve_name, "Pareto frontier", *(["random router"] if random is not None else []), *COST_SERIES]
    colors = {
        curve_name: ROUTER,
        "Pareto frontier": FRONTIER,
        "random router": RANDOM,
        "each model alone": "#2D3748",
        "oracle": ORACLE,
        "chosen point": CHOSEN,
    }
    xs = [*curve["cost_usd"], *(v["cost_usd"] for v in models.values()), oracle_pt["cost_usd"]]
    ys = [*curve["accuracy"], *(v["accuracy"] for v in models.values()), oracle_pt["accuracy"]]
    q = _quality_axis(unit)
    x = {
        "field": "cost",
        "type": "quantitative",
        "title": "total cost over the dataset (USD)",
        "scale": {"domain": _pad(xs, 0.12, 0.12), "nice": False},
        "axis": {"format": vega.USD_AXIS, "tickCount": 8},
    }
    y = {
        "field": "quality",
        "type": "quantitative",
        "title": q,
        "scale": {"domain": _pad(ys, 0.08, 0.12), "nice": False},
    }
    color = {
        "field": "series",
        "type": "nominal",
        "scale": vega.color_scale(order, colors),
        "legend": LEGEND,
    }
    tooltip = [
        {"field": "series", "type": "nominal", "title": "Series"},
        {"field": "label", "type": "nominal", "title": "Model"},
        {"field": "cost", "type": "quantitative", "title": "Total cost", "format": vega.USD_TIP},
        {"field": "quality", "type": "quantitative", "title": q, "format": ".4f"},
    ]
    enc = {"x": x, "y": y, "color": color, "tooltip": tooltip}

    def only(series: str) -> list[dict]:
        return [{"filter": {"field": "series", "equal": series}}]

    layers = [
        {"transform": only(curve_name), "mark": {"type": "circle", "size": 18, "opacity": 0.35}, "encoding": enc},
        {
            "transform": only("Pareto frontier"),
            "mark": {"type": "line", "strokeWidth": 3, "interpolate": "step-after"},
            "encoding": enc,
        },
    ]
    if random is not None:
        layers.append(
            {
                "transform": only("random router"),
                "mark": {"type": "line", "strokeDash": [6, 4], "strokeWidth": 2},
                "encoding": enc,
            }
        )
    layers += [
        {"transform": only("each model alone"), "mark": {"type": "circle", "size": 80, "opacity": 1}, "encoding": enc},
        {
            "transform": only("each model alone"),
            "mark": {"type": "text", "baseline": "bottom", "dy": -7, "fontSize": 11, "color": "#2D3748"},
            "encoding": {"x": x, "y": y, "text": {"field": "label", "type": "nominal"}},
        },
        {
            "transform": only("oracle"),
            "mark": {
                "type": "point",
                "shape": "M0,-1L0.24,-0.33L0.95,-0.31L0.39,0.12L0.59,0.81L0,0.4L-0.59,0.81L-0.39,0.12L-0.95,-0.31L-0.24,-0.33Z",
                "filled": True,
                "size": 220,
                "opacity": 1,
            },
            "encoding": enc,
        },
        {
            "transform": only("chosen point"),
            "mark": {"type": "point", "shape": "diamond", "filled": True, "size": 170, "opacity": 1},
            "encoding": enc,
        },
    ]
    return data, {"title": vega.title(title), "height": 460, "layer": layers}


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


def headline_bars(df: pd.DataFrame) -> vega.Chart:
    """(Vega-Lite) RouteLLM's headline (cost saved at 95% of GPT-4's quality) per benchmark:
    published, this lab's router, the oracle and the random router, each bar labelled with its
    percent (a missing figure has no bar and no label)."""
    colors = {"published (RouteLLM)": "#2D3748", "this lab's router": ROUTER, "oracle": ORACLE, "random": RANDOM}
    cols = [c for c in colors if c in df]
    long = df.melt(id_vars="benchmark", value_vars=cols, var_name="series", value_name="value").rename(
        columns={"benchmark": "category"}
    )
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    long = long.dropna(subset=["value"]).reset_index(drop=True)
    long["text"] = [f"{v:.0%}" for v in long["value"]]
    data, spec = vega.grouped_bars(
        long,
        categories=list(df["benchmark"]),
        series_order=cols,
        colors=[colors[c] for c in cols],
        chart_title="RouteLLM's headlines next to this lab's",
        y_title="cost saved at 95% of GPT-4's quality",
        y_format=".0%",
        height=420,
        category_title="Benchmark",
    )
    bars = {"mark": spec.pop("mark"), "encoding": spec.pop("encoding")}
    bars["encoding"]["x"]["axis"] = {"labelAngle": 0, "labelLimit": 200}
    labels = {
        "mark": {"type": "text", "baseline": "bottom", "dy": -3, "fontSize": 11, "color": "#4a5568"},
        "encoding": {
            "x": bars["encoding"]["x"],
            "xOffset": bars["encoding"]["xOffset"],
            "y": {"field": "value", "type": "quantitative"},
            "text": {"field": "text", "type": "nominal"},
        },
    }
    spec["layer"] = [bars, labels]
    return data, spec


def _alpha(hex_color: str, a: float = 0.18) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{a})"
