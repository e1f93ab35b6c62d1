"""Incremental budget scans (the part before an hour-back cut is reused between checks) always give
the totals a full scan gives: after loads of new traces, after a late span for a trace that began
before the cut, and after calls change without a load."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from alerts_support import add_call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.alerts import budgets, evaluate
from llmledger.alerts.budgets import Budget
from llmledger.telemetry.ingest import ingest_blobs


def spans_request(
    at: datetime,
    n: int,
    user: str,
    trace: str | None = None,
    feature: str | None = None,
    model: str = "gpt-4o-mini",
    parent: str | None = None,
) -> bytes:
    t = int(at.timestamp() * 1e9)
    spans = [
        {
            "traceId": trace or uuid.uuid4().hex,
            "spanId": uuid.uuid4().hex[:16],
            **({"parentSpanId": parent} if parent else {}),
            "name": "chat gpt-4o-mini",
            "startTimeUnixNano": str(t + i * 1000),
            "endTimeUnixNano": str(t + i * 1000 + 5_000_000),
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": model}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(1000 + i)}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "200"}},
                {"key": "user.id", "value": {"stringValue": user}},
                *([{"key": "app.feature", "value": {"stringValue": feature}}] if feature else []),
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


# ------------------------------------------------------------------ running totals after loads


def root_span(at: datetime, trace: str, span_id: str, feature: str) -> bytes:
    """A workflow span (not a call) naming the feature of the calls under it."""
    t = int(at.timestamp() * 1e9)
    span = {
        "traceId": trace,
        "spanId": span_id,
        "name": "workflow",
        "startTimeUnixNano": str(t),
        "endTimeUnixNano": str(t + 10**9),
        "attributes": [{"key": "app.feature", "value": {"stringValue": feature}}],
    }
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
                    "scopeSpans": [{"spans": [span]}],
                }
            ]
        }
    ).encode()


def figures(statuses) -> dict:
    """What a check decides on: every budget's totals (each member's for "each" budgets) and forecast."""
    out = {}
    for s in statuses:
        if s.budget.each:
            out[s.budget.name] = (
                s.member_count,
                sorted(
                    (f.member, round(f.spent, 9), f.calls, f.unpriced, f.p50 and round(f.p50, 6))
                    for f in s._all_members
                ),
            )
        else:
            f = s.whole
            out[s.budget.name] = (round(f.spent, 9), f.calls, f.unpriced, f.p50 and round(f.p50, 6))
    return out


def half_past() -> datetime:
    """Half past the last hour: checks a few minutes apart stay in one hour (the forecast's hour
    moving is a legitimate reason for a full scan, which a test started at 13:01 would hit)."""
    return (datetime.now(UTC) - timedelta(hours=1)).replace(minute=30, second=0, microsecond=0)


def make_budgets(con) -> None:
    budgets.save(con, Budget.build("all month", 1000, "month"))
    budgets.save(con, Budget.build("paris day", 50, "day", tz="Europe/Paris", forecast_thresholds="100"))
    budgets.save(con, Budget.build("search week", 100, "week", where=["feature=search"]))
    budgets.save(con, Budget.build("last 24h", 100, "rolling-24h"))
    budgets.save(con, Budget.build("4o tokens", 10**7, "day", unit="tokens", where=["model=gpt-4o"]))
    budgets.save(con, Budget.build("per user", 5, "month", each="user"))
    budgets.save(con, Budget.build("per feature 24h", 5, "rolling-24h", each="feature"))


def full_and_incremental(con, as_of):
    """(figures of an incremental check, its mode, figures of a full scan at the same moment)."""
    got = evaluate.check(con, as_of, deliver=False, incremental=True)
    stored = budgets.load_all(con)
    inc = evaluate.from_running(stored, as_of, running_state(con)) if got["mode"] == "incremental" else None
    full = evaluate.status(con, as_of, forecasts="needed")
    return inc, got["mode"], figures(full)


def running_state(con):
    from llmledger.alerts import reads, running

    table, _ = reads.memo_of_active(con)
    sd = running._seeds[table]
    return {"aggs": sd.aggs, "by_rule": sd.by_rule, "forecast": sd.forecast}


def test_checks_after_loads_add_only_the_new_calls_and_equal_a_full_scan(con):
    from llmledger.alerts import reads, running

    running.reset()
    now = half_past()
    make_budgets(con)
    ingest_blobs(con, [("seed.json", spans_request(now - timedelta(hours=30), 5, "alice", feature="chat"))], "test")
    first = evaluate.check(con, now - timedelta(minutes=3), deliver=False, incremental=True)
    assert first["mode"] == "full"  # nothing seeded yet
    table, _ = reads.memo_of_active(con)
    old_trace, first_trace = uuid.uuid4().hex, uuid.uuid4().hex
    root = uuid.uuid4().hex[:16]
    loads = [
        spans_request(now - timedelta(minutes=30), 4, "bob", trace=first_trace, feature="search"),
        spans_request(now - timedelta(minutes=10), 3, "alice", trace=old_trace, model="gpt-4o", parent=root),
        spans_request(now - timedelta(minutes=2), 2, "carol", feature="chat"),
        # A late span of a trace loaded before (its root, naming a feature its calls inherit): that
        # trace's rows as counted come out of the totals, its rows as they are now go in.
        root_span(now - timedelta(minutes=11), old_trace, root, "late-feature"),
        *[spans_request(now - timedelta(minutes=2), 1, "bob") for _ in range(running.RECENT_LOADS)],
    ]
    for n, body in enumerate(loads):
        ingest_blobs(con, [(f"load{n}.json", body)], "test")
        as_of = now - timedelta(minutes=1) + timedelta(seconds=n)
        got = evaluate.check(con, as_of, deliver=False, incremental=True)
        assert got["mode"] == "incremental", running.last_reason.get(table)
        inc = figures(evaluate.from_running(budgets.load_all(con), as_of, running_state(con)))
        assert inc == figures(evaluate.status(con, as_of, forecasts="needed"))
    users = {f.member for s in evaluate.status(con, now) if s.budget.each == "feature" for f in s.members}
    assert "late-feature" in users  # the re-attribution happened, and the running totals followed it
    # A late span of a trace first loaded before the recent loads kept whole: a full scan.
    ingest_blobs(con, [("late.json", spans_request(now - timedelta(minutes=29), 1, "dave", trace=first_trace))], "test")
    got = evaluate.check(con, now, deliver=False, incremental=True)
    assert got["mode"] == "full"
    assert running.last_reason[table] == "a load touched a trace older than the recent loads kept"
    # A call written without a load: the count no longer adds up, so a full scan again.
    add_call(con, now - timedelta(minutes=1), 3.0, user="erin")
    ingest_blobs(con, [("after.json", spans_request(now - timedelta(seconds=30), 1, "bob"))], "test")
    got = evaluate.check(con, now + timedelta(seconds=1), deliver=False, incremental=True)
    assert got["mode"] == "full" and running.last_reason[table] == "calls changed without a load"
    assert running.flush()
    rows = con.execute("SELECT count(*), count(DISTINCT rule_id) FROM alert_running").fetchone()
    assert rows[0] > 0 and rows[1] == len(budgets.load_all(con))
    assert running.flush()


def test_a_changed_budget_or_a_price_change_falls_back_to_a_full_scan(con):
    from llmledger.alerts import reads, running

    running.reset()
    now = half_past()
    make_budgets(con)
    ingest_blobs(con, [("a.json", spans_request(now - timedelta(minutes=20), 3, "alice"))], "test")
    evaluate.check(con, now - timedelta(minutes=2), deliver=False)
    table, _ = reads.memo_of_active(con)
    budgets.save(con, Budget.build("new one", 7, "day"))
    got = evaluate.check(con, now - timedelta(minutes=1), deliver=False, incremental=True)
    assert got["mode"] == "full" and running.last_reason[table] == "budgets changed"
    con.execute("UPDATE attribution_rules SET priority = priority + 1 WHERE key = 'app.feature'")
    got = evaluate.check(con, now, deliver=False, incremental=True)
    assert got["mode"] == "full" and running.last_reason[table] == "prices or attribution rules changed"
    assert running.flush()  # the copy into alert_running is written before the ledger closes


USERS = ["alice", "bob", "carol"]
FEATURES = [None, "chat", "search"]
MODELS = ["gpt-4o-mini", "gpt-4o", "acme-unpriced-1"]

load_step = st.tuples(
    st.integers(min_value=1, max_value=60 * 40),  # minutes before now (some before the rolling window)
    st.integers(min_value=1, max_value=4),  # spans
    st.sampled_from(USERS),
    st.sampled_from(FEATURES),
    st.sampled_from(MODELS),
    st.integers(min_value=0, max_value=5),  # 0: a late span of an earlier trace, 1: a call without a load
    st.integers(min_value=0, max_value=30),  # seconds the clock moves before the check
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(load_step, min_size=1, max_size=6))
def test_random_loads_give_the_totals_of_a_full_recompute(tmp_path_factory, steps):
    """Whatever the loads (new traces, late spans of old ones, calls written without a load, the
    clock moving so rolling windows slide), every check's totals equal a full recompute's."""
    from llmledger.alerts import running
    from llmledger.store.db import connect

    running.reset()
    con = connect(tmp_path_factory.mktemp("inc") / "ledger.duckdb")
    kept, running.RECENT_LOADS = running.RECENT_LOADS, 2  # late spans of traces both kept and not
    try:
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        make_budgets(con)
        ingest_blobs(con, [("seed.json", spans_request(now - timedelta(hours=2), 2, "alice"))], "test")
        evaluate.check(con, now, deliver=False)
        traces: list[str] = []
        clock = now
        for n, (minutes, count, user, feature, model, what, tick) in enumerate(steps):
            at = now - timedelta(minutes=minutes)
            if what == 1:
                add_call(con, at, 0.25, user=user, feature=feature or "chat")
            else:
                trace = traces[n % len(traces)] if what == 0 and traces else uuid.uuid4().hex
                traces.append(trace)
                body = spans_request(at, count, user, trace=trace, feature=feature, model=model)
                ingest_blobs(con, [(f"s{n}.json", body)], "test")
            clock += timedelta(seconds=tick)
            inc, mode, full = full_and_incremental(con, clock)
            if mode == "incremental":
                assert figures(inc) == full
            else:
                assert figures(evaluate.from_running(budgets.load_all(con), clock, running_state(con))) == full
    finally:
        running.RECENT_LOADS = kept
        running.flush()
        con.close()
