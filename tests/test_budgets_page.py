"""The Budgets page under AppTest: cards, details, the inbox (explain, acknowledge), the editor's
validation (a clear message and nothing saved) and saving, the review export."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from alerts_support import add_call
from apptest_helpers import ok, page, vega_charts
from streamlit.testing.v1 import AppTest

from llmledger.alerts import budgets, evaluate
from llmledger.alerts.budgets import Budget
from llmledger.store.db import connect


def budgets_page(tab: str | None = None) -> AppTest:
    """The page, not yet run; with `tab`, that tab open (lazy tabs: only the open one runs). "Alerts
    inbox" opens the inbox whatever its count."""
    at = page("budgets")
    if tab is not None:
        at.session_state["budgets_tab"] = tab
    return at


def open_tab(at: AppTest, tab: str) -> AppTest:
    """Open `tab` of a page already run (as a click on it does: the page reruns)."""
    at.session_state["budgets_tab"] = tab
    return ok(at.run())


def firing_in_label(at: AppTest) -> int:
    label = at.tabs[1].label
    assert label.startswith("Alerts inbox (") and label.endswith(" firing)"), label
    return int(label.removeprefix("Alerts inbox (").split()[0])


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
    assert [t.label for t in at.tabs][2:] == ["Create / edit", "Notifications", "Review export"]
    assert at.tabs[0].label == "Budgets" and firing_in_label(at) >= 1
    assert not [s for s in at.selectbox if s.key.startswith("budgets_inbox")]  # a closed tab runs nothing
    # Details of the "each" budget: members closest to their limit.
    at.selectbox(key="budgets_detail_pick").select("Per user").run()
    ok(at)
    # Open an alert, read its explanation, acknowledge it with a note.
    open_tab(at, "Alerts inbox")
    firing = firing_in_label(at)
    assert at.session_state["budgets_tab"] == f"Alerts inbox ({firing} firing)"
    assert not vega_charts(at)  # the cards' tab is closed: no bullet bar, no burn-up
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
    # The count in the inbox's label went down, and the inbox stayed open on the same alert.
    assert firing_in_label(at) == firing - 1
    assert at.session_state["budgets_tab"] == f"Alerts inbox ({firing - 1} firing)"
    assert at.selectbox(key="budgets_inbox_open").value == event_id
    assert any("Alert #" in s.value and "updated" in s.value for s in at.success)
    # Back on the first tab, the details pick is still "Per user" (kept while its tab was closed).
    open_tab(at, "Budgets")
    assert at.selectbox(key="budgets_detail_pick").value == "Per user"


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
    at = ok(budgets_page("Create / edit").run())
    k = next(w.key for w in at.text_input if w.key.endswith("_name")).rsplit("_name", 1)[0]
    at.text_input(key=f"{k}_name").input("New one")
    at.text_input(key=f"{k}_{field}").input(value)
    at.button(key=f"{k}_save").click().run()
    assert not at.exception
    assert any(reason in e.value for e in at.error), [e.value for e in at.error]
    assert db_rows(ledger, "SELECT count(*) FROM alert_rules")[0][0] == 3


def test_editor_saves_and_edits(ledger):
    at = ok(budgets_page("Create / edit").run())
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
    at = ok(budgets_page("Review export").run())
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
    at = ok(budgets_page("Create / edit").run())
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
    at = ok(budgets_page("Create / edit").run())
    k = monitor_form(at)
    at.text_input(key=f"{k}_name").input("watch")
    widget = at.text_area(key=f"{k}_{field}") if field == "notify" else at.text_input(key=f"{k}_{field}")
    widget.input(value)
    at.button(key=f"{k}_save").click().run()
    assert not at.exception
    assert any(reason in e.value for e in at.error), [e.value for e in at.error]
    assert monitor_rows(ledger) == []


def test_budget_delete(ledger):
    at = ok(budgets_page("Create / edit").run())
    at.selectbox(key="budgets_edit_pick").select("Per user").run()
    k = next(w.key for w in at.text_input if w.key.endswith("_name") and w.value == "Per user").rsplit("_name", 1)[0]
    at.button(key=f"{k}_delete").click().run()
    ok(at)
    assert db_rows(ledger, "SELECT count(*) FROM alert_rules WHERE name = 'Per user'")[0][0] == 0


# ------------------------------------------------------------------ charts (Vega-Lite)


def title_of(spec: dict) -> str | None:
    return (spec.get("title") or {}).get("text")


def layer_values(spec: dict, mark: str) -> list[dict]:
    """The inline rows of the layers drawing `mark` (the reference lines and their labels)."""
    out = []
    for layer in spec["layer"]:
        m = layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
        if m == mark and "data" in layer:
            out.extend(layer["data"]["values"])
    return out


def test_budget_charts_are_vega_lite_with_the_card_figures(ledger):
    """No Plotly on the page (its bundle is the costliest part of a fresh tab); each card's bullet
    bar carries the figures its caption states: spent and its percent, the p50 forecast, the
    thresholds and the 100% line, in the budget's state colour."""
    import re

    from llmledger.ui.budget_charts import STATE_COLORS

    at = ok(budgets_page().run())
    assert not at.get("plotly_chart")
    charts = vega_charts(at, by_title=False)
    cards = [(s, d) for d, s in charts if title_of(s) is None]
    assert len(cards) == 3
    captions = [c.value for c in at.caption if "spent **" in c.value]
    assert len(captions) == 3
    colors = set()
    for spec, data in cards:
        kinds = list(data["kind"])
        assert kinds[0] == "spent" and kinds[-1] == "limit" and kinds.count("spent") == 1
        assert sorted(data.loc[data["kind"] == "threshold", "x"]) == [50.0, 80.0]
        assert float(data.loc[data["kind"] == "limit", "x"].iloc[0]) == 100.0
        spent = data[data["kind"] == "spent"].iloc[0]
        value, pct = re.fullmatch(r"spent (\S+) \((\d+)%\)", spent["tip"]).groups()
        assert int(pct) == round(spent["x"])
        caption = next(
            c
            for c in captions
            if f"spent **{value.replace('$', chr(92) + '$')}** of" in c or f"spent **{value}** of" in c
        )
        assert f"({pct}%)" in caption
        if "forecast" in kinds:
            p50 = re.search(r"\(p50\) (\S+) ", data.loc[data["kind"] == "forecast", "tip"].iloc[0]).group(1)
            assert p50.lstrip("$") in caption.split("forecast at period end **", 1)[1].split("**")[0]
        domain = spec["layer"][0]["encoding"]["x"]["scale"]["domain"]
        assert domain[0] == 0 and domain[1] >= min(max(data["x"].max(), data["x2"].max(skipna=True) or 0), 1100)
        colors.add(spent["color"])
        assert spec["layer"][0]["mark"]["color"] == spent["color"]
    assert STATE_COLORS["over"] in colors  # the rolling day budget is over


def test_budget_details_are_vega_lite_burn_up_members_and_history(ledger):
    at = ok(budgets_page().run())
    at.selectbox(key="budgets_detail_pick").select("Chat month").run()
    ok(at)
    charts = {title_of(s): (s, d) for d, s in vega_charts(at, by_title=False) if title_of(s)}
    burn = next(k for k in charts if k.startswith("Chat month: burn-up, month "))
    spec, data = charts[burn]
    actual = data[data["kind"] == "actual"]
    assert len(actual) >= 1 and list(actual["value"]) == sorted(actual["value"])  # cumulative
    p50 = data[data["kind"] == "p50"]
    assert len(p50) and p50["day"].max() >= actual["day"].max()
    assert (p50["lo"] <= p50["value"] + 1e-9).all() and (p50["value"] <= p50["hi"] + 1e-9).all()
    assert set(data["series"]) == {"actual", "forecast p50"}
    assert layer_values(spec, "rule")[0] == {"y": 30.0, "label": "budget $30.00", "kind": "budget"}
    assert [(r["y"], r["label"]) for r in layer_values(spec, "rule")[1:]] == [(15.0, "50%"), (24.0, "80%")]
    color = spec["layer"][2]["encoding"]["color"]["scale"]
    assert color["domain"] == ["actual", "forecast p50", "forecast p10–p90"]
    hist_spec, hist = charts["Chat month: spent per month"]
    assert hist["label"].iloc[-1].endswith("(so far)") and len(hist) == 7
    assert hist["spent"].iloc[-1] == pytest.approx(actual["value"].iloc[-1])
    assert list(hist["over"]) == [s > 30 for s in hist["spent"]]
    assert layer_values(hist_spec, "rule") == [{"y": 30.0, "label": "budget", "amount": "$30.00"}]

    # An "each" budget: its members closest to the limit (closest on top), and the history of the closest.
    at.selectbox(key="budgets_detail_pick").select("Per user").run()
    ok(at)
    charts = {title_of(s): (s, d) for d, s in vega_charts(at, by_title=False) if title_of(s)}
    spec, members = charts["Per user: user_id closest to $5.00"]
    assert list(members["pct"]) == sorted(members["pct"], reverse=True)
    # This week's members (u1 made the unpriced call), each once.
    assert set(members["member"]) <= {"u1", "user-0", "user-1", "user-2", "user-3"}
    assert len(members) == len(set(members["member"])) >= 1
    assert spec["layer"][0]["encoding"]["y"]["sort"] is None
    assert layer_values(spec, "rule") == [{"x": 100.0}]
    top = members["member"].iloc[0]
    assert f"Per user: spent per week by user_id {top}" in charts

    # A name with Markdown link syntax reaches the chart title as written (Vega draws text).
    at.selectbox(key="budgets_detail_pick").select("[Last](http://evil) day").run()
    ok(at)
    titles = [title_of(s) for _, s in vega_charts(at, by_title=False)]
    assert "[Last](http://evil) day: spent per rolling-24h" in titles
    assert not any(t and "burn-up" in t for t in titles)  # a rolling budget has no burn-up


def test_budget_chart_names_are_written_as_given():
    """Budget and member names go to Vega-Lite unescaped (escaping is Plotly's; Vega would show "&lt;")."""
    from llmledger.alerts import periods
    from llmledger.alerts.figures import BudgetStatus, Figures
    from llmledger.ui import budget_charts

    b = Budget.build("<b>Ops</b> & co", 10, "month", each="user")
    now = datetime(2026, 3, 10, tzinfo=UTC)
    s = BudgetStatus(
        1,
        b,
        periods.window("month", "UTC", now),
        now,
        members=[Figures("<i>ana</i>", 12.0, 3, 0, 10.0), Figures(None, 4.0, 1, 1, 10.0)],
        member_count=2,
    )
    data, spec = budget_charts.members(s)
    assert spec["title"]["text"] == "<b>Ops</b> & co: user_id closest to $10.00"
    assert list(data["member"]) == ["<i>ana</i>", "(unattributed)"]
    assert list(data["state"]) == ["over", "ok"] and list(data["pct"]) == [120.0, 40.0]
    data, spec = budget_charts.progress(s)
    assert data.loc[0, "tip"] == "spent $12.00 (120%)" and spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [
        0,
        126.0,
    ]
    past = pd.DataFrame({"label": ["2026-02", "2026-03 (so far)"], "spent": [11.0, 4.0]})
    data, spec = budget_charts.history(s, past, "<i>ana</i>")
    assert spec["title"]["text"] == "<b>Ops</b> & co: spent per month by user_id <i>ana</i>"
    assert list(data["over"]) == [True, False] and list(data["label"]) == ["2026-02", "2026-03 (so far)"]
