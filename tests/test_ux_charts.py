"""Small things in charts and tables (issue 15, item 8): the bill's second axis is its own, in
whole dollars, money ticks put the sign first, waterfall labels stay on the figure,
latency lines break over empty buckets, the Calls charts (Vega-Lite) keep each group's values,
order and colour and say why a chart is empty, and tables say what an empty cell means."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from apptest_helpers import frame, ok, page

from llmledger.ui import charts, money_charts
from llmledger.ui import plan_widgets as pw


def test_bill_cumulative_axis_is_independent_and_rounded():
    """The cumulative line has its own y scale (a layered Vega-Lite spec resolving y independently),
    on the right, in whole dollars and without gridlines of its own over the bars'."""
    bill = pd.DataFrame(
        {
            "month": [f"Month {i}" for i in range(1, 13)],
            "cost_usd": [40.5] * 12,
            "cumulative_usd": np.cumsum([40.5] * 12),
        }
    )
    data, spec = money_charts.monthly_bill(bill)
    assert spec["resolve"] == {"scale": {"y": "independent"}}
    bars, line = spec["layer"]
    assert line["encoding"]["y"]["field"] == "cumulative"
    assert line["encoding"]["y"]["axis"] == {"format": "$,.0f", "orient": "right", "grid": False}
    assert bars["encoding"]["y"]["axis"]["format"] == "$,.8~f"  # d3 puts the sign first: −$0.5, not $-0.5
    assert list(data.loc[data["first"], "cumulative"]) == pytest.approx(list(bill["cumulative_usd"]))


def test_delta_bars_write_the_sign_before_the_dollar():
    table = pd.DataFrame({"grp": ["a", "b"], "actual_usd": [30.0, 5.0], "repriced_usd": [2.5, 6.0]})
    table["delta_usd"] = table["repriced_usd"] - table["actual_usd"]
    data, spec = money_charts.delta_bars(table, "feature")
    bars = spec["layer"][0]["encoding"]
    assert bars["x"]["axis"]["format"] == "$,.8~f"  # a format, not a "$" prefix before the minus
    assert bars["tooltip"][1]["format"] == "+$,.4f"
    assert list(data["text"]) == ["−$27.50", "+$1.00"]


def spans(offsets, durations):
    n = len(offsets)
    return pd.DataFrame(
        {
            "name": [f"span {i}" for i in range(n)],
            "depth": [0] + [1] * (n - 1),
            "is_llm": [False] + [True] * (n - 1),
            "status_code": ["OK"] * n,
            "offset_ms": offsets,
            "duration_ms": durations,
            "model": ["m"] * n,
            "provider": ["p"] * n,
            "input_tokens": [10_200] * n,
            "output_tokens": [3_800] * n,
            "usage_source": ["reported"] * n,
            "convention": ["genai"] * n,
            "service": ["svc"] * n,
        }
    )


def test_waterfall_labels_near_the_end_go_left_of_their_bar():
    # root 0-45 s; a wide call; a short call mid-way; a short call at the very end
    fig = charts.waterfall(spans([0, 0, 20_000, 44_000], [45_000, 20_000, 500, 900]))
    bar = fig.data[0]
    assert list(bar.textposition) == ["inside", "inside", "outside", "outside"]
    assert bar.text[3] == ""  # its label moved ...
    notes = fig.layout.annotations
    assert len(notes) == 1 and notes[0].xanchor == "right" and notes[0].x == 44_000  # ... to its left
    assert "m · 10.2k→3.8k" in notes[0].text


def test_latency_lines_break_over_empty_buckets():
    days = pd.to_datetime(["2026-01-01", "2026-01-02", "2026-03-01"], utc=True)  # two empty months between
    series = pd.DataFrame({"bucket": days, "grp": "a", "calls": [3, 4, 5], "p95_ms": [100.0, 120.0, 90.0]})
    data, spec = charts.over_time(series, "p95_ms", "feature", bucket="day")
    assert len(data) == 60 and data["value"].notna().sum() == 3  # every empty day is a hole
    values = data.set_index("t")["value"]
    assert values["2026-01-02T00:00:00Z"] == 120.0 and values["2026-03-01T00:00:00Z"] == 90.0
    assert np.isnan(values["2026-01-03T00:00:00Z"])
    assert spec["mark"]["type"] == "line" and spec["mark"]["invalid"] == "break-paths-show-domains"
    assert spec["mark"]["point"]["filled"]  # a value alone between empty days still shows
    assert spec["encoding"]["y"]["stack"] is None  # latencies do not add up


def calls_series() -> pd.DataFrame:
    """Two days of three groups: `b` has the most calls, (other) and (unattributed) come last."""
    days = pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-01", "2026-01-02", "2026-01-02"], utc=True)
    return pd.DataFrame(
        {
            "bucket": days,
            "grp": ["a", "b", "(other)", "b", "(unattributed)"],
            "calls": [2, 5, 9, 4, 1],
            "tokens": [20, 50, 90, 0, 10],
            "cost_usd": [0.5, None, 1.5, 0.25, None],
            "p95_ms": [10.0, 20.0, None, 30.0, 40.0],
        }
    )


def test_calls_over_time_stacks_each_group_per_bucket_in_order_of_calls():
    data, spec = charts.over_time(calls_series(), "calls", "feature", "Calls per day", "day")
    assert spec["title"]["text"] == "Calls per day" and spec["mark"]["type"] == "bar"
    values = data.set_index(["group", "t"])["value"].to_dict()
    assert values == {
        ("a", "2026-01-01T00:00:00Z"): 2,
        ("b", "2026-01-01T00:00:00Z"): 5,
        ("(other)", "2026-01-01T00:00:00Z"): 9,
        ("b", "2026-01-02T00:00:00Z"): 4,
        ("(unattributed)", "2026-01-02T00:00:00Z"): 1,
    }
    order = ["b", "a", "(other)", "(unattributed)"]  # by calls; the grey ones last, whatever their size
    color = spec["encoding"]["color"]
    assert color["scale"]["domain"] == order and color["sort"] == order
    assert color["scale"]["range"] == [charts.PALETTE[0], charts.PALETTE[1], "#a0aec0", "#cbd5e0"]
    assert dict(zip(data["group"], data["rank"])) == {"b": 0, "a": 1, "(other)": 2, "(unattributed)": 3}
    assert spec["encoding"]["order"] == {"field": "rank", "type": "quantitative", "sort": "ascending"}
    assert set(zip(data["t"], data["t_end"])) == {  # each bar spans its day
        ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"),
    }
    tips = {t["field"]: t for t in spec["encoding"]["tooltip"]}
    assert tips["group"]["title"] == "Feature" and tips["value"]["format"] == ",.0f"
    assert list(data["when"])[:1] == ["2026-01-01 (UTC)"]


def test_cost_and_latency_keep_the_groups_colours_and_say_what_is_missing():
    series = calls_series()
    cost, spec = charts.over_time(series, "cost_usd", "feature", bucket="day")
    assert cost.groupby("group")["value"].sum().to_dict() == {"a": 0.5, "b": 0.25, "(other)": 1.5, "(unattributed)": 0}
    assert spec["encoding"]["y"]["axis"]["format"] == "$,.2~f"  # $2 a day at most: "$0.4", "$0.8"
    assert next(t for t in spec["encoding"]["tooltip"] if t["field"] == "value")["format"] == "$,.4f"
    tiny = series.assign(cost_usd=series["cost_usd"] / 10_000)  # $0.0002 a day: ticks need more decimals
    _, spec = charts.over_time(tiny, "cost_usd", "feature", bucket="day")
    assert spec["encoding"]["y"]["axis"]["format"] == "$,.6~f"
    assert next(t for t in spec["encoding"]["tooltip"] if t["field"] == "value")["format"] == "$,.6f"
    latency, spec = charts.over_time(series, "p95_ms", "feature", bucket="day")
    assert set(latency["group"]) == {"a", "b", "(unattributed)"}  # (other) has no latency: no line
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"] == ["b", "a", "(unattributed)"]
    assert scale["range"] == [charts.PALETTE[0], charts.PALETTE[1], "#cbd5e0"]  # as on the other charts

    def message(chart):
        data, spec = chart
        assert spec["mark"]["type"] == "text"
        return spec["title"]["text"], list(data["message"])

    off = series.assign(cost_usd=None)
    assert message(charts.over_time(off, "cost_usd", "feature", "Cost per day (USD)")) == (
        "Cost per day (USD)",
        ["Cost is off, or no price sheet covers these models yet"],
    )
    zero = series.assign(cost_usd=[0.0, None, 0.0, 0.0, None])
    assert message(charts.over_time(zero, "cost_usd", "feature"))[1] == [
        "No priced calls: no price sheet covers these models yet"
    ]
    assert message(charts.over_time(series.assign(tokens=0), "tokens", "feature"))[1] == ["No token usage reported"]
    assert message(charts.over_time(series.assign(p95_ms=None), "p95_ms", "feature"))[1] == ["Nothing reported"]
    for metric in ("calls", "tokens", "p95_ms", "cost_usd"):
        assert message(charts.over_time(series.iloc[:0], metric, "feature", "T")) == (
            "T",
            ["No calls in this selection"],
        )


def test_plan_tables_have_human_headers_and_words_for_empty_cells():
    from llmledger.planning.projection import project
    from llmledger.planning.requirements import example_set

    proj = project(example_set(), {})
    for table in (proj.summary(), proj.compare(), proj.frame()):
        for col in table.columns:
            assert col in pw.MONEY or col in pw.NUM, f"no header for {col}"
    shown = pw.readable(proj.summary(), proj.summary()["monthly_budget_usd"].notna())
    assert shown["budget_exceeded_in"].notna().all()


@pytest.fixture
def demo_ledger(db_path):
    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    con = connect(db_path)
    demo.generate(con, n_calls=800, days=10)
    con.close()


def test_reranking_opens_the_new_top_trace(demo_ledger):
    at = page("calls")
    at.query_params["preset"] = "all"
    at.session_state["calls_tab"] = "Top traces"  # lazy tabs: only the open one runs
    ok(at.run())
    second = frame(at, "trace_id", "root_name")["trace_id"].iloc[1]
    at.selectbox(key="calls_trace").set_value(second)
    ok(at.run())
    assert at.selectbox(key="calls_trace").value == second
    at.radio(key="calls_rank_by").set_value("latency")
    ok(at.run())
    top = frame(at, "trace_id", "root_name")["trace_id"].iloc[0]
    assert at.selectbox(key="calls_trace").value == top
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert f"Trace {top}" in titles


def test_reprice_says_not_swapped_with_an_empty_cell(demo_ledger):
    at = page("reprice")
    at.query_params["preset"] = "all"
    ok(at.run())
    table = next(d.value for d in at.dataframe if "swapped_to" in d.value.columns)
    assert (table["swapped_to"] == "").all() and (table["token_mapping"] == "").all()


def unlabelled(at) -> set[str]:
    """Table columns shown under their code name (snake_case) rather than a header for people."""
    out = set()
    for d in at.dataframe:
        config = json.loads(d.proto.columns or "{}")
        shown = list(d.proto.column_order) or list(d.value.columns)
        for col in shown:
            if "_" in str(col) and not config.get(str(col), {}).get("label"):
                out.add(str(col))
    return out


@pytest.mark.parametrize("name, tab", [("calls", None), ("spend", None), ("reprice", None), ("plan", "Projection")])
def test_tables_show_headers_for_people(demo_ledger, name, tab):
    at = page(name)
    at.query_params["preset"] = "all"
    if tab:
        at.session_state["pf_tab"] = tab
    ok(at.run())
    assert at.dataframe and not unlabelled(at)
