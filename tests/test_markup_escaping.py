"""Names from telemetry show as written: Plotly figures carry them escaped (Plotly reads a subset of
HTML in every text field), and Markdown-rendered strings carry them backslash-escaped.

The figures are built from a real ledger (hostile OTLP imported through the real import path) for
the Calls charts, and from small frames for the others."""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import plotly.graph_objects as go
import pytest
from hostile import (
    ANCHOR,
    BOLD,
    CALL_SPAN,
    FEATURES,
    HOSTILE,
    HOSTILE_MODEL,
    IMG,
    MD_IMG,
    MD_LINK,
    ROOT_SPAN,
    SCRIPT,
    load_hostile,
)

from llmledger.ui import format as fmt

#: Markup the figure builders write themselves (line breaks, bold span names, hover boxes).
OWN_MARKUP = re.compile(r"</?(?:br|b|extra|sup)>|<span style='color:#e53e3e'>|</span>")
MARKUP = [h for h in HOSTILE if "<" in h]


def strings(fig: go.Figure) -> list[str]:
    """Every string in the figure's JSON: names, labels, text, hover text, templates, titles."""
    out: list[str] = []

    def walk(x):
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(json.loads(fig.to_json()))
    return out


def assert_plain(fig: go.Figure, *shown: str) -> None:
    """No hostile markup reaches Plotly raw, no `<` is left beyond the builder's own tags, and
    each of `shown` is in the figure, escaped (so it reads as written)."""
    texts = strings(fig)
    for s in texts:
        for h in MARKUP:
            assert h not in s, f"raw {h!r} in {s!r}"
        assert "<" not in OWN_MARKUP.sub("", s), f"markup left in {s!r}"
    everything = "\n".join(texts)
    for name in shown:
        assert html.escape(name, quote=False) in everything, f"{name!r} is not shown"
    go.Figure(fig.to_dict())  # still a valid figure


# ------------------------------------------------------------------ the helpers


@pytest.mark.parametrize("name", HOSTILE + ["a & b", "&lt;already&gt;", "%{y}"])
def test_plain_label_escapes_html_and_round_trips(name):
    out = fmt.plain_label(name)
    assert "<" not in out and ">" not in out
    assert html.unescape(out) == name  # what Plotly shows is the name as written


def test_plain_labels_and_non_strings():
    assert fmt.plain_labels(pd.Series([BOLD, None, 3])) == ["&lt;b&gt;bold&lt;/b&gt;", "None", "3"]


def shown_markdown(out: str) -> str:
    """What Markdown shows for escaped text: each backslash escape resolved, joiners invisible."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", out).replace(fmt.WORD_JOINER, "")


@pytest.mark.parametrize(
    "name",
    HOSTILE
    + [
        "*em* _u_ __init__ `code` ~~s~~ ~t~",
        ":red[x] $x^2$ $$y$$",
        "# h",
        "> quote",
        "- item",
        "+ item",
        "1. one",
        "2) two",
        "=== | a |",
        "back\\slash",
        "&amp; &#60;",
        "x\n\n  # y\r\n- z",
    ],
)
def test_plain_markdown_escapes_markdown_syntax(name):
    out = fmt.plain_markdown(name)
    bare = re.sub(r"\\.", "", out)  # what is left once escaped characters are taken out
    assert not re.search(r"[\\`*~\[\]<>&$]", bare), out
    assert not re.search(r"_(?![^\W_])|(?<![^\W_])_", bare), out  # "_" only inside a word
    assert not re.match(r"\s|[#>+\-=|]|\d+[.)]", out), out  # nothing opens a block
    assert "\n" not in out
    assert shown_markdown(out) == " ".join(name.split()) if "\n" in name else shown_markdown(out) == name


def test_plain_markdown_leaves_ordinary_punctuation_alone():
    text = "Saved 3 rules; re-applied to Q8_0 (1.5 s): 'ok', 100% done!"
    assert fmt.plain_markdown(text) == text


def test_plain_markdown_joins_lines():
    assert fmt.plain_markdown("first\n\n  second\r\nthird") == "first second third"


def test_plain_markdown_breaks_bare_links():
    """GFM links bare URLs and addresses after resolving escapes; a word joiner stops it."""
    out = fmt.plain_markdown("http://x.invalid HTTPS://y www.z.invalid WWW.q a@b.invalid")
    assert "http\u2060://" in out and "HTTPS\u2060://" in out and "www\u2060." in out
    assert "WWW\u2060." in out and "a\u2060@" in out
    assert fmt.plain_markdown("gpt-4o.mini") == "gpt-4o.mini"  # no joiner where nothing links


# ------------------------------------------------------------------ Calls (real ledger)


@pytest.fixture
def hostile_con(con):
    load_hostile(con)
    return con


def calls_chart_strings(chart) -> list[str]:
    """Every string of a Calls Vega-Lite chart (ui/charts.over_time): in its spec and its data."""
    data, spec = chart
    out: list[str] = []

    def walk(x):
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(json.loads(json.dumps(spec)))
    walk([v for col in data.columns for v in data[col].tolist()])
    return out


def assert_as_written(chart, *shown: str) -> None:
    """Vega draws text literally: each of `shown` reaches the chart as written, and nothing in it
    is HTML-escaped (which would show "&lt;b&gt;" on screen)."""
    texts = calls_chart_strings(chart)
    for name in shown:
        assert name in texts or any(name in t for t in texts), f"{name!r} is not in the chart as written"
    for t in texts:
        assert html.unescape(t) == t, f"escaped text in {t!r}"


def test_calls_charts_from_a_hostile_ledger(hostile_con):
    from llmledger.reads import calls as rc
    from llmledger.reads import filters as rf
    from llmledger.ui import charts

    cur = hostile_con.cursor()
    f = rf.CallFilter.build(None, None, {})
    series = rc.timeseries(cur, f, "feature", "day", 8, True)
    for metric in ("calls", "tokens", "p95_ms", "cost_usd"):
        data, spec = chart = charts.over_time(series, metric, "feature", f"{BOLD} per day", "day")
        assert_as_written(chart, *FEATURES, f"{BOLD} per day")
        assert set(data["group"]) == set(FEATURES)  # the names are data: the legend draws them
        assert set(spec["encoding"]["color"]["scale"]["domain"]) == set(FEATURES)
        assert spec["title"]["text"] == f"{BOLD} per day"
    by_model = rc.timeseries(cur, f, "model", "day", 8, True)
    data, spec = chart = charts.over_time(by_model, "calls", f"{IMG} group", bucket="day")
    assert_as_written(chart, HOSTILE_MODEL, IMG)
    assert HOSTILE_MODEL in set(data["group"]) and HOSTILE_MODEL in spec["encoding"]["color"]["scale"]["domain"]
    assert spec["encoding"]["tooltip"][0] == {"field": "group", "type": "nominal", "title": f"{IMG} group"}
    top = rc.top_traces(cur, f, "tokens")
    spans = rc.trace_spans(cur, top["trace_id"][0])
    fig = charts.waterfall(spans, f"Trace {SCRIPT}")  # Plotly: escaped
    assert_plain(fig, ROOT_SPAN, CALL_SPAN, HOSTILE_MODEL, MD_LINK)
    ticks = [html.unescape(t).replace("\u00a0", " ").strip() for t in fig.layout.yaxis.ticktext]
    assert ticks == [ROOT_SPAN, "◆ " + CALL_SPAN]  # padded and indented as before, then escaped
    assert_plain(charts.waterfall(spans.iloc[:0], SCRIPT), SCRIPT)


def test_over_time_tooltip_names_the_group_through_a_field():
    from llmledger.ui import charts

    series = pd.DataFrame(
        {
            "bucket": pd.to_datetime(["2026-01-01", "2026-01-02"]),
            "grp": [ANCHOR, "%{y}"],
            "calls": [3, 4],
            "tokens": [10, 20],
            "cost_usd": [0.1, 0.2],
            "p95_ms": [5.0, 6.0],
        }
    )
    for metric in ("calls", "p95_ms"):
        data, spec = charts.over_time(series, metric, "feature")
        assert sorted(data["group"]) == sorted([ANCHOR, "%{y}"])  # as written
        assert spec["encoding"]["tooltip"][:2] == [  # the name is data, never part of the tooltip's spec
            {"field": "group", "type": "nominal", "title": "Feature"},
            {"field": "when", "type": "nominal", "title": "When"},
        ]
        color = spec["encoding"]["color"]
        assert color["scale"]["domain"] == color["sort"] == ["%{y}", ANCHOR]  # by calls; whole list items ...
        rest = json.loads(json.dumps(spec))
        del rest["encoding"]["color"]["scale"]["domain"], rest["encoding"]["color"]["sort"]
        assert "click" not in json.dumps(rest) and "%{y}" not in json.dumps(rest)  # ... and nowhere else


# ------------------------------------------------------------------ Spend, Estimate, Reprice
# Their charts are Vega-Lite (ui/money_charts): Vega draws text literally, so names reach the chart
# as written; escaping them (what Plotly needs) would show "&lt;b&gt;" on screen.

GROUPS = [BOLD, ANCHOR, SCRIPT, MD_IMG]
#: Spec properties whose strings Vega evaluates as expressions: no name from data may sit there.
EXPRESSIONS = {"expr", "filter", "labelExpr", "calculate", "test", "signal"}


def vega_strings(chart) -> tuple[str, list[str]]:
    """Every string in a (data, spec) chart joined, and the spec's expression strings."""
    data, spec = chart
    texts: list[str] = []
    exprs: list[str] = []

    def walk(x, key=None):
        if isinstance(x, str):
            texts.append(x)
            if key in EXPRESSIONS:
                exprs.append(x)
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(v, k)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)

    walk(json.loads(json.dumps(spec)))
    for col in data.columns:
        walk([v for v in data[col].tolist() if isinstance(v, str)])
    return "\n".join(texts), exprs


def assert_literal(chart, *shown: str) -> None:
    """Each of `shown` reaches the Vega-Lite chart as written, nothing in it is HTML-escaped, and
    no name is part of an expression Vega would evaluate."""
    everything, exprs = vega_strings(chart)
    for name in shown:
        assert name in everything, f"{name!r} is not in the chart as written"
    for entity in ("&lt;", "&gt;", "&amp;", "&quot;"):
        assert entity not in everything, f"escaped text {entity!r} in the chart"
    for e in exprs:
        assert not any(h in e for h in [*HOSTILE, *shown]), f"a name inside the expression {e!r}"


def test_spend_charts():
    from llmledger.ui import money_charts as mc

    series = pd.DataFrame(
        {
            "bucket": pd.to_datetime(["2026-01-01"] * 4 + ["2026-01-02"] * 4),
            "grp": GROUPS * 2,
            "cost_usd": [1.0, 2.0, 3.0, 4.0] * 2,
        }
    )
    for kind in ("area", "bar"):
        data, spec = mc.spend_over_time(series, f"{IMG} label", kind, "day")
        assert_literal((data, spec), *GROUPS, IMG)
        assert set(data["group"]) == set(GROUPS)  # the names are data, the legend draws them
        assert spec["encoding"]["color"]["scale"]["domain"] == GROUPS[::-1]  # by cost, largest first
    table = pd.DataFrame({"grp": GROUPS, "cost_usd": [4.0, 3.0, 2.0, 1.0], "share": [0.4, 0.3, 0.2, 0.1]})
    data, _ = mc.spend_by(table, "feature")
    assert_literal((data, _), *GROUPS)
    assert list(data["label"]) == GROUPS
    rep = pd.DataFrame({"model": GROUPS, "reported_usd": [1.0] * 4, "computed_usd": [1.1] * 4})
    data, spec = mc.reported_vs_computed(rep)
    assert_literal((data, spec), *GROUPS)
    assert spec["encoding"]["x"]["sort"] == GROUPS


def test_estimate_charts():
    from llmledger.ui import money_charts as mc

    counts = pd.DataFrame({"tokenizer": [BOLD, IMG], "tokens": [10, 12]})
    assert_literal(mc.tokens_by_tokenizer(counts), BOLD, IMG)
    costs = pd.DataFrame(
        {
            "model": [ANCHOR, SCRIPT, MD_LINK],
            "sheet": [BOLD, BOLD, IMG],
            "cost_usd": [0.5, 0.7, None],
            "estimated": [True] * 3,
        }
    )
    data, spec = mc.cost_per_model(costs, f"Estimated {MD_IMG} {BOLD}")
    assert_literal((data, spec), ANCHOR, SCRIPT, BOLD, MD_IMG)
    assert spec["title"]["text"] == f"Estimated {MD_IMG} {BOLD}"
    assert spec["title"]["subtitle"] == f"no price: {MD_LINK} ({IMG})"
    assert MD_LINK not in set(data["category"])  # no price: no bar
    empty_data, empty_spec = mc.cost_per_model(costs.iloc[2:], SCRIPT)  # nothing priced: the empty chart
    assert_literal((empty_data, empty_spec), SCRIPT, f"no price: {MD_LINK} ({IMG})")
    assert empty_spec["title"]["text"] == SCRIPT
    bill = pd.DataFrame(
        {"month": ["Month 1", "Month 2"], "cost_usd": [1.0, 2.0], "input_usd": [0.5, 1.0], "output_usd": [0.5, 1.0]}
    )
    assert_literal(mc.monthly_bill(bill, f"Projected bill: {ANCHOR} on {BOLD}"), f"Projected bill: {ANCHOR} on {BOLD}")
    tax = pd.DataFrame(
        {
            "language": [SCRIPT, "English"] * 2,
            "tokenizer": [BOLD, BOLD, IMG, IMG],
            "ratio_vs_english": [1.5, 1.0, 1.2, 1.0],
            "tokens": [15, 10, 12, 10],
        }
    )
    data, spec = mc.token_tax(tax)
    assert_literal((data, spec), SCRIPT, BOLD, IMG)
    assert spec["layer"][0]["encoding"]["x"]["sort"] == [SCRIPT, "English"]


def test_reprice_charts():
    from llmledger.ui import money_charts as mc

    table = pd.DataFrame(
        {
            "grp": GROUPS,
            "actual_usd": [1.0, 2.0, 3.0, 4.0],
            "repriced_usd": [2.0, 1.0, 3.0, 5.0],
            "delta_usd": [1.0, -1.0, 0.0, 1.0],
        }
    )
    data, spec = mc.actual_vs_repriced(table, f"{BOLD}")
    assert_literal((data, spec), *GROUPS, f"Actual vs repriced, by {BOLD}")
    assert spec["encoding"]["x"]["sort"] == GROUPS
    data, spec = mc.delta_bars(table, f"{BOLD}")
    assert_literal((data, spec), *GROUPS, f"Change per {BOLD} (repriced − actual)")
    assert list(data["label"]) == GROUPS


# ------------------------------------------------------------------ Plan


def test_plan_charts():
    from llmledger.planning.prices import ModelPrice
    from llmledger.planning.projection import project
    from llmledger.planning.requirements import RequirementSet, UseCase
    from llmledger.planning.shortlist import shortlist
    from llmledger.ui import plan_charts as charts

    prices = {ANCHOR: ModelPrice(ANCHOR, "x", 1.0, 2.0), BOLD: ModelPrice(BOLD, "y", 3.0, 15.0)}
    rs = RequirementSet(
        start_month="2026-01",
        candidates=[ANCHOR, BOLD],
        use_cases=[
            UseCase(
                name=SCRIPT,
                requests_per_day=1000,
                input_tokens=1000,
                output_tokens=500,
                monthly_budget_usd=70,
                model=ANCHOR,
                input_token_samples=[800, 1000, 1200],
            ),
            UseCase(name=IMG, requests_per_day=10, model=BOLD),
        ],
    )
    proj = project(rs, prices)
    assert_plain(charts.projection_chart(proj), SCRIPT, IMG)
    assert_plain(charts.projection_chart(proj, BOLD), BOLD)
    assert_plain(charts.use_case_band_chart(proj, SCRIPT), SCRIPT, ANCHOR)
    assert_plain(charts.candidates_chart(proj), ANCHOR, BOLD)
    effects = pd.DataFrame({"effect": [MD_IMG, SCRIPT], "usd": [1.0, -0.5]})
    assert_plain(charts.variance_waterfall(10.0, effects, 10.5), MD_IMG, SCRIPT)
    sl = shortlist(RequirementSet(start_month="2026-01", use_cases=[UseCase(name="u")]), "u", prices)
    assert_plain(charts.shortlist_chart(sl.eligible), ANCHOR, BOLD)


# ------------------------------------------------------------------ Local lab


def local_chart_texts(chart) -> list[str]:
    """Every string of a Local-lab Vega-Lite chart: its spec (inline layer data included) and its data."""
    data, spec = chart
    out: list[str] = []

    def walk(x):
        if isinstance(x, str):
            out.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(json.loads(json.dumps(spec)))
    walk([v for col in data.columns for v in data[col].tolist()])
    return out


def assert_local_as_written(chart, *shown: str) -> None:
    """Vega draws text literally: each of `shown` is in the chart as written, nothing is HTML-escaped."""
    texts = local_chart_texts(chart)
    for name in shown:
        assert any(name in t for t in texts), f"{name!r} is not in the chart as written"
    for t in texts:
        assert html.unescape(t) == t, f"escaped text in {t!r}"


def test_local_lab_charts():
    from llmledger.local import price
    from llmledger.ui import local_charts as charts

    summary = [
        {"variant": v, "prompt_tps": 100.0, "gen_tps": 50.0, "ttft_ms": 20.0, "e2e_ms": 300.0} for v in (BOLD, IMG)
    ]
    for chart in (charts.throughput(summary), charts.latency(summary)):
        assert_local_as_written(chart, BOLD, IMG)
        data, spec = chart
        assert list(dict.fromkeys(data["category"])) == [BOLD, IMG]  # the variants, in the summary's order
        assert spec["layer"][0]["encoding"]["x"]["sort"] == [BOLD, IMG]
    chart = charts.quality_vs_size([{"variant": ANCHOR, "size_mb": 90.0, "perplexity": 12.0}])
    assert_local_as_written(chart, ANCHOR)
    assert list(chart[0]["variant"]) == [ANCHOR] and chart[1]["layer"][1]["encoding"]["text"]["field"] == "variant"
    chart = charts.memory_bars([{"file_type": SCRIPT, "naive_gb": 1.0, "gb": 1.1, "kv_gb": 0.2}])
    assert_local_as_written(chart, SCRIPT)
    assert set(chart[0]["category"]) == {SCRIPT}
    r = price.rates(1.0, 500, 100)
    apis = {ANCHOR: (5.0, 15.0), MD_IMG: (0.15, 0.6)}
    _, bes = price.comparison(r, "local", apis, 0.25)
    chart = charts.break_even(price.break_even_curve(r, apis, 0.25), bes)
    assert_local_as_written(chart, ANCHOR, MD_IMG)
    data, spec = chart
    assert list(dict.fromkeys(data["option"])) == ["local (always on)", ANCHOR, MD_IMG]
    labels = [v["label"] for layer in spec["layer"] if "data" in layer for v in layer["data"]["values"]]
    assert any(label.startswith(f"{ANCHOR}: ") for label in labels)  # the break-even rule's label, as written
