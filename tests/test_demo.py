"""Demo data: made by the real OpenTelemetry SDK, loaded through the real OTLP import path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from llmledger.reads import calls as rc
from llmledger.reads import filters as rf
from llmledger.telemetry import demo, otlp

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


def test_demo_batches_are_otlp_protobuf_from_the_sdk():
    batches = list(demo.generate_batches(n_calls=300, seed=3, now=NOW, traces_per_batch=100))
    assert len(batches) >= 2 and batches[-1][1] == len(batches)
    decoded = otlp.decode_protobuf(batches[0][2])
    assert decoded.rejects == [] and len(decoded.spans) > 100
    scopes = {s.scope_name for s in decoded.spans}
    assert {"traceloop.tracer", "openinference.instrumentation.llama_index", "ai", "litellm"} & scopes
    assert all(s.resource.get("llmledger.demo") is True for s in decoded.spans)
    assert all(str(s.resource["service.name"]).startswith("demo-") for s in decoded.spans)
    window = (NOW - timedelta(days=91)).timestamp() * 1e9, NOW.timestamp() * 1e9
    assert all(window[0] <= s.start_ns <= s.end_ns <= window[1] for s in decoded.spans)
    again = list(demo.generate_batches(n_calls=300, seed=3, now=NOW, traces_per_batch=100))
    assert [b[2] for b in again] == [b[2] for b in batches]  # same seed and time: same bytes


def test_generate_loads_mixed_conventions_and_remove_empties(con):
    seen = []
    result = demo.generate(con, n_calls=2000, now=NOW, progress=lambda d, t, m: seen.append((d, t, m)))
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] and "demo calls" in seen[-1][2]
    assert result.rejects == [] and 1700 <= result.calls_new <= 2300
    cur = con.cursor()
    rows = cur.execute(
        """SELECT count(*), count_if(is_demo), count(DISTINCT convention),
                  count_if(usage_source = 'missing') / count(*), count_if(status = 'error'),
                  count(DISTINCT provider), count(DISTINCT service), count(DISTINCT environment),
                  min(start_time), max(start_time)
           FROM llm_calls"""
    ).fetchone()
    total, demo_rows, conventions, missing_share, errors, providers, services, envs, first, last = rows
    assert demo_rows == total == result.calls_new
    assert conventions >= 4, "expected a mix of instrumentation conventions"
    assert 0.02 <= missing_share <= 0.10
    assert errors >= 5 and providers >= 3 and services >= 6 and envs == 3
    assert (last - first).days >= 80
    # Every call with a feature has a demo-prefixed one; the notebook traffic has none at all.
    by_feature = rc.breakdown(cur, rf.CallFilter.build(), "feature").set_index("grp")["calls"]
    assert all(f.startswith("demo-") for f in by_feature.index if f != rf.UNATTRIBUTED)
    assert by_feature.get(rf.UNATTRIBUTED, 0) > 0
    # Wrapper spans (workflows, Vercel's generateText, LiteLLM's raw request) are not calls.
    spans = cur.execute("SELECT count(*) FROM spans WHERE is_demo").fetchone()[0]
    assert spans > total
    doubles = cur.execute(
        """SELECT count(*) FROM calls c JOIN calls p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id"""
    ).fetchone()[0]
    assert doubles == 0, "a wrapper and its model call were both counted"
    # Weekdays are busier than weekends (office-hours traffic dominates).
    weekday, weekend = cur.execute(
        """SELECT count_if(isodow(start_time) <= 5) / 5, count_if(isodow(start_time) > 5) / 2 FROM calls"""
    ).fetchone()
    assert weekday > 1.5 * weekend

    assert demo.generate(con, n_calls=2000, now=NOW).calls_new == 0  # same day and seed: nothing new
    assert demo.remove(con) == total
    assert cur.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 0
    assert cur.execute("SELECT count(*) FROM spans").fetchone()[0] == 0


def test_demo_rows_are_removed_but_real_rows_stay(con):
    from pathlib import Path

    from llmledger.telemetry import loader

    real = Path(__file__).parent / "data" / "otlp" / "raw" / "in.json"
    loader.load(con, otlp.decode_json(real.read_bytes()), batch_id="real", source="tests")
    demo.generate(con, n_calls=300, now=NOW)
    cur = con.cursor()
    assert rc.call_count(cur, demo_only=True) > 0
    demo.remove(con)
    assert rc.call_count(cur) == 1 and rc.call_count(cur, demo_only=True) == 0
