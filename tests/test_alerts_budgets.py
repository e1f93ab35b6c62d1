"""Budgets: validation (examples and a property), periods in a time zone and rolling windows,
"each" budgets, spend counted as actual cost with unpriced calls beside it, and crossings that
fire once per (rule, threshold, period, member) however often a check runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from alerts_support import add_call
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.alerts import budgets, evaluate, events, periods
from llmledger.alerts.budgets import Budget, BudgetError
from llmledger.errors import LedgerError

# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "kw, reason",
    [
        (dict(name="", amount=5), "needs a name"),
        (dict(name="   ", amount=5), "needs a name"),
        (dict(name="b", amount=0), "above zero"),
        (dict(name="b", amount=-3), "above zero"),
        (dict(name="b", amount="lots"), "not a number"),
        (dict(name="b", amount="nan"), "finite"),
        (dict(name="b", amount=5, period="fortnight"), "unknown period"),
        (dict(name="b", amount=5, where=["colour=red"]), "unknown dimension 'colour'"),
        (dict(name="b", amount=5, where=["feature"]), "DIM=VALUE"),
        (dict(name="b", amount=5, each="planet"), "unknown dimension 'planet'"),
        (dict(name="b", amount=5, thresholds="50,1200"), "over 1000%"),
        (dict(name="b", amount=5, thresholds="0"), "above 0"),
        (dict(name="b", amount=5, thresholds="", forecast_thresholds=""), "at least one threshold"),
        (dict(name="b", amount=5, tz="Mars/Olympus"), "unknown time zone"),
        (dict(name="b", amount=5, period="rolling-24h", forecast_thresholds="100"), "calendar period"),
        (dict(name="b", amount=5, notify=["notaservice://x"]), "apprise does not understand"),
    ],
)
def test_bad_budgets_are_rejected_with_a_reason(kw, reason):
    name, amount = kw.pop("name"), kw.pop("amount")
    period = kw.pop("period", "month")
    with pytest.raises(LedgerError, match=reason):
        Budget.build(name, amount, period, **kw)


def test_duplicate_names_are_refused_and_nothing_is_saved(con):
    budgets.save(con, Budget.build("Team A", 10, "month"))
    with pytest.raises(BudgetError, match="already exists"):
        budgets.save(con, Budget.build("Team A", 20, "day"))
    [only] = budgets.load_all(con)
    assert only.budget.amount == 10 and only.budget.period == "month"
    # Editing keeps the id (events stay with it); renaming onto another name is refused.
    budgets.save(con, Budget.build("Team B", 5, "day"))
    rid = budgets.save(con, Budget.build("Team A2", 30, "week"), replace="Team A")
    assert rid == only.rule_id and budgets.get(con, "Team A2").budget.amount == 30
    with pytest.raises(BudgetError, match="already exists"):
        budgets.save(con, Budget.build("Team B", 1, "day"), replace="Team A2")


def test_round_trip_through_storage(con):
    b = Budget.build(
        "Per user",
        "5.50",
        "day",
        tz="Europe/Paris",
        where=["feature=chat", "feature=search", "model=gpt-4o"],
        each="user",
        thresholds="80, 50,100",
        forecast_thresholds="120",
        notify=["json://127.0.0.1:1/x"],
    )
    budgets.save(con, b)
    got = budgets.get(con, "Per user").budget
    assert got == b
    assert got.scope == (("feature", ("chat", "search")), ("model", ("gpt-4o",)))
    assert got.each == "user_id" and got.amount == Decimal("5.5")
    assert [t.key for t in got.thresholds] == ["actual:50", "actual:80", "actual:100", "forecast:120"]


names = st.text(min_size=0, max_size=130)
amounts = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10, 10**16),
    st.text(max_size=12),
    st.decimals(allow_nan=True),
)
pcts = st.lists(st.one_of(st.floats(-50, 2000), st.integers(-5, 1500), st.text(max_size=5)), max_size=5)
dims = st.lists(
    st.tuples(
        st.sampled_from(["feature", "team", "user", "user_id", "model", "provider", "colour", ""]), st.text(max_size=10)
    ),
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=names,
    amount=amounts,
    ths=pcts,
    fths=pcts,
    where=dims,
    each=st.one_of(st.none(), st.sampled_from(["user", "team", "model", "planet"])),
    period=st.sampled_from(["day", "week", "month", "quarter", "rolling-24h", "rolling-0h", "yearly"]),
)
def test_any_input_is_saved_or_rejected_with_a_reason(con, name, amount, ths, fths, where, each, period):
    try:
        b = Budget.build(
            name,
            amount,
            period,
            where=[f"{d}={v}" for d, v in where],
            each=each,
            thresholds=ths,
            forecast_thresholds=fths,
        )
    except BudgetError as exc:
        assert exc.msg and "\n" not in exc.msg
        return
    assert b.name == b.name.strip() and b.name and 0 < b.amount <= budgets.MAX_AMOUNT
    assert b.thresholds and all(0 < t.pct <= 1000 for t in b.thresholds)
    try:
        budgets.save(con, b)
    except BudgetError as exc:  # the same name drawn twice
        assert "already exists" in exc.msg
        return
    assert budgets.get(con, b.name).budget == b


# ------------------------------------------------------------------ periods


def test_calendar_periods_in_a_time_zone_and_across_dst():
    paris = "Europe/Paris"
    w = periods.window("day", paris, datetime(2026, 3, 28, 23, 30, tzinfo=UTC))  # already 29 March in Paris
    assert w.start == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert w.end - w.start == timedelta(hours=23)  # the spring-forward day
    assert periods.window("week", "UTC", datetime(2026, 6, 17, tzinfo=UTC)).start == datetime(2026, 6, 15, tzinfo=UTC)
    q = periods.window("quarter", "America/New_York", datetime(2026, 7, 1, 3, tzinfo=UTC))  # still 30 June there
    assert q.start == datetime(2026, 4, 1, 4, tzinfo=UTC) and q.end == datetime(2026, 7, 1, 4, tzinfo=UTC)
    m = periods.window("month", "UTC", datetime(2026, 12, 31, 23, tzinfo=UTC))
    assert m.end == datetime(2027, 1, 1, tzinfo=UTC)
    r = periods.window("rolling-24h", "UTC", datetime(2026, 6, 15, 12, 30, tzinfo=UTC))
    assert r.rolling and r.start == datetime(2026, 6, 14, 12, 30, tzinfo=UTC)
    assert [h.start.date() for h in periods.history("month", "UTC", datetime(2026, 3, 5, tzinfo=UTC), 2)] == [
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]


def test_day_budget_rolls_over_at_local_midnight(con):
    """Tokyo's day ends at 15:00 UTC: spend before it is yesterday's, and a new day's crossing fires anew."""
    budgets.save(con, Budget.build("tokyo", 10, "day", tz="Asia/Tokyo", thresholds="100"))
    add_call(con, datetime(2026, 6, 15, 14, 0, tzinfo=UTC), 12.0)  # 23:00 in Tokyo on the 15th
    add_call(con, datetime(2026, 6, 15, 15, 30, tzinfo=UTC), 4.0)  # 00:30 on the 16th
    [s] = evaluate.status(con, datetime(2026, 6, 15, 14, 59, tzinfo=UTC), forecasts="none")
    assert s.whole.spent == 12.0 and s.state() == "over"
    first = evaluate.check(con, datetime(2026, 6, 15, 14, 59, tzinfo=UTC))
    assert [e["threshold"] for e in first["new_events"]] == ["actual:100"]
    [s] = evaluate.status(con, datetime(2026, 6, 15, 16, 0, tzinfo=UTC), forecasts="none")
    assert s.whole.spent == 4.0 and s.state() == "ok"
    rolled = evaluate.check(con, datetime(2026, 6, 15, 16, 0, tzinfo=UTC))
    assert rolled["new_events"] == [] and rolled["resolved"] == 1  # the 15th is over: its alert resolves
    add_call(con, datetime(2026, 6, 15, 17, 0, tzinfo=UTC), 7.0)
    again = evaluate.check(con, datetime(2026, 6, 15, 18, 0, tzinfo=UTC))
    assert len(again["new_events"]) == 1 and again["new_events"][0]["period_start"].startswith("2026-06-15T15:00")


def test_rolling_window_fires_once_per_window(con):
    budgets.save(con, Budget.build("last 24h", 10, "rolling-24h", thresholds="100"))
    t0 = datetime(2026, 6, 10, 8, tzinfo=UTC)
    add_call(con, t0, 11.0)
    assert len(evaluate.check(con, t0 + timedelta(hours=1))["new_events"]) == 1
    assert evaluate.check(con, t0 + timedelta(hours=5))["new_events"] == []  # still over, same window
    [s] = evaluate.status(con, t0 + timedelta(hours=25), forecasts="none")
    assert s.whole.spent == 0.0  # the call left the window
    assert evaluate.check(con, t0 + timedelta(hours=25))["new_events"] == []
    add_call(con, t0 + timedelta(hours=30), 10.5)
    later = evaluate.check(con, t0 + timedelta(hours=31))
    assert len(later["new_events"]) == 1  # a new crossing in a new window


def test_each_user_budget_fires_per_member(con):
    budgets.save(con, Budget.build("per user", 5, "day", each="user", thresholds="50,100", where=["feature=chat"]))
    day = datetime(2026, 6, 10, 9, tzinfo=UTC)
    add_call(con, day, 6.0, user="alice")
    add_call(con, day, 3.0, user="bob")
    add_call(con, day, 1.0, user="carol")
    add_call(con, day, 9.0, user="dave", feature="search")  # out of scope
    add_call(con, day, 9.0, user=None)  # no user: no member
    [s] = evaluate.status(con, day + timedelta(hours=1), forecasts="none")
    assert [(f.member, f.spent) for f in s.members] == [("alice", 6.0), ("bob", 3.0), ("carol", 1.0)]
    assert s.member_count == 3 and s.state() == "over"
    out = evaluate.check(con, day + timedelta(hours=1))
    fired = sorted((e["member"], e["threshold"]) for e in out["new_events"])
    assert fired == [("alice", "actual:100"), ("alice", "actual:50"), ("bob", "actual:50")]
    assert all(e["explanation"]["top"] for e in out["new_events"])
    assert evaluate.check(con, day + timedelta(hours=2))["new_events"] == []
    add_call(con, day + timedelta(hours=2), 2.5, user="bob")
    assert [(e["member"], e["threshold"]) for e in evaluate.check(con, day + timedelta(hours=3))["new_events"]] == [
        ("bob", "actual:100")
    ]


def test_spend_is_actual_cost_and_unpriced_calls_are_counted_apart(con):
    budgets.save(con, Budget.build("all", 100, "month"))
    t = datetime(2026, 6, 10, tzinfo=UTC)
    add_call(con, t, 1.25)
    add_call(con, t, None)  # no price, no reported cost: unpriced
    add_call(con, t, None)
    [s] = evaluate.status(con, t + timedelta(hours=1), forecasts="none")
    want = con.execute(
        "SELECT sum(actual_cost_usd)::DOUBLE, count_if(cost_basis = 'unpriced') FROM llm_calls"
    ).fetchone()
    assert (s.whole.spent, s.whole.unpriced) == (want[0], want[1]) == (1.25, 2)
    assert s.whole.calls == 3


def test_forecast_threshold_uses_p50_and_backfill_is_idempotent(con):
    budgets.save(con, Budget.build("month", 100, "month", thresholds="100", forecast_thresholds="100"))
    for d in range(1, 11):  # $8 a day for ten days: on course for ~$240
        add_call(con, datetime(2026, 6, d, 12, tzinfo=UTC), 8.0)
    as_of = datetime(2026, 6, 10, 18, tzinfo=UTC)
    [s] = evaluate.status(con, as_of)
    assert s.whole.spent == 80.0 and s.whole.p50 > 100 and s.state() == "forecast over"
    assert s.whole.runs_out is not None and date(2026, 6, 11) <= s.whole.runs_out <= date(2026, 6, 20)
    first = evaluate.check(con, as_of)
    assert [e["threshold"] for e in first["new_events"]] == ["forecast:100"]
    assert evaluate.check(con, as_of)["new_events"] == []
    df = events.list_events(con, state="firing")
    assert list(df["threshold"]) == ["forecast:100"]
    assert df.iloc[0]["figures"]["forecast_p50"] > 100


def test_event_states(con):
    budgets.save(con, Budget.build("b", 1, "month", thresholds="100"))
    t = datetime(2026, 6, 10, tzinfo=UTC)
    add_call(con, t, 2.0)
    [e] = evaluate.check(con, t + timedelta(hours=1))["new_events"]
    with pytest.raises(LedgerError, match="note is required"):
        events.acknowledge(con, e["event_id"], "  ")
    row = events.acknowledge(con, e["event_id"], "spike from a batch job", by="ana")
    assert (row["state"], row["state_by"], row["state_note"]) == ("acknowledged", "ana", "spike from a batch job")
    row = events.snooze(con, e["event_id"], datetime.now(UTC) + timedelta(hours=1), "until the fix ships")
    assert row["state"] == "snoozed"
    assert list(events.list_events(con, state="snoozed")["event_id"]) == [e["event_id"]]
    assert events.resolve(con, e["event_id"])["state"] == "resolved"
    with pytest.raises(LedgerError, match="no alert"):
        events.acknowledge(con, 999, "x")


def test_event_counts_follow_the_effective_state_past_the_list_limit(con):
    """The inbox label's count: every event in the state (not the list's first 500), with a snooze
    that has ended counted as firing again, and an unknown state refused."""
    budgets.save(con, Budget.build("b", 1, "month", thresholds="100"))
    t = datetime(2026, 6, 10, tzinfo=UTC)
    add_call(con, t, 2.0)
    [e] = evaluate.check(con, t + timedelta(hours=1))["new_events"]
    con.execute(  # 600 more firing events of the same rule, one per member
        """INSERT INTO alert_events (rule_id, rule_name, threshold, period_start, period_end, member, severity,
               as_of, title, figures, explanation)
           SELECT rule_id, rule_name, threshold, period_start, period_end, 'u' || i, severity, as_of, title,
                  figures, explanation
           FROM alert_events, range(600) r(i) WHERE event_id = ?""",
        [e["event_id"]],
    )
    assert events.count(con, "firing") == 601 and len(events.list_events(con, state="firing")) == 500
    events.snooze(con, e["event_id"], datetime.now(UTC) + timedelta(hours=1), "later")
    assert (events.count(con, "firing"), events.count(con, "snoozed")) == (600, 1)
    con.execute("UPDATE alert_events SET snoozed_until = ? WHERE event_id = ?", [t, e["event_id"]])
    assert (events.count(con, "firing"), events.count(con, "snoozed")) == (601, 0)
    events.acknowledge(con, e["event_id"], "seen")
    assert (events.count(con, "firing"), events.count(con, "acknowledged"), events.count(con, "resolved")) == (
        600,
        1,
        0,
    )
    with pytest.raises(LedgerError, match="unknown state"):
        events.count(con, "open")


def test_each_budget_members_closest_to_the_limit_get_the_seasonal_forecast(con):
    """A member with weeks of weekly-patterned history is forecast by the seasonal model; a new
    member by the run rate (and says why); a check keeps the run rate for every member."""
    as_of = datetime(2026, 6, 10, 12, tzinfo=UTC)
    for d in range(1, 70):
        day = as_of - timedelta(days=d)
        add_call(con, day, 1.0 if day.weekday() < 5 else 0.2, user="veteran")
    add_call(con, as_of - timedelta(days=2), 0.5, user="newcomer")
    add_call(con, as_of - timedelta(hours=1), 0.5, user="newcomer")
    budgets.save(con, Budget.build("per user", 40, "month", each="user"))
    [s] = evaluate.status(con, as_of)
    by = {f.member: f for f in s.members}
    assert by["veteran"].method.startswith("ets-weekly")
    assert by["veteran"].p10 <= by["veteran"].p50 <= by["veteran"].p90
    assert by["newcomer"].method.startswith("run-rate") and "history" in by["newcomer"].method
    [checked] = evaluate.status(con, as_of, forecasts="needed")
    assert {f.member: f.method for f in checked.members} == {"veteran": "run-rate", "newcomer": "run-rate"}
