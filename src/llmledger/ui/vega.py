"""Vega-Lite building blocks for the pages' charts: pure functions returning `(data, spec)` pairs
that `show` hands to `st.vega_lite_chart` (part of Streamlit; no new dependency).

Why not Plotly for a page's first view: a fresh tab that draws any Plotly figure first loads and
runs Streamlit's 4.7 MB Plotly bundle, 2.9x the one-line page in `bench/bench_pages.py`, where the
same bars in Vega-Lite cost 1.1x; a rerun that redraws Vega-Lite charts is also several times cheaper
in the browser. Plotly stays where a chart needs what Vega-Lite lacks (a trace waterfall's rich hover).

Rules every builder here follows:
- Text from data is passed as written (`fmt.label`): Vega draws text, it does not read HTML, so
  names are never escaped (escaping would show "&lt;" on screen).
- Times are UTC: the data carries ISO strings with "Z", the x scale is `utc`, and each point carries
  a preformatted "when" label for its tooltip, so a browser in another zone shows the buckets the
  reads computed.
- Money axes read "$1,234.5"; a missing value is never drawn as 0 (callers drop or name it).
- Nothing here imports Streamlit except `show`, which takes the container to draw in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from llmledger.ui import format as fmt

#: (data, Vega-Lite spec) as st.vega_lite_chart takes them.
Chart = tuple[pd.DataFrame, dict]

USD_AXIS = "$,.4~f"  # d3-format: "$0.0012", "$1,234.5" (trailing zeros trimmed)
USD_TIP = "$,.4f"
COUNT = ",.0f"
MUTED = "#718096"
#: strftime for a bucket's tooltip label, per bucket size of reads.buckets.
WHEN_FORMAT = {"hour": "%Y-%m-%d %H:00 UTC", "day": "%Y-%m-%d (UTC)", "week": "week of %Y-%m-%d", "month": "%B %Y"}
#: How long one bucket lasts, for bars that span their bucket on a time axis.
BUCKET_LENGTH = {
    "hour": pd.DateOffset(hours=1),
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(weeks=1),
    "month": pd.DateOffset(months=1),
}


def show(container: Any, chart: Chart, key: str) -> None:
    """Draw a chart in `container` (st, a column, a tab), the full width of it, at the spec's height."""
    data, spec = chart
    spec = dict(spec)
    height = spec.pop("height", None)
    container.vega_lite_chart(data, spec, width="stretch", height=height or "content", key=key)


def title(text: str, subtitle: str | None = None) -> dict:
    out: dict = {"text": fmt.label(text), "anchor": "start", "fontSize": 15}
    if subtitle:
        out["subtitle"] = fmt.label(subtitle)
        out["subtitleColor"] = MUTED
    return out


def empty(text: str, message: str = "No calls in this selection", height: int = 220) -> Chart:
    """A titled chart area that says, in its middle, why there is nothing to draw."""
    spec = {
        "title": title(text),
        "height": height,
        "mark": {"type": "text", "fontSize": 14, "color": MUTED},
        "encoding": {"text": {"field": "message", "type": "nominal"}},
        "config": {"view": {"stroke": None}},
    }
    return pd.DataFrame({"message": [message]}), spec


def legend_bottom(title_text: str | None = None) -> dict:
    return {"orient": "bottom", "direction": "horizontal", "title": title_text, "columns": 4, "labelLimit": 220}


def color_scale(order: Sequence[str], colors: dict[str, str]) -> dict:
    """A nominal scale that keeps `order` (legend and stack) and each group's colour."""
    return {"domain": [fmt.label(g) for g in order], "range": [colors[g] for g in order]}


def utc_iso(values: Any) -> list[str]:
    """Timestamps (naive ones are UTC) as ISO strings with "Z", what Vega parses as UTC."""
    t = pd.to_datetime(pd.Series(values), utc=True)
    return t.dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()


def when_labels(values: Any, bucket: str | None) -> list[str]:
    t = pd.to_datetime(pd.Series(values), utc=True)
    return t.dt.strftime(WHEN_FORMAT.get(bucket or "", "%Y-%m-%d %H:%M UTC")).tolist()


def time_axis(field: str = "t") -> dict:
    return {
        "field": field,
        "type": "temporal",
        "title": None,
        "scale": {"type": "utc"},
        "axis": {"labelOverlap": True, "grid": False},
    }


def bucket_ends(starts: pd.Series, bucket: str | None) -> pd.Series:
    """Each bucket's end (UTC), so a bar covers its whole bucket on a time axis. Without a known
    bucket size, the smallest step between starts (one hour when there is one start)."""
    t = pd.to_datetime(starts, utc=True)
    if bucket in BUCKET_LENGTH:
        return t + BUCKET_LENGTH[bucket]
    steps = t.drop_duplicates().sort_values().diff().dropna()
    return t + (steps.min() if not steps.empty else pd.Timedelta(hours=1))


def over_time(
    long: pd.DataFrame,
    *,
    order: Sequence[str],
    colors: dict[str, str],
    kind: str,
    chart_title: str,
    y_title: str,
    y_format: str,
    group_title: str,
    bucket: str | None = None,
    height: int = 380,
    subtitle: str | None = None,
) -> Chart:
    """A time series per group. `long` has columns bucket, grp, value (one row per bucket and
    group; value may be missing). kind: "bar" (stacked, each bar spans its bucket), "area"
    (stacked; missing buckets count 0) or "line" (not stacked; a missing value breaks the line)."""
    frame = long[long["grp"].astype(str).isin(set(order))]
    if kind == "area":  # every group at every bucket, or the stack has holes
        wide = frame.pivot_table(index="bucket", columns="grp", values="value", aggfunc="sum").fillna(0.0)
        frame = wide.reset_index().melt(id_vars="bucket", var_name="grp", value_name="value")
    rank = {g: i for i, g in enumerate(order)}
    value = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    data = pd.DataFrame(
        {
            "t": utc_iso(frame["bucket"]),
            "when": when_labels(frame["bucket"], bucket),
            "group": [fmt.label(g) for g in frame["grp"].astype(str)],
            "rank": [rank.get(str(g), len(rank)) for g in frame["grp"]],
            "value": value.where(value.notna(), None).tolist(),
        }
    )
    if kind == "bar":
        data["t_end"] = utc_iso(bucket_ends(frame["bucket"].reset_index(drop=True), bucket))
    color = {
        "field": "group",
        "type": "nominal",
        "scale": color_scale(order, colors),
        "legend": legend_bottom(None),
        "sort": [fmt.label(g) for g in order],
    }
    y = {"field": "value", "type": "quantitative", "title": y_title, "axis": {"format": y_format}}
    tooltip = [
        {"field": "group", "type": "nominal", "title": group_title.capitalize()},
        {"field": "when", "type": "nominal", "title": "When"},
        {"field": "value", "type": "quantitative", "title": y_title, "format": y_format},
    ]
    encoding: dict = {"x": time_axis(), "y": y, "color": color, "tooltip": tooltip}
    if kind == "bar":
        encoding["x2"] = {"field": "t_end"}
        encoding["order"] = {"field": "rank", "type": "quantitative", "sort": "ascending"}
        mark: dict = {"type": "bar", "orient": "vertical", "stroke": "white", "strokeWidth": 0.3}
    elif kind == "area":
        encoding["order"] = {"field": "rank", "type": "quantitative", "sort": "ascending"}
        mark = {"type": "area", "line": {"strokeWidth": 0.5}, "opacity": 0.9}
    else:
        y["stack"] = None
        y["scale"] = {"zero": True}
        mark = {"type": "line", "strokeWidth": 2, "point": False, "invalid": "break-paths-show-domains"}
    spec = {
        "title": title(chart_title, subtitle),
        "height": height,
        "mark": mark,
        "encoding": encoding,
    }
    return data, spec


def hbars(
    labels: Sequence[Any],
    values: Sequence[float],
    *,
    chart_title: str,
    x_title: str | None,
    x_format: str,
    colors: Sequence[str] | str,
    text: Sequence[str] | None = None,
    tip_title: str = "Value",
    subtitle: str | None = None,
    label_title: str = "",
) -> Chart:
    """Horizontal bars in the order given (the first on top), each with its own colour and an
    optional text label after the bar. Heights grow with the number of bars."""
    names = [fmt.label(v) for v in labels]
    n = len(names)
    data = pd.DataFrame(
        {
            "label": names,
            "value": [float(v) for v in values],
            "color": list(colors) if not isinstance(colors, str) else [colors] * n,
            "text": list(text) if text is not None else [""] * n,
        }
    )
    y = {"field": "label", "type": "nominal", "sort": None, "title": None, "axis": {"labelLimit": 240}}
    x = {"field": "value", "type": "quantitative", "title": x_title, "axis": {"format": x_format}}
    tooltip = [
        {"field": "label", "type": "nominal", "title": label_title or "Name"},
        {"field": "value", "type": "quantitative", "title": tip_title, "format": x_format},
    ]
    bars = {
        "mark": {"type": "bar"},
        "encoding": {
            "y": y,
            "x": x,
            "color": {"field": "color", "type": "nominal", "scale": None, "legend": None},
            "tooltip": tooltip,
        },
    }
    labels_layer = {
        "mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 4, "fontSize": 11, "color": "#4a5568"},
        "encoding": {"y": y, "x": x, "text": {"field": "text", "type": "nominal"}},
    }
    spec = {
        "title": title(chart_title, subtitle),
        "height": max(160, 28 * n + 60),
        "layer": [bars, labels_layer] if text is not None else [bars],
    }
    return data, spec


def grouped_bars(
    long: pd.DataFrame,
    *,
    categories: Sequence[Any],
    series_order: Sequence[str],
    colors: Sequence[str],
    chart_title: str,
    y_title: str | None,
    y_format: str,
    height: int = 340,
    subtitle: str | None = None,
    category_title: str = "",
    extra_tooltip: Sequence[dict] = (),
) -> Chart:
    """Bars side by side per category, one per series (x offset). `long` has columns category,
    series, value, and any fields `extra_tooltip` names."""
    data = long.copy()
    data["category"] = [fmt.label(v) for v in data["category"]]
    data["series"] = [fmt.label(v) for v in data["series"]]
    data["value"] = pd.to_numeric(data["value"], errors="coerce").astype(float)
    series_names = [fmt.label(s) for s in series_order]
    spec = {
        "title": title(chart_title, subtitle),
        "height": height,
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "category",
                "type": "nominal",
                "sort": [fmt.label(c) for c in categories],
                "title": None,
                "axis": {"labelAngle": -30, "labelLimit": 160},
            },
            "xOffset": {"field": "series", "type": "nominal", "sort": series_names},
            "y": {"field": "value", "type": "quantitative", "title": y_title, "axis": {"format": y_format}},
            "color": {
                "field": "series",
                "type": "nominal",
                "scale": {"domain": series_names, "range": list(colors)[: len(series_names)]},
                "legend": legend_bottom(None),
            },
            "tooltip": [
                {"field": "category", "type": "nominal", "title": category_title or "Name"},
                {"field": "series", "type": "nominal", "title": "Series"},
                {"field": "value", "type": "quantitative", "title": y_title or "Value", "format": y_format},
                *extra_tooltip,
            ],
        },
    }
    return data, spec


def spec_of(chart: Chart) -> dict:
    """The spec alone (tests and callers that inspect a chart)."""
    return chart[1]


__all__ = [
    "Chart",
    "show",
    "title",
    "empty",
    "over_time",
    "hbars",
    "grouped_bars",
    "color_scale",
    "utc_iso",
    "when_labels",
    "bucket_ends",
    "USD_AXIS",
    "USD_TIP",
    "COUNT",
]
