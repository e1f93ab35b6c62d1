"""The Budgets page under AppTest: cards, details, the inbox (explain, acknowledge), the editor's
validation (a clear message and nothing saved) and saving, the review export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from alerts_support import add_call
from apptest_helpers import ok, page
from streamlit.testing.v1 import AppTest

from llmledger.alerts import budgets, evaluate
from llmledger.alerts.budgets import Budget
from llmledger.store.db import connect


def budgets_page() -> AppTest:
    return page("budgets")


def db_rows(db_path, sql):
    import duckdb

    con = duckdb.connect(str(db_path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def ledger(db_path):
    con = connect(db_path)
    now = datetime.now(UTC)
    for k in range(30):
        add_call(
            con,
            now - timedelta(days=k, hours=1),
            2.0 + k % 3,
            user=f"user-{k % 4}",
            feature="chat" if k % 2 else "<b>search</b>",
        )
    add_call(con, now - timedelta(hours=2), None, feature="chat")  # unpriced
    budgets.save(con, Budget.build("Chat month", 30, "month", where=["feature=chat"], forecast_thresholds="100"))
    budgets.save(con, Budget.build("Per user", 5, "week", each="user"))
    budgets.save(con, Budget.build("[Last](http://evil) day", 1, "rolling-24h"))
    evaluate.check(con, deliver=False)
    con.close()
    return db_path


def test_empty_ledger_page_runs_and_says_what_to_do():
    at = ok(budgets_page().run())
    assert any("No budgets yet" in i.value for i in at.info)
    assert any("Actual cost" in c.value for c in at.caption)


def test_cards_details_and_inbox(ledger):
    at = ok(budgets_page().run())
    md = " ".join(m.value for m in at.markdown)
    assert "Chat month" in md and "Per user" in md
    assert "\\[Last\\](http\u2060:" in md  # a name is text, never a link
    captions = " ".join(c.value for c in at.caption)
    assert "unpriced call(s) not in the sum" in captions and "forecast at period end" in captions
    assert "over budget" in captions
    assert at.tabs[1].label.startswith("Alerts inbox (")
    # Details of the "each" budget: members closest to their limit.
    at.selectbox(key="budgets_detail_pick").select("Per user").run()
    ok(at)
    # Open an alert, read its explanation, acknowledge it with a note.
    inbox = at.selectbox(key="budgets_inbox_open")
    first = [o for o in inbox.options if o and "Last" in o]
    assert first, inbox.options
    event_id = int(first[0].split()[0].lstrip("#"))
    inbox.set_value(event_id).run()
    ok(at)
    assert any(m.label == "Spent at firing" for m in at.metric)
    at.text_input(key=f"budgets_inbox_note_{event_id}").input("batch job, expected")
    at.text_input(key=f"budgets_inbox_by_{event_id}").input("ana")
    at.button(key=f"budgets_inbox_ack_{event_id}").click().run()
    ok(at)
    assert db_rows(ledger, f"SELECT state, state_by, state_note FROM alert_events WHERE event_id = {event_id}") == [
        ("acknowledged", "ana", "batch job, expected")
    ]


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("amount", "-5", "above zero"),
        ("amount", "0", "above zero"),
        ("name", "", "needs a name"),
        ("name", "Per user", "already exists"),
        ("ths", "50,2000", "over 1000%"),
    ],
)
def test_editor_rejects_bad_budgets_and_saves_nothing(ledger, field, value, reason):
    at = ok(budgets_page().run())
    k = next(w.key for w in at.text_input if w.key.endswith("_name")).rsplit("_name", 1)[0]
    at.text_input(key=f"{k}_name").input("New one")
    at.text_input(key=f"{k}_{field}").input(value)
    at.button(key=f"{k}_save").click().run()
    assert not at.exception
    assert any(reason in e.value for e in at.error), [e.value for e in at.error]
    assert db_rows(ledger, "SELECT count(*) FROM alert_rules")[0][0] == 3


def test_editor_saves_and_edits(ledger):
    at = ok(budgets_page().run())
    k = next(w.key for w in at.text_input if w.key.endswith("_name")).rsplit("_name", 1)[0]
    at.text_input(key=f"{k}_name").input("Search week")
    at.text_input(key=f"{k}_amount").input("12.5")
    at.selectbox(key=f"{k}_period").select("week")
    at.selectbox(key=f"{k}_tz").select("Asia/Tokyo")
    at.multiselect(key=f"{k}_scope_feature").select("<b>search</b>")
    at.button(key=f"{k}_save").click().run()
    ok(at)
    con = connect(ledger)
    try:
        b = budgets.get(con, "Search week").budget
    finally:
        con.close()
    assert (float(b.amount), b.period, b.tz, b.scope) == (
        12.5,
        "week",
        "Asia/Tokyo",
        (("feature", ("<b>search</b>",)),),
    )
    at.selectbox(key="budgets_edit_pick").select("Search week").run()
    k = next(w.key for w in at.text_input if w.key.endswith("_name") and w.value == "Search week").rsplit("_name", 1)[0]
    at.text_input(key=f"{k}_amount").input("20")
    at.button(key=f"{k}_save").click().run()
    ok(at)
    assert db_rows(ledger, "SELECT count(*) FROM alert_rules WHERE name = 'Search week'")[0][0] == 1


def test_review_export(ledger):
    at = ok(budgets_page().run())
    code = [c.value for c in at.code]
    assert code and "# Budget review" in code[0] and "Chat month" in code[0] and "Actual cost" in code[0]
    assert "\\[Last\\]" in code[0]


def monitor_form(at: AppTest, name: str | None = None) -> str:
    """Key prefix of the monitor form (a new monitor's, or the one named `name`)."""
    return next(
        w.key
        for w in at.text_input
        if w.key.startswith("budgets_monitors_") and w.key.endswith("_name") and (name is None or w.value == name)
    ).rsplit("_name", 1)[0]


def monitor_rows(db_path):
    return db_rows(db_path, "SELECT name, body FROM alert_rules WHERE kind = 'monitor' ORDER BY name")


def test_monitor_form_creates_edits_and_deletes(ledger):
    at = ok(budgets_page().run())
    k = monitor_form(at)
    at.text_input(key=f"{k}_name").input("errors up")
    at.selectbox(key=f"{k}_kind").select("error_rate")
    at.selectbox(key=f"{k}_severity").select("critical")
    at.multiselect(key=f"{k}_scope_feature").select("chat")
    at.button(key=f"{k}_save").click().run()
    ok(at)
    [(name, body)] = monitor_rows(ledger)
    assert name == "errors up"
    body = json.loads(body)
    assert (body["kind"], body["severity"], body["scope"]) == ("error_rate", "critical", {"feature": ["chat"]})
    # Edit: pick it, change its threshold and scope; one monitor still, with the new values.
    at.selectbox(key="budgets_monitors_pick").select("errors up").run()
    k = monitor_form(at, "errors up")
    assert at.multiselect(key=f"{k}_scope_feature").value == ["chat"]
    at.text_input(key=f"{k}_threshold").input("12")
    at.multiselect(key=f"{k}_scope_feature").unselect("chat")
    at.multiselect(key=f"{k}_scope_team").select("core")
    at.button(key=f"{k}_save").click().run()
    ok(at)
    [(name, body)] = monitor_rows(ledger)
    body = json.loads(body)
    assert (body["threshold"], body["scope"]) == (12.0, {"team": ["core"]})
    # Delete.
    at.selectbox(key="budgets_monitors_pick").select("errors up").run()
    at.button(key=f"{monitor_form(at, 'errors up')}_delete").click().run()
    ok(at)
    assert monitor_rows(ledger) == []


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("name", "", "needs a name"),
        ("name", "Per user", "already exists"),  # a budget's name
        ("threshold", "lots", "not a number"),
        ("threshold", "5000", "between 0 and 1000"),
        ("notify", "notaurl", "does not understand"),
    ],
)
def test_monitor_form_rejects_bad_input_and_saves_nothing(ledger, field, value, reason):
    at = ok(budgets_page().run())
    k = monitor_form(at)
    at.text_input(key=f"{k}_name").input("watch")
    widget = at.text_area(key=f"{k}_{field}") if field == "notify" else at.text_input(key=f"{k}_{field}")
    widget.input(value)
    at.button(key=f"{k}_save").click().run()
    assert not at.exception
    assert any(reason in e.value for e in at.error), [e.value for e in at.error]
    assert monitor_rows(ledger) == []


def test_budget_delete(ledger):
    at = ok(budgets_page().run())
    at.selectbox(key="budgets_edit_pick").select("Per user").run()
    k = next(w.key for w in at.text_input if w.key.endswith("_name") and w.value == "Per user").rsplit("_name", 1)[0]
    at.button(key=f"{k}_delete").click().run()
    ok(at)
    assert db_rows(ledger, "SELECT count(*) FROM alert_rules WHERE name = 'Per user'")[0][0] == 0
