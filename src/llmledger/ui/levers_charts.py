"""Plotly figures for the What-if page's levers (caching, compression, memory, batching, caps):
pure functions from the engines' tables (simulate/lever_lab, simulate/levers) to new figures.
Feature and lever names go through `fmt.plain_label` (Plotly reads HTML in them)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from llmledger.ui import format as fmt
from llmledger.ui.charts import PALETTE
from llmledger.ui.whatif_charts import CHOSEN, _lay

SAVING, COST, GREY = "#38a169", "#2b6cb0", "#718096"
#: the colour of each lever wherever it appears
LEVER_COLORS = {
    name: PALETTE[i % len(PALETTE)]
    for i, name in enumerate(
        ("cache", "agent-cache", "memory", "compress", "prompt-cache", "caps", "batch", "semantic")
    )
}


def savings_waterfall(total: pd.DataFrame, monthly_baseline: float, labels: dict[str, str]) -> go.Figure:
    """Monthly cost today, each lever's extra saving in sequence, the cost after all of them."""
    names = ["today"] + [fmt.plain_label(labels.get(lv, lv)) for lv in total["lever"]] + ["after all"]
    steps = [-float(v) for v in total["monthly_saving_usd"]]
    final = monthly_baseline + sum(steps)
    fig = go.Figure(
        go.Waterfall(
            x=names,
            measure=["absolute"] + ["relative"] * len(steps) + ["total"],
            y=[monthly_baseline, *steps, final],
            text=[fmt.usd(monthly_baseline)] + [fmt.signed_usd(v) for v in steps] + [fmt.usd(final)],
            textposition="outside",
            decreasing={"marker": {"color": SAVING}},
            increasing={"marker": {"color": CHOSEN}},
            totals={"marker": {"color": COST}},
            connector={"line": {"color": "#cbd5e0"}},
        )
    )
    fig.update_yaxes(title="USD per month (estimate)", tickprefix="$", rangemode="tozero")
    return _lay(fig, "Monthly cost, levers applied in sequence", 400).update_layout(showlegend=False)


def savings_by_feature(by_feature: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """Each top feature's monthly saving, one segment per lever (in sequence within the feature)."""
    fig = go.Figure()
    feats = list(dict.fromkeys(by_feature["feature"]))
    for lever, g in by_feature.groupby("lever", sort=False):
        g = g.set_index("feature").reindex(feats)
        fig.add_bar(
            y=fmt.plain_labels(feats),
            x=g["monthly_saving_usd"].fillna(0.0),
            name=fmt.plain_label(labels.get(lever, lever)),
            orientation="h",
            marker_color=LEVER_COLORS.get(lever, GREY),
            hovertemplate="%{y}: %{x:$,.2f}/month<extra>%{fullData.name}</extra>",
        )
    fig.update_xaxes(title="monthly saving (estimate)", tickprefix="$")
    fig.update_yaxes(autorange="reversed")
    return _lay(fig, "Monthly saving of the top features, by lever", 120 + 46 * max(len(feats), 2)).update_layout(
        barmode="relative"
    )


def memory_turns(details: pd.DataFrame) -> go.Figure:
    """Cumulative cost turn by turn: the full buffer, a window of k turns, a summary plus the
    window (its summary calls included)."""
    fig = go.Figure()
    for col, name, color, dash in (
        ("full_usd", "full buffer (today)", GREY, "solid"),
        ("window_usd", "window of the last k turns", PALETTE[0], "dash"),
        ("summary_usd", "summary + window (summary calls included)", PALETTE[2], "solid"),
    ):
        fig.add_scatter(
            x=details["turn"],
            y=details[col].cumsum(),
            name=name,
            mode="lines+markers",
            line={"color": color, "dash": dash, "width": 3 if col == "summary_usd" else 2},
        )
    fig.update_xaxes(title="turn", dtick=1 if len(details) <= 20 else None)
    fig.update_yaxes(title="cumulative cost of the sessions (USD)", tickprefix="$", rangemode="tozero")
    return _lay(fig, "Memory strategies turn by turn", 380, hovermode="x unified")


def cap_saving(sweep: pd.DataFrame, chosen: int | None) -> go.Figure:
    """Monthly saving of one max_tokens cap on every feature, and the share of answers it cuts."""
    fig = go.Figure()
    fig.add_scatter(
        x=sweep["cap_tokens"],
        y=sweep["monthly_saving_usd"],
        name="monthly saving",
        mode="lines+markers",
        line={"color": SAVING, "width": 3},
    )
    fig.add_scatter(
        x=sweep["cap_tokens"],
        y=sweep["share_truncated"],
        name="answers cut (share of calls)",
        mode="lines+markers",
        yaxis="y2",
        line={"color": CHOSEN, "dash": "dot"},
    )
    if chosen is not None and (sweep["cap_tokens"] == chosen).any():
        y = float(sweep.loc[sweep["cap_tokens"] == chosen, "monthly_saving_usd"].iloc[0])
        fig.add_scatter(
            x=[chosen],
            y=[y],
            name="as chosen",
            mode="markers",
            marker={"color": CHOSEN, "size": 13, "symbol": "diamond"},
        )
    fig.update_xaxes(title="max_tokens cap (log scale)", type="log")
    fig.update_layout(
        yaxis={"title": "USD per month (estimate)", "tickprefix": "$", "rangemode": "tozero"},
        yaxis2={
            "title": "answers cut",
            "overlaying": "y",
            "side": "right",
            "tickformat": ".0%",
            "range": [0, 1.05],
            "tickvals": [0, 0.25, 0.5, 0.75, 1.0],
            "showgrid": False,
        },
    )
    return _lay(fig, "Output-cap saving against the cap", 380, hovermode="x unified")


def ttl_hit_rate(sweep: pd.DataFrame, chosen_ttl: float | None, chosen_mode: str | None) -> go.Figure:
    """Response-cache hit rate against the TTL, exact and normalised keys."""
    fig = go.Figure()
    for i, (mode, g) in enumerate(sweep.groupby("mode", sort=False)):
        fig.add_scatter(
            x=g["ttl_s"],
            y=g["hit_rate"],
            name=f"{mode} keys",
            mode="lines+markers",
            text=g["ttl"],
            customdata=g["monthly_saving_usd"],
            hovertemplate="TTL %{text}: hit rate %{y:.1%}, saves %{customdata:$,.2f}/month<extra>%{fullData.name}</extra>",
            line={"color": PALETTE[i], "dash": "solid" if mode == "exact" else "dash"},
        )
    pick = sweep[(sweep["ttl_s"] == chosen_ttl) & (sweep["mode"] == chosen_mode)]
    if len(pick):
        fig.add_scatter(
            x=pick["ttl_s"],
            y=pick["hit_rate"],
            name="as chosen",
            mode="markers",
            marker={"color": CHOSEN, "size": 13, "symbol": "diamond"},
        )
    fig.update_xaxes(
        title="TTL", type="log", tickvals=list(sweep["ttl_s"].unique()), ticktext=list(sweep["ttl"].unique())
    )
    fig.update_yaxes(title="hit rate (share of cacheable calls)", tickformat=".0%", rangemode="tozero")
    return _lay(fig, "Response-cache hit rate against the TTL", 380)


def threshold_sweep(sweep: pd.DataFrame, x: str, hit: str, risk: str, chosen=None) -> go.Figure:
    """A semantic cache's similarity-threshold sweep: hit rate and false-hit risk per threshold."""
    fig = go.Figure()
    fig.add_scatter(x=sweep[x], y=sweep[hit], name="hit rate", mode="lines+markers", line={"color": SAVING, "width": 3})
    fig.add_scatter(
        x=sweep[x], y=sweep[risk], name="false-hit risk", mode="lines+markers", line={"color": CHOSEN, "dash": "dot"}
    )
    if chosen is not None:
        fig.add_vline(x=chosen, line={"color": GREY, "dash": "dot"})
    fig.update_xaxes(title="similarity threshold")
    fig.update_yaxes(title="share of calls", tickformat=".0%", rangemode="tozero")
    return _lay(fig, "Semantic cache: hit rate against the risk of a false hit", 380, hovermode="x unified")
