"""The Calls/Ingest queries on a real DuckDB, filled through the real import path.

A small, hand-checkable set of traces is made with the OpenTelemetry SDK (explicit times),
encoded to OTLP protobuf by the SDK's encoder, decoded and loaded by the loader; the numbers
asserted below are worked out from that set by hand.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from helpers import ROOT
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmledger.errors import StoreError
from llmledger.reads import buckets as rb
from llmledger.reads import calls as rc
from llmledger.reads import filters as rf
from llmledger.reads import ingest as ri
from llmledger.reads import rules as rr
from llmledger.telemetry import loader, otlp

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
MS = 1_000_000
UNKNOWN_MODEL = "acme-internal-model-zz9"


def _ns(dt: datetime, plus_ms: float = 0) -> int:
    return int(dt.timestamp() * 1e9 + plus_ms * MS)


def _chat(tracer, ctx, model, start, dur_ms, tokens=None, provider="openai", error=False, extra=None):
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        **(extra or {}),
    }
    if tokens:
        attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"] = tokens
    span = tracer.start_span(f"chat {model}", context=ctx, kind=SpanKind.CLIENT, start_time=start, attributes=attrs)
    if error:
        span.set_status(Status(StatusCode.ERROR, "429"))
    span.end(end_time=start + int(dur_ms * MS))
    return span


def build_traces() -> bytes:
    """Four traces, six calls:

    A svc-a/production, feature search, team t-search, user u1: workflow (0-3500 ms) with
      chat gpt-4o-mini 100/20 (10-1010 ms) and chat gpt-4o 300/50 (1100-3100 ms)
    B svc-b/staging, no feature: chat claude-3-5-haiku 500/100 (error), then UNKNOWN_MODEL 40/4
    C svc-a/production, feature search on the span itself: chat gpt-4o-mini without usage
    D svc-a/production, next day, feature chat, user u2: chat gpt-4o 1000/200
    """
    exporter = InMemorySpanExporter()
    tracers = {}
    for service, env in (("svc-a", "production"), ("svc-b", "staging")):
        provider = TracerProvider(
            resource=Resource.create({"service.name": service, "deployment.environment.name": env}),
            shutdown_on_exit=False,
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracers[service] = provider.get_tracer("tests.queries")
    a, b = tracers["svc-a"], tracers["svc-b"]

    root = a.start_span(
        "workflow", start_time=_ns(T0), attributes={"app.feature": "search", "app.team": "t-search", "user.id": "u1"}
    )
    ctx = trace_api.set_span_in_context(root)
    _chat(a, ctx, "gpt-4o-mini", _ns(T0, 10), 1000, (100, 20))
    _chat(a, ctx, "gpt-4o", _ns(T0, 1100), 2000, (300, 50))
    root.end(end_time=_ns(T0, 3500))

    t1 = T0 + timedelta(hours=1)
    job = b.start_span("job", start_time=_ns(t1))
    ctx = trace_api.set_span_in_context(job)
    _chat(b, ctx, "claude-3-5-haiku-20241022", _ns(t1, 5), 800, (500, 100), provider="anthropic", error=True)
    _chat(b, ctx, UNKNOWN_MODEL, _ns(t1, 900), 300, (40, 4))
    job.end(end_time=_ns(t1, 1300))

    t2 = T0 + timedelta(hours=2)
    _chat(a, None, "gpt-4o-mini", _ns(t2), 500, None, extra={"app.feature": "search"})

    t3 = T0 + timedelta(days=1)
    _chat(a, None, "gpt-4o", _ns(t3), 4000, (1000, 200), extra={"app.feature": "chat", "user.id": "u2"})
    return encode_spans(exporter.get_finished_spans()).SerializeToString()


@pytest.fixture
def ledger(con):
    result = loader.load(con, otlp.decode_protobuf(build_traces()), batch_id="tests-queries", source="tests")
    assert result.calls_new == 6
    return con.cursor()


def everything():
    return rf.CallFilter.build()


def test_summary_counts_every_call(ledger):
    s = rc.summary(ledger, everything())
    assert s["calls"] == 6
    assert s["input_tokens"] == 100 + 300 + 500 + 40 + 1000
    assert s["output_tokens"] == 20 + 50 + 100 + 4 + 200
    assert s["errors"] == 1 and s["missing_usage"] == 1 and s["demo_calls"] == 0
    assert s["cost_usd"] is None and s["priced_calls"] is None  # without cost: the calls table
    priced = rc.summary(ledger, everything(), with_cost=True)
    assert {k: priced[k] for k in ("calls", "input_tokens", "errors")} == {
        k: s[k] for k in ("calls", "input_tokens", "errors")
    }
    assert priced["priced_calls"] == ledger.execute("SELECT count(cost_usd) FROM llm_calls").fetchone()[0]


def test_breakdown_groups_and_unattributed(ledger):
    by_feature = rc.breakdown(ledger, everything(), "feature").set_index("grp")
    assert by_feature["calls"].to_dict() == {"search": 3, rf.UNATTRIBUTED: 2, "chat": 1}
    assert by_feature.loc[rf.UNATTRIBUTED, "input_tokens"] == 540
    assert by_feature.loc["search", "missing_usage"] == 1
    assert by_feature.loc[rf.UNATTRIBUTED, "error_rate"] == pytest.approx(0.5)
    assert by_feature["share"].sum() == pytest.approx(1.0)
    by_env = rc.breakdown(ledger, everything(), "environment").set_index("grp")["calls"].to_dict()
    assert by_env == {"production": 4, "staging": 2}
    by_model = rc.breakdown(ledger, everything(), "model").set_index("grp")["calls"].to_dict()
    assert by_model["gpt-4o"] == 2 and by_model[UNKNOWN_MODEL] == 1
    by_user = rc.breakdown(ledger, everything(), "user").set_index("grp")["calls"].to_dict()
    assert by_user == {"u1": 2, "u2": 1, rf.UNATTRIBUTED: 3}


def test_filters_by_value_unattributed_and_dates(ledger):
    def calls(**kw):
        return rc.summary(ledger, rf.CallFilter.build(**kw))["calls"]

    assert calls(values={"feature": ["search"]}) == 3
    assert calls(values={"feature": [rf.UNATTRIBUTED]}) == 2
    assert calls(values={"feature": ["search", rf.UNATTRIBUTED]}) == 5
    assert calls(values={"feature": ["search"], "model": ["gpt-4o"]}) == 1
    assert calls(values={"environment": ["staging"], "provider": ["anthropic"]}) == 1
    assert calls(start=date(2026, 3, 3)) == 1
    assert calls(end=date(2026, 3, 2)) == 5
    assert calls(start=date(2026, 3, 4)) == 0
    assert calls(values={"team": ["t-search"]}) == 2  # the workflow's team reaches its children only


def test_filter_values_are_bound_not_formatted(ledger):
    evil = "x') OR 1=1 --"
    assert rc.summary(ledger, rf.CallFilter.build(values={"feature": [evil]}))["calls"] == 0
    with pytest.raises(StoreError):
        rf.CallFilter.build(values={"feature; DROP TABLE calls": ["x"]})
    with pytest.raises(StoreError):
        rc.timeseries(ledger, everything(), "feature", bucket="minute; DROP TABLE calls")


def test_dimension_values_and_bounds(ledger):
    values = rc.dimension_values(ledger)
    assert values["feature"] == ["search", "chat", rf.UNATTRIBUTED]
    assert values["service"] == ["svc-a", "svc-b"]
    assert set(values["convention"]) == {"otel_genai"}
    assert rf.UNATTRIBUTED not in values["model"]
    assert rc.date_bounds(ledger) == (date(2026, 3, 2), date(2026, 3, 3))
    assert rc.call_count(ledger) == 6 and rc.call_count(ledger, demo_only=True) == 0


def test_timeseries_buckets_groups_and_other(ledger):
    assert rb.bucket_for(date(2026, 3, 2), date(2026, 3, 3)) == "hour"
    assert rb.bucket_for(date(2026, 1, 1), date(2026, 3, 31)) == "day"
    assert rb.bucket_for(date(2025, 1, 1), date(2026, 3, 31)) == "week"
    hourly = rc.timeseries(ledger, everything(), "feature", "hour")
    assert hourly["calls"].sum() == 6
    assert sorted(hourly["bucket"].unique()) == [  # 12:00, 13:00, 14:00 on day one, 12:00 on day two
        T0,
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=2),
        T0 + timedelta(days=1),
    ]
    weekly = rc.timeseries(ledger, everything(), "feature", "week")
    assert set(weekly["bucket"]) == {datetime(2026, 3, 2, tzinfo=UTC)}  # both days: the Monday
    assert weekly["calls"].sum() == 6
    top1 = rc.timeseries(ledger, everything(), "feature", "day", top_n=1)
    assert set(top1["grp"]) == {"search", rf.OTHER}
    assert top1.groupby("grp")["calls"].sum().to_dict() == {"search": 3, rf.OTHER: 3}
    daily = rc.timeseries(ledger, everything(), "model", "day").set_index(["grp"])
    day_two = daily[daily["bucket"] == daily["bucket"].max()]
    assert day_two.loc["gpt-4o", "tokens"] == 1200
    assert day_two.loc["gpt-4o", "p95_ms"] == pytest.approx(4000, rel=1e-3)


def test_top_traces_rankings(ledger):
    by_tokens = rc.top_traces(ledger, everything(), "tokens")
    assert list(by_tokens["tokens"]) == [1200, 644, 470, 0]
    first = by_tokens.iloc[2]
    assert first["root_name"] == "workflow" and first["calls"] == 2 and first["feature"] == "search"
    assert first["trace_ms"] == 3500
    assert first["llm_window_ms"] == pytest.approx(3100 - 10, rel=1e-3)
    by_latency = rc.top_traces(ledger, everything(), "latency")
    assert by_latency.iloc[0]["llm_window_ms"] == pytest.approx(4000, rel=1e-3)
    assert by_latency.iloc[1]["trace_ms"] == 3500
    only_b = rc.top_traces(ledger, rf.CallFilter.build(values={"service": ["svc-b"]}), "cost")
    assert len(only_b) == 1 and only_b.iloc[0]["feature"] == rf.UNATTRIBUTED and only_b.iloc[0]["errors"] == 1
    with pytest.raises(StoreError):
        rc.top_traces(ledger, everything(), "vibes")


def test_top_traces_large_sums_survive_sorting(con):
    """DuckDB 2.0.0 truncated big sums to INT8 when a ranked CTE was joined and sorted again."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "big"}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    for i in range(30):
        _chat(tracer, None, "gpt-4o", _ns(T0, i * 1000), 100, (60_000 + i * 997, 8_000 + i))
    loader.load(
        con,
        otlp.decode_protobuf(encode_spans(exporter.get_finished_spans()).SerializeToString()),
        batch_id="big",
        source="tests",
    )
    top = rc.top_traces(con.cursor(), everything(), "tokens", limit=5)
    expected = sorted((60_000 + i * 997 + 8_000 + i for i in range(30)), reverse=True)[:5]
    assert list(top["tokens"]) == expected


def test_trace_spans_is_a_tree_in_order(ledger):
    trace_id = rc.top_traces(ledger, everything(), "tokens").iloc[2]["trace_id"]
    spans = rc.trace_spans(ledger, trace_id)
    assert list(spans["name"]) == ["workflow", "chat gpt-4o-mini", "chat gpt-4o"]
    assert list(spans["depth"]) == [0, 1, 1]
    assert list(spans["is_llm"]) == [False, True, True]
    assert list(spans["offset_ms"]) == pytest.approx([0, 10, 1100])
    assert list(spans["duration_ms"]) == pytest.approx([3500, 1000, 2000])
    llm = spans[spans["is_llm"]]
    assert list(llm["model"]) == ["gpt-4o-mini", "gpt-4o"] and list(llm["input_tokens"]) == [100, 300]
    assert rc.trace_spans(ledger, "0" * 32).empty


def test_data_quality_counts(ledger):
    dq = rc.data_quality(ledger, everything()).set_index("service")
    assert dq["calls"].to_dict() == {"svc-a": 4, "svc-b": 2}
    assert dq.loc["svc-a", "missing_usage"] == 1 and dq.loc["svc-b", "missing_usage"] == 0
    assert dq.loc["svc-a", "unattributed_feature"] == 0 and dq.loc["svc-b", "unattributed_feature"] == 2
    assert dq.loc["svc-b", "errors"] == 1
    # Unknown model: tokens reported but no price under the active sheet (cost_usd NULL).
    direct = ledger.execute(
        "SELECT count(*) FROM llm_calls WHERE cost_usd IS NULL AND input_tokens IS NOT NULL"
    ).fetchone()[0]
    assert dq["unpriced"].sum() == direct >= 1
    unpriced = rc.unpriced_models(ledger, everything()).set_index("model")
    assert unpriced.loc[UNKNOWN_MODEL, "calls"] == 1 and unpriced.loc[UNKNOWN_MODEL, "input_tokens"] == 40
    assert "gpt-4o-mini" not in unpriced.index or unpriced.loc["gpt-4o-mini", "calls"] == 1  # the one with usage
    no_cost = rc.data_quality(ledger, everything(), with_cost=False)
    assert no_cost["unpriced"].isna().all() and no_cost["missing_usage"].sum() == 1


def test_attribution_rules_validate_save_and_reapply(ledger, con):
    from llmledger.telemetry.attribution import reextract_all

    rules = rr.attribution_rules(ledger)
    assert list(rules.columns) == rr.RULE_COLUMNS and len(rules) == len(rr.default_attribution_rules())
    with pytest.raises(rr.RuleError, match="row 1"):
        rr.validate_rules([{"dim": "colour", "key": "x"}])
    with pytest.raises(rr.RuleError, match="duplicate"):
        rr.validate_rules([{"dim": "team", "key": "x"}, {"dim": "team", "key": "x", "json_field": None}])
    with pytest.raises(rr.RuleError, match="priority"):
        rr.validate_rules([{"dim": "team", "key": "x", "priority": "high"}])
    # Trace B's job span gets a feature through a new rule on its service's resource.
    rows = rules.to_dict("records") + [
        {
            "dim": "feature",
            "key": "service.name",
            "json_field": "",
            "level": "resource",
            "priority": 500,
            "enabled": True,
        },
        {"dim": "", "key": "", "json_field": None},
    ]  # editor's blank row
    assert rr.save_attribution_rules(ledger, rows) == len(rules) + 1
    reextract_all(con)
    by_feature = rc.breakdown(ledger, everything(), "feature").set_index("grp")["calls"].to_dict()
    assert by_feature == {"search": 3, "svc-b": 2, "chat": 1}
    rr.save_attribution_rules(ledger, rr.default_attribution_rules())
    reextract_all(con)
    assert rc.breakdown(ledger, everything(), "feature").set_index("grp")["calls"][rf.UNATTRIBUTED] == 2


def test_recent_ingests(ledger):
    log = ri.recent_ingests(ledger)
    assert list(log["source"]) == ["tests"] and log.iloc[0]["calls_new"] == 6


def test_charts_and_format_from_real_rows(ledger):
    from llmledger.ui import charts
    from llmledger.ui import format as fmt

    series = rc.timeseries(ledger, everything(), "feature", "hour")
    data, spec = charts.over_time(series, "calls", "feature", "Calls per hour", "hour")
    per_group = data.groupby("group")["value"].sum().to_dict()
    assert per_group == {"search": 3, rf.UNATTRIBUTED: 2, "chat": 1}
    assert spec["title"]["text"] == "Calls per hour" and spec["mark"]["type"] == "bar"
    color = spec["encoding"]["color"]
    assert color["scale"]["domain"] == ["search", "chat", rf.UNATTRIBUTED]  # by calls, unattributed last
    assert color["scale"]["range"][-1] == charts.GREY[rf.UNATTRIBUTED]
    when = data.set_index(["group", "t"])["value"].to_dict()
    assert when[("search", "2026-03-02T12:00:00Z")] == 2 and when[("chat", "2026-03-03T12:00:00Z")] == 1
    unpriced, message = charts.over_time(series, "cost_usd", "feature")  # without cost: a message
    assert list(unpriced["message"]) == ["Cost is off, or no price sheet covers these models yet"]
    assert message["mark"]["type"] == "text"
    priced = rc.timeseries(ledger, everything(), "feature", "hour", 8, True)
    cost, _ = charts.over_time(priced, "cost_usd", "feature", bucket="hour")
    assert cost["value"].sum() == pytest.approx(priced["cost_usd"].sum())  # an unpriced bucket adds 0
    trace_id = rc.top_traces(ledger, everything(), "tokens").iloc[2]["trace_id"]
    wf = charts.waterfall(rc.trace_spans(ledger, trace_id))
    bar = wf.data[0]
    assert list(bar.base) == pytest.approx([0, 10, 1100])
    assert list(bar.marker.color) == [charts.SPAN_COLOR, charts.LLM_COLOR, charts.LLM_COLOR]
    assert "gpt-4o-mini" in bar.hovertext[1] and "100 in, 20 out" in bar.hovertext[1]
    ticks = list(wf.layout.yaxis.ticktext)
    assert ticks[0].startswith("\u00a0\u00a0workflow") and ticks[1].startswith("\u00a0\u00a0◆ chat gpt-4o-mini")
    assert len(set(map(len, ticks))) == 1  # padded to one width so the indentation shows
    assert fmt.label(None) == rf.UNATTRIBUTED and fmt.compact(1_234_567) == "1.2M"
    assert fmt.usd(0.0012) == "$0.0012" and fmt.ms(1500) == "1.50 s"


def test_core_modules_do_not_import_streamlit():
    code = (
        "import sys; import llmledger.reads.calls, llmledger.reads.spend, llmledger.telemetry.demo, llmledger.ui.format, "
        "llmledger.ui.charts; assert 'streamlit' not in sys.modules, 'streamlit imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
