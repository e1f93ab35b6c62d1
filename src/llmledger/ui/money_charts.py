"""Plotly figures for the Estimate, Spend and Reprice pages: pure functions, fresh figures.

Nothing here is cached or imports Streamlit. Money axes carry a "$" prefix; anything estimated
says so in the title or the hover text. Names from data (groups, models, sheets, tokenizers) and
titles passed in go through `fmt.plain_label`: Plotly reads HTML in every text field.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from llmledger.reads.filters import OTHER, UNATTRIBUTED
from llmledger.ui import format as fmt
from llmledger.ui.charts import GREY, PALETTE, empty, group_colors

ACTUAL_COLOR, REPRICED_COLOR = "#2b6cb0", "#dd6b20"
UP_COLOR, DOWN_COLOR = "#e53e3e", "#38a169"


def _figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain trace and layout dicts, not validated property by property: the same
    figure built through add_bar/update_layout costs about 8x more server time on every rerun
    (bench/bench_pages.py). Property names here are plotly's own; tests check every builder."""
    return go.Figure(data=data, layout=layout, _validate=False)


def _layout(title: str, height: int = 340, hovermode: str = "x unified", **more) -> dict:
    return {
        "title": {"text": title, "x": 0, "font": {"size": 15}},
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 48, "b": 10},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 1, "xanchor": "right"},
        "hovermode": hovermode,
        **more,
    }


#: Many groups: the legend under the plot so it never covers the title.
LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0, "xanchor": "left"}
MONEY_AXIS = {
    # d3's currency format puts the sign first (−$0.5); a "$" tickprefix wrote $-0.5.
    "tickformat": "$,.4~f",
    "separatethousands": True,
    "rangemode": "tozero",
    "automargin": True,
}


def _signed(v: float) -> str:
    text = fmt.usd(abs(v))
    return ("+" if v > 0 else "−" if v < 0 else "") + text


def _order(df: pd.DataFrame, grp: str, value: str) -> list[str]:
    totals = df.groupby(grp)[value].sum().sort_values(ascending=False)
    return [str(g) for g in totals.index if g not in GREY] + [str(g) for g in totals.index if g in GREY]


# ------------------------------------------------------------------ Spend


def spend_over_time(series: pd.DataFrame, group_label: str, kind: str = "area") -> go.Figure:
    """Stacked cost per time bucket and group (`spend_queries.spend_series`): area or bars."""
    title = fmt.plain_label(f"Spend over time by {group_label} (priced calls)")
    if series.empty or not series["cost_usd"].fillna(0).any():
        return empty(title, "No priced calls in this selection")
    order = _order(series, "grp", "cost_usd")
    colors = group_colors(order)
    wide = series.pivot_table(index="bucket", columns="grp", values="cost_usd", aggfunc="sum").fillna(0)
    x = list(wide.index)
    hover = f"{fmt.plain_label(group_label)}: %{{fullData.name}}<br>$%{{y:,.2f}}<extra></extra>"
    data = []
    for g in order:
        if g not in wide.columns:
            continue
        trace = {"x": x, "y": wide[g].to_numpy(), "name": fmt.plain_label(g), "hovertemplate": hover}
        if kind == "area":
            trace.update(type="scatter", mode="lines", stackgroup="spend", line={"width": 0.5, "color": colors[g]})
        else:
            trace.update(type="bar", marker={"color": colors[g]})
        data.append(trace)
    layout = _layout(title, 420, barmode="stack", bargap=0.1, yaxis=MONEY_AXIS, xaxis={})
    layout.update(legend=LEGEND_BELOW)
    return _figure(data, layout)


def spend_by(table: pd.DataFrame, group_label: str) -> go.Figure:
    """Horizontal bars of cost per group (`spend_queries.spend_breakdown`), largest on top."""
    title = fmt.plain_label(f"Spend by {group_label} (priced calls)")
    data = table.dropna(subset=["cost_usd"])
    if data.empty:
        return empty(title, "No priced calls in this selection")
    colors = group_colors([str(g) for g in table["grp"]])
    data = data.iloc[::-1]
    bar = {
        "type": "bar",
        "x": data["cost_usd"].to_numpy(),
        "y": fmt.plain_labels(data["grp"].astype(str)),
        "orientation": "h",
        "marker": {"color": [colors[str(g)] for g in data["grp"]]},
        "text": [f"{fmt.usd(v)} · {fmt.pct(s)}" for v, s in zip(data["cost_usd"], data["share"])],
        "textposition": "auto",
        "hovertemplate": "%{y}: $%{x:,.4f}<extra></extra>",
    }
    layout = _layout(title, max(220, 70 + 28 * len(data)), "closest", xaxis=MONEY_AXIS, yaxis={"automargin": True})
    return _figure([bar], layout)


def reported_vs_computed(table: pd.DataFrame) -> go.Figure:
    """Reported and computed cost per model side by side (`spend_queries.reported_vs_computed`)."""
    title = "Reported vs computed cost, per model"
    if table.empty:
        return empty(title, "No call carries both a reported and a computed cost")
    data = table.head(12)
    models = fmt.plain_labels(data["model"])
    bars = [
        {
            "type": "bar",
            "x": models,
            "y": data["reported_usd"].to_numpy(),
            "name": "reported by instrumentation",
            "marker": {"color": "#a0aec0"},
            "hovertemplate": "%{x}<br>reported $%{y:,.4f}<extra></extra>",
        },
        {
            "type": "bar",
            "x": models,
            "y": data["computed_usd"].to_numpy(),
            "name": "computed from the sheet",
            "marker": {"color": ACTUAL_COLOR},
            "hovertemplate": "%{x}<br>computed $%{y:,.4f}<extra></extra>",
        },
    ]
    return _figure(bars, _layout(title, hovermode="closest", barmode="group", yaxis=MONEY_AXIS, xaxis={}))


# ------------------------------------------------------------------ Estimate


def tokens_by_tokenizer(counts: pd.DataFrame) -> go.Figure:
    """Token count per tokenizer (columns: tokenizer, tokens)."""
    title = "Tokens per tokenizer (counted locally)"
    if counts.empty:
        return empty(title, "Nothing counted yet")
    data = counts.sort_values("tokens")
    bar = {
        "type": "bar",
        "x": data["tokens"].to_numpy(),
        "y": fmt.plain_labels(data["tokenizer"]),
        "orientation": "h",
        "marker": {"color": ACTUAL_COLOR},
        "text": [fmt.count(v) for v in data["tokens"]],
        "textposition": "auto",
        "hovertemplate": "%{y}: %{x:,} tokens<extra></extra>",
    }
    layout = _layout(
        title,
        max(200, 70 + 28 * len(data)),
        "closest",
        xaxis={"rangemode": "tozero"},
        yaxis={"automargin": True},
    )
    return _figure([bar], layout)


def cost_per_model(table: pd.DataFrame, title: str = "Cost per model and sheet") -> go.Figure:
    """Grouped bars: x = model, one bar per sheet (columns: model, sheet, cost_usd, estimated).

    Models a sheet has no price for are left out of the bars (not drawn as $0) and named in
    the title instead.
    """
    title = fmt.plain_label(title)
    if table.empty:
        return empty(title, "Choose at least one model and one sheet")
    priced = table.dropna(subset=["cost_usd"])
    missing = table[table["cost_usd"].isna()]
    if not missing.empty:
        names = ", ".join(sorted({f"{m} ({s})" for m, s in zip(missing["model"], missing["sheet"])}))
        title = f"{title}<br><sup>no price: {fmt.plain_label(names)}</sup>"
    if priced.empty:
        return empty(title, "None of these models has a price on these sheets")
    bars = []
    for i, sheet in enumerate(dict.fromkeys(priced["sheet"])):
        part = priced[priced["sheet"] == sheet]
        bars.append(
            {
                "type": "bar",
                "x": fmt.plain_labels(part["model"]),
                "y": part["cost_usd"].to_numpy(),
                "name": fmt.plain_label(sheet),
                "marker": {"color": PALETTE[i % len(PALETTE)]},
                "text": [fmt.usd(v) for v in part["cost_usd"]],
                "textposition": "auto",
                "hovertemplate": "%{fullData.name}<br>%{x}: $%{y:,.6f}<extra></extra>",
            }
        )
    return _figure(bars, _layout(title, 360, "closest", barmode="group", yaxis=MONEY_AXIS, xaxis={}))


def monthly_bill(bill: pd.DataFrame, title: str = "Projected monthly bill") -> go.Figure:
    """Bars per month (stacked by what the money pays for when those columns exist) plus the
    cumulative total on a second axis. Columns: month, cost_usd and optionally input_usd,
    output_usd, cumulative_usd."""
    title = fmt.plain_label(title)
    if bill.empty or "cost_usd" not in bill:
        return empty(title, "No bill to show")
    x = list(bill["month"].astype(str))
    hover = "$%{y:,.2f}<extra></extra>"
    parts = [c for c in ("input_usd", "cached_input_usd", "output_usd", "batch_usd", "request_usd") if c in bill]
    if parts:
        data = [
            {
                "type": "bar",
                "x": x,
                "y": bill[c].to_numpy(),
                "name": c.removesuffix("_usd").replace("_", " "),
                "marker": {"color": PALETTE[i % len(PALETTE)]},
                "hovertemplate": hover,
            }
            for i, c in enumerate(parts)
        ]
    else:
        data = [
            {
                "type": "bar",
                "x": x,
                "y": bill["cost_usd"].to_numpy(),
                "name": "monthly cost",
                "marker": {"color": ACTUAL_COLOR},
                "hovertemplate": hover,
            }
        ]
    cumulative = bill["cumulative_usd"] if "cumulative_usd" in bill else bill["cost_usd"].cumsum()
    data.append(
        {
            "type": "scatter",
            "x": x,
            "y": cumulative.to_numpy(),
            "name": "cumulative",
            "mode": "lines+markers",
            "yaxis": "y2",
            "line": {"color": "#2d3748", "width": 2},
            "hovertemplate": "$%{y:,.2f} so far<extra></extra>",
        }
    )
    # Both money axes read the same way; the cumulative one sits on the right, over the bars.
    # The cumulative axis ticks on the bars' gridlines ("sync"), in whole dollars: unsynced, it
    # drew its own unrounded ticks ($121.8639) between the left axis' lines.
    right = {**MONEY_AXIS, "overlaying": "y", "side": "right", "showgrid": False, "tickmode": "sync"}
    right["tickformat"] = "$,.0f"
    return _figure(data, _layout(title, barmode="stack", yaxis=MONEY_AXIS, yaxis2=right, xaxis={}))


def token_tax(tax: pd.DataFrame) -> go.Figure:
    """Tokens relative to English per language, one bar per tokenizer (`tokens.token_tax`)."""
    title = "Token tax: tokens for the same message, relative to English"
    if tax.empty:
        return empty(title, "Choose at least one tokenizer")
    order = tax.groupby("language")["ratio_vs_english"].mean().sort_values(ascending=False).index.tolist()
    bars = []
    for i, tok in enumerate(dict.fromkeys(tax["tokenizer"])):
        part = tax[tax["tokenizer"] == tok].set_index("language").reindex(order)
        bars.append(
            {
                "type": "bar",
                "x": fmt.plain_labels(order),
                "y": part["ratio_vs_english"].to_numpy(),
                "name": fmt.plain_label(tok),
                "marker": {"color": PALETTE[i % len(PALETTE)]},
                "customdata": part["tokens"].to_numpy(),
                "hovertemplate": "%{fullData.name}<br>%{x}: %{y:.2f}× English (%{customdata} tokens)<extra></extra>",
            }
        )
    english = {
        "type": "line",
        "xref": "x domain",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": 1,
        "y1": 1,
        "line": {"dash": "dot", "color": "#718096"},
    }
    layout = _layout(
        title, 360, "closest", barmode="group", shapes=[english], yaxis={"ticksuffix": "×", "rangemode": "tozero"}
    )
    layout["xaxis"] = {}
    return _figure(bars, layout)


# ------------------------------------------------------------------ Reprice


def actual_vs_repriced(table: pd.DataFrame, group_label: str) -> go.Figure:
    """Per group: actual and repriced cost side by side, the delta in the hover.
    Columns: grp, actual_usd, repriced_usd, delta_usd."""
    title = fmt.plain_label(f"Actual vs repriced, by {group_label}")
    data = table.dropna(subset=["actual_usd", "repriced_usd"], how="all")
    if data.empty:
        return empty(title, "No priced calls in this period")
    data = data.head(15)
    x = fmt.plain_labels(data["grp"].astype(str))
    bars = [
        {
            "type": "bar",
            "x": x,
            "y": data["actual_usd"].to_numpy(),
            "name": "actual",
            "marker": {"color": ACTUAL_COLOR},
            "hovertemplate": "%{x}<br>actual $%{y:,.4f}<extra></extra>",
        },
        {
            "type": "bar",
            "x": x,
            "y": data["repriced_usd"].to_numpy(),
            "name": "repriced",
            "marker": {"color": REPRICED_COLOR},
            "customdata": data["delta_usd"].to_numpy(),
            "hovertemplate": "%{x}<br>repriced $%{y:,.4f}<br>delta %{customdata:$+,.4f}<extra></extra>",
        },
    ]
    return _figure(bars, _layout(title, hovermode="closest", barmode="group", yaxis=MONEY_AXIS, xaxis={}))


def delta_bars(table: pd.DataFrame, group_label: str) -> go.Figure:
    """Horizontal bars of repriced − actual per group: red costs more, green saves."""
    title = fmt.plain_label(f"Change per {group_label} (repriced − actual)")
    data = table.dropna(subset=["delta_usd"])
    if data.empty:
        return empty(title, "Nothing to compare")
    data = data.head(15).iloc[::-1]
    bar = {
        "type": "bar",
        "x": data["delta_usd"].to_numpy(),
        "y": fmt.plain_labels(data["grp"].astype(str)),
        "orientation": "h",
        "marker": {"color": [UP_COLOR if v > 0 else DOWN_COLOR for v in data["delta_usd"]]},
        "text": [_signed(v) for v in data["delta_usd"]],
        "textposition": "auto",
        "hovertemplate": "%{y}: %{x:$+,.4f}<extra></extra>",
    }
    xaxis = {"tickformat": "$,.4~f", "zeroline": True, "zerolinecolor": "#718096"}
    layout = _layout(title, max(220, 70 + 28 * len(data)), "closest", xaxis=xaxis, yaxis={"automargin": True})
    return _figure([bar], layout)


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
