"""Filters that stay (issue 15, item 3): one choice per session across Calls, Spend and Reprice,
kept in the URL so a link restores it; a recent window by default; bad links get a note."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from apptest_helpers import TIMEOUT, metric, ok
from helpers import TEST_DATA
from streamlit.testing.v1 import AppTest

from llmledger.reads import calls as rc
from llmledger.reads.filters import CallFilter, FilterChoice
from llmledger.ui import format as fmt

NAV = TEST_DATA / "ux_nav_app.py"


@pytest.fixture
def ledger(db_path):
    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    con = connect(db_path)
    demo.generate(con, n_calls=1500)
    lo, hi = rc.date_bounds(con.cursor())
    features = rc.dimension_values(con.cursor())["feature"]
    count = lambda f: rc.summary(con.cursor(), f)["calls"]  # noqa: E731
    info = {"bounds": (lo, hi), "features": features, "count": count}
    yield info
    con.close()


def app() -> AppTest:
    at = AppTest.from_file(str(NAV), default_timeout=TIMEOUT)
    return at


def test_a_filter_set_on_calls_holds_on_spend_and_reprice(ledger):
    lo, hi = ledger["bounds"]
    feature = ledger["features"][0]
    at = ok(app().run())  # Calls first
    assert at.selectbox(key="calls_preset").value == "last_30_days"
    assert at.date_input(key="calls_dates").value == (hi - timedelta(days=29), hi)
    at.selectbox(key="calls_preset").set_value("last_7_days").run()
    at.multiselect(key="calls_f_feature").set_value([feature]).run()
    ok(at)
    week = CallFilter.build(hi - timedelta(days=6), hi, {"feature": [feature]})
    assert metric(at, "Calls") == fmt.compact(ledger["count"](week))
    assert at.query_params == {"preset": "last_7_days", "feature": feature}

    at.switch_page(str(TEST_DATA.parents[1] / "app_pages/spend.py")).run()
    ok(at)
    assert at.selectbox(key="spend_preset").value == "last_7_days"
    assert at.multiselect(key="spend_f_feature").value == [feature]
    assert at.query_params == {"preset": "last_7_days", "feature": feature}
    # a custom range typed on Spend ...
    at.date_input(key="spend_dates").set_value((hi - timedelta(days=3), hi)).run()
    ok(at)
    assert at.selectbox(key="spend_preset").value == "custom"
    assert at.query_params == {"start": str(hi - timedelta(days=3)), "end": str(hi), "feature": feature}

    at.switch_page(str(TEST_DATA.parents[1] / "app_pages/reprice.py")).run()
    ok(at)
    assert at.date_input(key="reprice_dates").value == (hi - timedelta(days=3), hi)
    assert at.query_params == {"start": str(hi - timedelta(days=3)), "end": str(hi), "feature": feature}
    assert any("feature filter from Calls and Spend does not apply here" in c.value for c in at.caption)

    at.switch_page(str(TEST_DATA.parents[1] / "app_pages/calls.py")).run()
    ok(at)  # ... is what Calls shows on return, with the feature still picked
    assert at.date_input(key="calls_dates").value == (hi - timedelta(days=3), hi)
    assert at.multiselect(key="calls_f_feature").value == [feature]
    assert metric(at, "Calls") == fmt.compact(
        ledger["count"](CallFilter.build(hi - timedelta(days=3), hi, {"feature": [feature]}))
    )


def test_a_shared_link_restores_the_view(ledger):
    lo, hi = ledger["bounds"]
    feature = ledger["features"][1]
    start = lo + timedelta(days=10)
    at = app()
    at.query_params.update({"start": str(start), "end": str(start + timedelta(days=13)), "feature": [feature]})
    ok(at.run())
    assert at.selectbox(key="calls_preset").value == "custom"
    assert at.date_input(key="calls_dates").value == (start, start + timedelta(days=13))
    assert at.multiselect(key="calls_f_feature").value == [feature]
    f = CallFilter.build(start, start + timedelta(days=13), {"feature": [feature]})
    assert metric(at, "Calls") == fmt.compact(ledger["count"](f))


def test_bad_links_are_ignored_with_a_note(ledger):
    at = app()
    at.query_params.update({"start": "last tuesday", "preset": "fortnight", "feature": ["no-such-feature"]})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    notes = " ".join(w.value for w in at.warning)
    assert "not a date" in notes and "no-such-feature" in notes
    assert "fortnight" in notes
    assert at.selectbox(key="calls_preset").value == "last_30_days"
    assert at.multiselect(key="calls_f_feature").value == []
    assert at.query_params == {"preset": "last_30_days"}  # the URL is rewritten clean


def test_a_page_that_sets_the_widgets_and_switches_here_is_obeyed(ledger):
    """The Budgets alert link sets `spend_dates` / `spend_f_<dim>` and switches pages."""
    lo, hi = ledger["bounds"]
    feature = ledger["features"][0]
    at = ok(app().run())
    at.multiselect(key="calls_f_team").set_value([ledger_team(at)]).run()  # a filter the link must clear
    at.session_state["spend_dates"] = (lo, lo + timedelta(days=5))
    at.session_state["spend_f_feature"] = [feature]
    at.switch_page(str(TEST_DATA.parents[1] / "app_pages/spend.py")).run()
    ok(at)
    assert at.date_input(key="spend_dates").value == (lo, lo + timedelta(days=5))
    assert at.multiselect(key="spend_f_feature").value == [feature]
    assert at.multiselect(key="spend_f_team").value == []
    assert at.query_params == {"start": str(lo), "end": str(lo + timedelta(days=5)), "feature": feature}


def ledger_team(at: AppTest) -> str:
    return at.multiselect(key="calls_f_team").options[0]


def _calls_between(ledger, lo: datetime, hi: datetime, feature: str | None = None) -> int:
    values = {"feature": [feature]} if feature else None
    return ledger["count"](CallFilter.build(values=values, start_at=lo, end_at=hi))


def test_a_link_with_exact_times_filters_that_window(ledger):
    """start/end as ISO times (the Budgets alert links): the dates show the days they fall in, the
    sidebar says the exact window, the calls counted are those in it, and the URL keeps it."""
    lo_day, hi_day = ledger["bounds"]
    day = lo_day + timedelta(days=20)
    lo = datetime.combine(day, time(9, 30), UTC)
    hi = lo + timedelta(hours=20)  # into the next day
    at = app()
    at.query_params.update({"start": f"{day}T11:30+02:00", "end": (hi).strftime("%Y-%m-%dT%H:%MZ")})
    ok(at.run())
    assert at.selectbox(key="calls_preset").value == "custom"
    assert at.date_input(key="calls_dates").value == (day, day + timedelta(days=1))
    assert any(
        f"Exact window from the link: from {day} 09:30 to before {hi:%Y-%m-%d %H:%M} UTC" in c.value for c in at.caption
    )
    want = _calls_between(ledger, lo, hi)
    assert 0 < want < ledger["count"](CallFilter.build(day, day + timedelta(days=1)))  # the hours matter
    assert metric(at, "Calls") == fmt.compact(want)
    assert at.query_params == {"start": f"{day}T09:30Z", "end": f"{hi:%Y-%m-%dT%H:%MZ}"}
    # Picking dates filters whole days again.
    at.date_input(key="calls_dates").set_value((day, day + timedelta(days=2))).run()
    ok(at)
    assert not any("Exact window" in c.value for c in at.caption)
    assert at.query_params == {"start": str(day), "end": str(day + timedelta(days=2))}


def test_a_bad_time_in_a_link_gets_a_clear_note(ledger):
    at = app()
    at.query_params.update({"start": "2026-11-03T25:00", "end": "2026-11-03T14:00+99:00"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    notes = " ".join(w.value for w in at.warning)
    assert "start=" in notes and "end=" in notes and "is not a date (YYYY-MM-DD) or a time" in notes


def test_a_choice_handed_over_by_another_page_opens_its_exact_window(ledger):
    """What widgets.open_filtered does for the Budgets alert links: the session's choice (exact
    times and a scope) replaces what the page's widgets held."""
    lo_day, _ = ledger["bounds"]
    feature = ledger["features"][0]
    lo = datetime.combine(lo_day + timedelta(days=10), time(14, 0), UTC)
    hi = lo + timedelta(hours=6)
    at = ok(app().run())
    at.selectbox(key="calls_preset").set_value("last_7_days").run()
    choice = FilterChoice.custom(lo, hi).with_values({"feature": [feature]})
    at.session_state["llmledger_filter_choice"] = choice
    for k in ("spend_preset", "spend_dates", "_spend_filters_seen"):
        if k in at.session_state:
            del at.session_state[k]
    at.query_params.clear()  # a page switch starts from a clean URL: the session's choice decides
    at.switch_page(str(TEST_DATA.parents[1] / "app_pages/spend.py")).run()
    ok(at)
    assert at.selectbox(key="spend_preset").value == "custom"
    assert at.date_input(key="spend_dates").value == (lo.date(), lo.date())
    assert at.multiselect(key="spend_f_feature").value == [feature]
    assert at.query_params == {"start": f"{lo:%Y-%m-%dT%H:%MZ}", "end": f"{hi:%Y-%m-%dT%H:%MZ}", "feature": feature}
    assert any("Exact window from the link" in c.value for c in at.caption)
