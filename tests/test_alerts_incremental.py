"""Incremental budget scans (the part before an hour-back cut is reused between checks) always give
the totals a full scan gives: after loads of new traces, after a late span for a trace that began
before the cut, and after calls change without a load."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from alerts_support import add_call

from llmledger.alerts import budgets, evaluate
from llmledger.alerts.budgets import Budget
from llmledger.telemetry.ingest import ingest_blobs


def spans_request(at: datetime, n: int, user: str, trace: str | None = None) -> bytes:
    t = int(at.timestamp() * 1e9)
    spans = [
        {
            "traceId": trace or uuid.uuid4().hex,
            "spanId": uuid.uuid4().hex[:16],
            "name": "chat gpt-4o-mini",
            "startTimeUnixNano": str(t + i * 1000),
            "endTimeUnixNano": str(t + i * 1000 + 5_000_000),
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(1000 + i)}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "200"}},
                {"key": "user.id", "value": {"stringValue": user}},
            ],
        }
        for i in range(n)
    ]
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
                    "scopeSpans": [{"spans": spans}],
                }
            ]
        }
    ).encode()


def truth(con, start: datetime, end: datetime) -> tuple[float, dict]:
    total = (
        con.cursor()
        .execute(
            "SELECT coalesce(sum(actual_cost_usd), 0)::DOUBLE FROM llm_calls WHERE start_time >= ? AND start_time < ?",
            [start, end],
        )
        .fetchone()[0]
    )
    users = dict(
        con.cursor()
        .execute(
            "SELECT user_id, sum(actual_cost_usd)::DOUBLE FROM llm_calls WHERE start_time >= ? "
            "AND start_time < ? AND user_id IS NOT NULL GROUP BY 1",
            [start, end],
        )
        .fetchall()
    )
    return round(total, 9), {k: round(v, 9) for k, v in users.items()}


def test_incremental_scans_match_full_scans(con):
    now = datetime.now(UTC).replace(microsecond=0)
    budgets.save(con, Budget.build("quarter", 1000, "quarter"))
    budgets.save(con, Budget.build("per user", 1000, "quarter", each="user"))
    from llmledger.alerts import periods

    start = periods.window("quarter", "UTC", now).start
    old = start + (now - start) / 4  # well before the cut (an hour before the hour of `now`)
    old_trace = uuid.uuid4().hex
    steps = [
        [("a", spans_request(old, 20, "alice", old_trace))],
        [("b", spans_request(now - timedelta(minutes=20), 10, "bob"))],  # after the cut: reused + fresh
        [("c", spans_request(now - timedelta(minutes=5), 5, "alice"))],
        [("d", spans_request(old + timedelta(minutes=1), 3, "carol", old_trace))],  # an old trace grows
    ]
    seen, previous = 0, {}
    evaluate._scans.clear()
    for n, blobs in enumerate(steps):
        assert ingest_blobs(con, [(f"{name}{n}.json", body) for name, body in blobs], "test").calls_new > 0
        each, whole = evaluate.status(con, now, forecasts="none")
        want, users = truth(con, whole.window.start, now)
        assert round(whole.whole.spent, 9) == want > seen
        assert {f.member: round(f.spent, 9) for f in each.members} == users
        seen = want
        befores = {k: id(v["before"]) for k, v in evaluate._scans.items()}
        if n in (1, 2):  # new traces after the cut: the part before it is reused
            assert befores == previous
        if n == 3:  # a late span of a trace that began before the cut: everything is read again
            assert all(befores[k] != previous[k] for k in previous)
        previous = befores
    add_call(con, old + timedelta(hours=1), 5.0, user="dave")  # no load: the cache cannot know, so it rescans
    each, whole = evaluate.status(con, now, forecasts="none")
    want, users = truth(con, whole.window.start, now)
    assert round(whole.whole.spent, 9) == want and users["dave"] == 5.0
    assert {f.member: round(f.spent, 9) for f in each.members} == users
