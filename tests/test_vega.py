"""ui/vega.py: the Vega-Lite building blocks the pages' charts are made of."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st_
from streamlit.testing.v1 import AppTest

from llmledger.ui import vega

ORDER = ["chat", "<b>search</b>", "(other)"]
COLORS = {"chat": "#111111", "<b>search</b>": "#222222", "(other)": "#a0aec0"}


def _long() -> pd.DataFrame:
    t = pd.to_datetime(["2026-11-01", "2026-11-02", "2026-11-04"])
    rows = [
        {"bucket": t[0], "grp": "chat", "value": 3.0},
        {"bucket": t[1], "grp": "chat", "value": 1.0},
        {"bucket": t[2], "grp": "chat", "value": None},
        {"bucket": t[0], "grp": "<b>search</b>", "value": 2.0},
        {"bucket": t[2], "grp": "(other)", "value": 0.5},
        {"bucket": t[1], "grp": "not in order", "value": 99.0},
    ]
    return pd.DataFrame(rows)


def _chart(kind: str, bucket: str | None = "day"):
    return vega.over_time(
        _long(),
        order=ORDER,
        colors=COLORS,
        kind=kind,
        chart_title="Cost per day",
        y_title="Cost (USD)",
        y_format=vega.USD_AXIS,
        group_title="feature",
        bucket=bucket,
    )


def test_stacked_bars_span_their_bucket_in_utc_and_keep_the_group_order_and_colours():
    data, spec = _chart("bar")
    assert "not in order" not in set(data["group"])  # groups outside `order` are not drawn
    assert list(data["t"][:2]) == ["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"]
    assert list(data["t_end"][:2]) == ["2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"]
    assert data.loc[data["group"] == "chat", "value"].tolist()[:2] == [3.0, 1.0]
    enc = spec["encoding"]
    assert enc["x"]["scale"]["type"] == "utc" and enc["x2"] == {"field": "t_end"}
    assert enc["color"]["scale"] == {"domain": ORDER, "range": [COLORS[g] for g in ORDER]}
    assert spec["mark"]["orient"] == "vertical"
    # the first group in `order` is stacked first (at the bottom), as Plotly drew its first trace
    assert enc["order"] == {"field": "rank", "type": "quantitative", "sort": "ascending"}
    assert dict(zip(data["group"], data["rank"])) == {"chat": 0, "<b>search</b>": 1, "(other)": 2}
    # names reach the chart as written: Vega draws text, it does not read HTML
    assert "<b>search</b>" in set(data["group"])
    assert data.loc[0, "when"] == "2026-11-01 (UTC)"


def test_areas_fill_every_bucket_so_the_stack_has_no_holes():
    data, spec = _chart("area")
    per_t = data.groupby("t")["group"].nunique()
    assert (per_t == 3).all()
    search = data[data["group"] == "<b>search</b>"].set_index("t")["value"]
    assert search["2026-11-01T00:00:00Z"] == 2.0 and search["2026-11-02T00:00:00Z"] == 0.0
    assert spec["mark"]["type"] == "area"


def test_lines_are_not_stacked_and_break_at_a_missing_value():
    data, spec = _chart("line")
    assert spec["encoding"]["y"]["stack"] is None
    assert spec["mark"]["invalid"] == "break-paths-show-domains"
    chat = data[data["group"] == "chat"]
    assert chat["value"].isna().sum() == 1  # kept as a gap, not dropped and not 0


def test_bucket_ends_follow_the_bucket_size_and_guess_it_when_unknown():
    starts = pd.Series(pd.to_datetime(["2026-01-31", "2026-02-28"]))
    assert vega.utc_iso(vega.bucket_ends(starts, "month")) == ["2026-02-28T00:00:00Z", "2026-03-28T00:00:00Z"]
    hours = pd.Series(pd.to_datetime(["2026-01-01 00:00", "2026-01-01 03:00", "2026-01-01 05:00"]))
    assert vega.utc_iso(vega.bucket_ends(hours, None))[0] == "2026-01-01T02:00:00Z"
    assert vega.utc_iso(vega.bucket_ends(hours[:1], None)) == ["2026-01-01T01:00:00Z"]


def test_aware_times_are_converted_to_utc_not_relabelled():
    t = pd.Series([pd.Timestamp("2026-06-01 09:00", tz="Europe/Paris")])
    assert vega.utc_iso(t) == ["2026-06-01T07:00:00Z"]


def test_hbars_keep_the_order_given_each_colour_and_label():
    data, spec = vega.hbars(
        ["a", "<i>b</i>", None],
        [3, 2, 1],
        chart_title="Spend by feature",
        x_title="Actual cost",
        x_format=vega.USD_AXIS,
        colors=["#1", "#2", "#3"],
        text=["$3 · 50%", "$2", "$1"],
    )
    assert list(data["label"]) == ["a", "<i>b</i>", "(unattributed)"]
    assert list(data["value"]) == [3.0, 2.0, 1.0]
    bars, labels = spec["layer"]
    assert bars["encoding"]["y"]["sort"] is None  # data order: the first row on top
    assert bars["encoding"]["color"]["scale"] is None  # the colour column is the colour
    assert labels["encoding"]["text"]["field"] == "text"
    assert spec["height"] == max(160, 28 * 3 + 60)


def test_grouped_bars_offset_each_series_within_its_category():
    long = pd.DataFrame(
        {"category": ["m1", "m1", "m2"], "series": ["actual", "repriced", "actual"], "value": [1, 2, 3]}
    )
    data, spec = vega.grouped_bars(
        long,
        categories=["m2", "m1"],
        series_order=["actual", "repriced"],
        colors=["#a", "#b", "#c"],
        chart_title="Actual vs repriced",
        y_title="Cost",
        y_format=vega.USD_AXIS,
    )
    enc = spec["encoding"]
    assert enc["x"]["sort"] == ["m2", "m1"] and enc["xOffset"]["field"] == "series"
    assert enc["color"]["scale"] == {"domain": ["actual", "repriced"], "range": ["#a", "#b"]}
    assert data["value"].tolist() == [1.0, 2.0, 3.0]


def test_empty_says_why_in_the_chart_area():
    data, spec = vega.empty("Cost per day", "No priced calls in this selection")
    assert data["message"].tolist() == ["No priced calls in this selection"]
    assert spec["title"]["text"] == "Cost per day" and spec["mark"]["type"] == "text"


@settings(max_examples=60, deadline=None)
@given(
    st_.lists(
        st_.tuples(
            st_.integers(0, 40),
            st_.sampled_from(ORDER + ["stray"]),
            st_.one_of(st_.none(), st_.floats(0, 1e6, allow_nan=False)),
        ),
        max_size=60,
    ),
    st_.sampled_from(["bar", "area", "line"]),
    st_.sampled_from(["hour", "day", "week", "month", None]),
)
def test_over_time_keeps_every_total_and_every_bar_spans_forward(rows, kind, bucket):
    start = pd.Timestamp("2026-01-05")
    long = pd.DataFrame(
        [{"bucket": start + pd.Timedelta(hours=h), "grp": g, "value": v} for h, g, v in rows],
        columns=["bucket", "grp", "value"],
    )
    data, spec = vega.over_time(
        long,
        order=ORDER,
        colors=COLORS,
        kind=kind,
        chart_title="t",
        y_title="y",
        y_format=vega.COUNT,
        group_title="g",
        bucket=bucket,
    )
    kept = long[long["grp"].isin(ORDER)]
    for g in ORDER:
        want = pd.to_numeric(kept.loc[kept["grp"] == g, "value"]).fillna(0).sum()
        got = pd.to_numeric(data.loc[data["group"] == g, "value"]).fillna(0).sum()
        assert abs(got - want) <= 1e-6 * max(1.0, want)
    assert set(data["group"]) <= set(ORDER)
    if kind == "bar" and len(data):
        assert (pd.to_datetime(data["t_end"]) > pd.to_datetime(data["t"])).all()
    json.dumps(spec)  # the spec is plain JSON


SCRIPT = """
import pandas as pd
import streamlit as st
from llmledger.ui import vega

long = pd.DataFrame({"bucket": pd.to_datetime(["2026-11-01", "2026-11-02"]), "grp": ["a", "a"], "value": [1.0, 2.0]})
vega.show(st, vega.over_time(long, order=["a"], colors={"a": "#123456"}, kind="bar", chart_title="T",
          y_title="Y", y_format=",.0f", group_title="g", bucket="day"), key="c1")
vega.show(st, vega.empty("Nothing", "Why"), key="c2")
"""


def test_show_draws_the_chart_at_the_spec_height_with_its_data():
    at = AppTest.from_string(SCRIPT, default_timeout=60).run()
    assert not at.exception
    charts = at.get("vega_lite_chart")
    assert len(charts) == 2
    spec = json.loads(charts[0].proto.spec)
    assert "height" not in spec  # handed to Streamlit as the element's height instead
    table = pa.ipc.open_stream(charts[0].proto.data.data).read_all().to_pandas()
    assert table["value"].tolist() == [1.0, 2.0]
    assert table["t"].tolist() == ["2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"]
    assert json.loads(charts[1].proto.spec)["mark"]["type"] == "text"
