"""Charts for the Calls page: pure functions from DataFrames to new charts, no Streamlit, nothing
cached (every call builds a fresh chart, so sessions never share a mutable one).

The first view's over-time charts are Vega-Lite (`vega.Chart`, drawn with `vega.show`): a fresh tab
that draws a Plotly figure loads Streamlit's Plotly bundle first (bench/bench_pages.py). Vega draws
text as written, so names from telemetry reach those charts unescaped (`fmt.label`).

The trace waterfall of the second tab stays Plotly (its hover is rich HTML), as do the Plotly
helpers other chart modules import (`empty`, `_layout`, `PALETTE`, `GREY`, `group_colors`). There
names and titles go through `fmt.plain_label` (Plotly reads HTML in them).
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from llmledger.reads.filters import OTHER, UNATTRIBUTED
from llmledger.ui import format as fmt
from llmledger.ui import vega

PALETTE = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#d69e2e", "#e53e3e", "#5a67d8", "#718096"]
GREY = {OTHER: "#a0aec0", UNATTRIBUTED: "#cbd5e0"}
LLM_COLOR, SPAN_COLOR, ERROR_COLOR = "#dd6b20", "#90cdf4", "#e53e3e"

#: metric -> (axis title, additive?)
METRICS = {
    "calls": ("Calls", True),
    "tokens": ("Tokens (input + output)", True),
    "input_tokens": ("Input tokens", True),
    "output_tokens": ("Output tokens", True),
    "cost_usd": ("Cost (USD)", True),
    "errors": ("Error calls", True),
    "p95_ms": ("p95 latency (ms)", False),
}


EMPTY_METRIC = {
    "cost_usd": "No priced calls: no price sheet covers these models yet",
    "tokens": "No token usage reported",
    "errors": "No error calls",
}


def group_colors(groups: list[str]) -> dict[str, str]:
    """Stable colours: real groups take the palette in order, OTHER/UNATTRIBUTED are grey."""
    out: dict[str, str] = {}
    i = 0
    for g in groups:
        if g in GREY:
            out[g] = GREY[g]
        else:
            out[g] = PALETTE[i % len(PALETTE)]
            i += 1
    return out


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={
            "orientation": "h",
            "yanchor": "top",
            "y": -0.12,
            "x": 0,
            "xanchor": "left",
            "title": None,
            "font": {"size": 11},
        },
        hovermode="x unified",
    )
    return fig


def _figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain trace and layout dicts, not validated property by property: building
    the same figure through add_bar/update_layout took about 0.3 s of server time per chart on
    every Calls rerun (bench/bench_pages.py's profile). Property names are plotly's own; tests
    check every builder (tests/test_queries.py, tests/test_ux_charts.py)."""
    return go.Figure(data=data, layout=layout, _validate=False)


def _layout_dict(title: str, height: int = 380, **more) -> dict:
    """_layout's settings as a plain dict, for _figure."""
    return {
        "title": {"text": title, "x": 0, "font": {"size": 15}},
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "legend": {
            "orientation": "h",
            "yanchor": "top",
            "y": -0.12,
            "x": 0,
            "xanchor": "left",
            "font": {"size": 11},
        },
        "hovermode": "x unified",
        **more,
    }


def empty(title: str, message: str = "No calls in this selection") -> go.Figure:
    note = {
        "text": message,
        "showarrow": False,
        "font": {"size": 14, "color": "#718096"},
        "xref": "paper",
        "yref": "paper",
        "x": 0.5,
        "y": 0.5,
    }
    hidden = {"visible": False}
    return _figure([], _layout_dict(title, 220, annotations=[note], xaxis=hidden, yaxis=dict(hidden)))


def group_order(series: pd.DataFrame) -> list[str]:
    """Groups by total calls (largest first), OTHER and UNATTRIBUTED last."""
    totals = series.groupby("grp")["calls"].sum().sort_values(ascending=False)
    order = [g for g in totals.index if g not in GREY] + [g for g in totals.index if g in GREY]
    return [str(g) for g in order]


#: pandas frequency of each time bucket (weeks start on Monday, as reads.buckets keys them).
BUCKET_FREQ = {"hour": "h", "day": "D", "week": "W-MON", "month": "MS"}


def _with_gaps(part: pd.DataFrame, metric: str, bucket: str | None) -> pd.DataFrame:
    """A line's points with an empty value in every bucket that has no calls, so the line breaks
    there instead of drawing a straight line across weeks or months without data."""
    if bucket not in BUCKET_FREQ or part.empty:
        return part
    x = pd.to_datetime(part["bucket"])
    full = pd.date_range(x.min(), x.max(), freq=BUCKET_FREQ[bucket])
    if len(full) > 5000 or len(full) <= len(part):
        return part
    return pd.DataFrame({"bucket": full}).merge(part.assign(bucket=x), on="bucket", how="left")


#: Metrics that count whole things: no "0.5 calls" tick on a small selection.
COUNTED = {"calls", "tokens", "input_tokens", "output_tokens", "errors"}
#: x axis labels per bucket size (UTC, as the buckets): the day with its month, the hour with its day.
TIME_TICKS = {
    "hour": {"format": "%b %d %H:%M"},
    "day": {"format": "%b %d"},
    "week": {"format": "%b %d"},
    "month": {"format": "%b %Y", "tickCount": {"interval": "month", "step": 1}},
}
#: Height of a chart without its legend, and of one legend row (pixels).
PLOT_HEIGHT, LEGEND_ROW = 330, 16
#: Legend entries a little smaller than Streamlit's theme draws them.
LEGEND = {"symbolSize": 80, "rowPadding": 2, "labelPadding": 6, "labelFontSize": 12, "offset": 10}


def _long(data: pd.DataFrame, metric: str, groups: list[str], bucket: str | None, additive: bool) -> pd.DataFrame:
    """One row per bucket and group (bucket, grp, value) of `groups`. Bars count a missing value
    as 0; a line gets an empty value in every bucket without calls, so it breaks there."""
    grp = data["grp"].astype(str)
    if additive:
        long = pd.DataFrame({"bucket": data["bucket"], "grp": grp, "value": data[metric]})[grp.isin(groups)]
        long["value"] = pd.to_numeric(long["value"], errors="coerce").fillna(0.0)
        return long.reset_index(drop=True)
    frames = []
    for g in groups:
        part = _with_gaps(data[grp == g], metric, bucket)
        bucket_starts = part["bucket"].reset_index(drop=True)
        frames.append(pd.DataFrame({"bucket": bucket_starts, "grp": g, "value": part[metric].to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def _formats(metric: str, long: pd.DataFrame) -> tuple[str, str]:
    """d3 formats of the y axis and the tooltip. Money ticks get the decimals their step needs: cents
    per hour would otherwise read "$0.0001, $0.0001, $0.0002" under a fixed four."""
    if metric != "cost_usd":
        return vega.COUNT, vega.COUNT
    stacked = long.groupby("bucket")["value"].sum().max()
    step = float(stacked) / 5 if pd.notna(stacked) and stacked > 0 else 1.0
    decimals = min(8, max(2, 1 - math.floor(math.log10(step))))
    return f"$,.{decimals}~f", f"$,.{max(4, decimals)}f"


def _legend_grid(groups: list[str]) -> tuple[int, int]:
    """Legend (columns, label width) that fit half the page: each chart shares a row with another,
    and a legend wider than its chart is cut off. Long names get one column, showing them whole."""
    longest = max((len(fmt.label(g)) for g in groups), default=0)
    if longest <= 14:
        return 3, 110
    if longest <= 30:
        return 2, 190
    return 1, 400


def over_time(
    series: pd.DataFrame, metric: str, group_label: str, title: str | None = None, bucket: str | None = None
) -> vega.Chart:
    """Stacked bars per `bucket` for additive metrics, one line per group for latency (broken where
    a bucket has no calls). Groups keep their order by total calls and their colours (OTHER and
    UNATTRIBUTED grey) across the page's charts, whichever groups a chart has values for."""
    axis, additive = METRICS[metric]
    title = title or axis
    data = series.dropna(subset=[metric]) if not additive else series
    if metric == "cost_usd" and not series.empty and series[metric].isna().all():
        return vega.empty(title, "Cost is off, or no price sheet covers these models yet")
    if data.empty or (additive and not data[metric].fillna(0).any()):
        return vega.empty(
            title, "No calls in this selection" if series.empty else EMPTY_METRIC.get(metric, "Nothing reported")
        )
    order = group_order(series)
    colors = group_colors(order)
    present = set(data["grp"].astype(str))
    groups = [g for g in order if g in present]
    long = _long(data, metric, groups, bucket, additive)
    axis_format, tip_format = _formats(metric, long)
    chart_data, spec = vega.over_time(
        long,
        order=groups,
        colors=colors,
        kind="bar" if additive else "line",
        chart_title=title,
        y_title=axis,
        y_format=axis_format,
        group_title=group_label,
        bucket=bucket,
    )
    encoding = spec["encoding"]
    next(t for t in encoding["tooltip"] if t["field"] == "value")["format"] = tip_format
    if metric in COUNTED:
        encoding["y"]["axis"]["tickMinStep"] = 1
    encoding["x"]["axis"].update(TIME_TICKS.get(bucket or "", {}))
    columns, label_limit = _legend_grid(order)
    encoding["color"]["legend"].update(columns=columns, labelLimit=label_limit, **LEGEND)
    if additive:
        # Bars' legend rows come out ~30 px apart in Streamlit's theme: clip each entry to 14 px.
        encoding["color"]["legend"].update(symbolType="square", clipHeight=14)
    else:  # a dot on each value: a bucket between two empty ones has no line to draw
        spec["mark"]["point"] = {"filled": True, "size": 18}
        encoding["color"]["legend"].update(symbolType="stroke", symbolStrokeWidth=2)
    # The height holds the legend too: grow it by the legend's rows so the plot keeps its size (and
    # the four charts, their legends laid out for the same groups, line up).
    spec["height"] = PLOT_HEIGHT + LEGEND_ROW * -(-len(order) // columns)
    return chart_data, spec


def _span_hover(row) -> str:
    """Hover text for one span: our markup (<b>, <br>) around escaped span attributes."""
    plain = lambda v: fmt.plain_label(fmt.label(v))  # noqa: E731
    lines = [
        f"<b>{fmt.plain_label(row['name'])}</b>",
        f"service: {plain(row['service'])}",
        f"start: +{fmt.ms(row['offset_ms'])}",
        f"duration: {fmt.ms(row['duration_ms'])}",
    ]
    if row["is_llm"]:
        lines += [
            f"model: {plain(row['model'])} ({plain(row['provider'])})",
            f"tokens: {fmt.count(row['input_tokens'])} in, {fmt.count(row['output_tokens'])} out"
            f" ({plain(row['usage_source'])})",
            f"convention: {plain(row['convention'])}",
        ]
        if not pd.isna(row.get("cost_usd")):
            lines.append(f"cost: {fmt.usd(row['cost_usd'])}")
    if row["status_code"] == "ERROR":
        lines.append("<span style='color:#e53e3e'>status: ERROR</span>")
    return "<br>".join(lines)


def waterfall(spans: pd.DataFrame, title: str = "Trace waterfall") -> go.Figure:
    """One trace's span tree: a bar per span from its start to its end, indented by depth, model
    calls highlighted; hover shows model and tokens. `spans` is `queries.trace_spans`."""
    title = fmt.plain_label(title)
    if spans.empty:
        return empty(title, "No spans stored for this trace")
    rows = spans.reset_index(drop=True)
    # Tick labels are right-aligned; padding every (monospace) label to one width left-aligns
    # them, so the indentation by depth shows. Cut and pad the name as shown, then escape it.
    names = [str(n) if len(str(n)) <= 48 else str(n)[:47] + "…" for n in rows["name"]]
    raw = [
        "\u00a0" * (2 * int(d)) + ("◆ " if llm else "\u00a0\u00a0") + n
        for d, llm, n in zip(rows["depth"], rows["is_llm"], names)
    ]
    width = max(len(r) for r in raw)
    labels = [fmt.plain_label(r + "\u00a0" * (width - len(r))) for r in raw]
    colors = [
        ERROR_COLOR if s == "ERROR" else LLM_COLOR if llm else SPAN_COLOR
        for s, llm in zip(rows["status_code"], rows["is_llm"])
    ]
    durations = rows["duration_ms"].fillna(0).clip(lower=0)
    total = float((rows["offset_ms"] + durations).max() or 1)
    text = [
        f"{fmt.plain_label(fmt.label(m))} · {fmt.compact(i)}→{fmt.compact(o)}" if llm else fmt.ms(d)
        for llm, m, i, o, d in zip(
            rows["is_llm"], rows["model"], rows["input_tokens"], rows["output_tokens"], durations
        )
    ]
    # Where each label goes: inside a wide bar; else right of the bar; but a short bar near the
    # end gets its label on its left, where there is room (on the right it ran off the figure).
    ends = rows["offset_ms"] + durations
    place = [
        "inside" if d >= 0.3 * total else "outside" if e <= 0.6 * total else "left" for d, e in zip(durations, ends)
    ]
    left_notes = [
        {
            "x": float(o),
            "y": i,
            "text": t,
            "xanchor": "right",
            "xshift": -4,
            "showarrow": False,
            "font": {"size": 11, "color": "#4a5568"},
        }
        for i, (o, t, p) in enumerate(zip(rows["offset_ms"], text, place))
        if p == "left"
    ]
    fig = go.Figure(
        go.Bar(
            y=list(range(len(rows))),
            x=durations.clip(lower=total / 400),
            base=rows["offset_ms"],
            orientation="h",
            marker_color=colors,
            text=[t if p != "left" else "" for t, p in zip(text, place)],
            textposition=["inside" if p == "inside" else "outside" for p in place],
            insidetextanchor="start",
            hovertext=[_span_hover(r) for _, r in rows.iterrows()],
            hoverinfo="text",
            cliponaxis=False,
        )
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=list(range(len(rows))),
        ticktext=labels,
        autorange="reversed",
        automargin=True,
        title=None,
        tickfont={"family": "monospace"},
    )
    fig.update_xaxes(title="ms since trace start", range=[0, total * 1.06], rangemode="tozero")
    fig = _layout(fig, title, max(240, 90 + 30 * len(rows)))
    fig.update_layout(hovermode="closest", showlegend=False, bargap=0.25, annotations=left_notes)
    return fig
