"""An alert's links to the Calls and Spend pages open exactly its window (issue 13): the budget's
period (here a day in Tokyo, 15:00 to 15:00 UTC) up to the moment it fired, with its scope and
member; the calls and spend those pages then count are the alert's figures at firing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts_support import add_call

from llmledger.alerts import budgets, evaluate, events
from llmledger.alerts.budgets import Budget
from llmledger.reads.filters import parse_query
from llmledger.ui.budget_widgets import alert_choice


def _spent(con, f) -> tuple[int, float]:
    where, params = f.where()
    n, usd = (
        con.cursor()
        .execute(f"SELECT count(*), coalesce(sum(actual_cost_usd), 0)::DOUBLE FROM llm_calls WHERE {where}", params)
        .fetchone()
    )
    return int(n), round(float(usd), 9)


def test_the_alert_link_window_is_the_events_period(con):
    budgets.save(con, Budget.build("Tokyo day", 10, "day", tz="Asia/Tokyo", where=["feature=chat"], thresholds="50"))
    budgets.save(con, Budget.build("Per user", 4, "day", tz="Asia/Tokyo", each="user", thresholds="100"))
    start = datetime(2026, 6, 10, 15, tzinfo=UTC)  # local midnight in Tokyo
    add_call(con, start - timedelta(minutes=1), 50.0, user="ana")  # the day before: outside
    add_call(con, start + timedelta(hours=1), 3.0, user="ana")
    add_call(con, start + timedelta(hours=2), 3.0, user="bob")
    add_call(con, start + timedelta(hours=2), 7.0, user="ana", feature="search")  # other scope
    as_of = start + timedelta(hours=3, minutes=17, seconds=5)
    add_call(con, as_of + timedelta(minutes=1), 9.0, user="ana")  # after the check: outside
    out = evaluate.check(con, as_of, deliver=False)
    by_rule = {e["rule"]: e for e in out["new_events"]}
    assert set(by_rule) == {"Tokyo day", "Per user"}

    whole = by_rule["Tokyo day"]
    choice = alert_choice(whole, budgets.get(con, "Tokyo day").budget)
    f = choice.call_filter(None)
    assert f.bounds() == (start, as_of) == events.link_window(whole["figures"])
    assert datetime.fromisoformat(whole["period_start"]) == start  # the event's period starts there too
    assert dict(choice.values) == {"feature": ("chat",)}
    assert _spent(con, f) == (whole["figures"]["calls"], whole["figures"]["spent"]) == (2, 6.0)
    assert parse_query(choice.to_query()) == (choice, [])  # the link written in the URL reads back

    member = by_rule["Per user"]
    assert member["member"] == "ana"
    choice = alert_choice(member, budgets.get(con, "Per user").budget)
    assert dict(choice.values) == {"user": ("ana",)}
    assert (
        _spent(con, choice.call_filter(None)) == (member["figures"]["calls"], member["figures"]["spent"]) == (2, 10.0)
    )


def test_a_rolling_window_link_ends_when_it_fired(con):
    budgets.save(con, Budget.build("Last 24 h", 5, "rolling-24h", thresholds="100"))
    as_of = datetime(2026, 6, 10, 12, 34, 56, 789000, tzinfo=UTC)
    add_call(con, as_of - timedelta(hours=25), 9.0)  # slid out
    add_call(con, as_of - timedelta(hours=23), 6.0)
    [e] = evaluate.check(con, as_of, deliver=False)["new_events"]
    choice = alert_choice(e, None)  # the budget was removed since: the window still holds
    assert choice.call_filter(None).bounds() == (as_of - timedelta(hours=24), as_of)
    assert choice.to_query()["end"] == ["2026-06-10T12:34:56.789000Z"]
    assert _spent(con, choice.call_filter(None)) == (1, 6.0)
