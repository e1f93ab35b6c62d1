"""Anomaly monitors: a cost spike against the same weekday's median/MAD, a model with no price
appearing, missing usage and error rate rising; severity, cool-down, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from alerts_support import add_call
from helpers import ROOT, subprocess_env
from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger.alerts import evaluate, monitors
from llmledger.alerts.budgets import BudgetError
from llmledger.alerts.monitors import Monitor

AS_OF = datetime(2026, 6, 15, 12, tzinfo=UTC)  # a Monday


def test_cost_spike_against_the_same_weekday(con):
    monitors.save(
        con,
        Monitor.build(
            "spikes", "cost_spike", dim="feature", threshold=4, min_usd=1, severity="critical", cooldown_hours=24
        ),
    )
    for week in range(1, 5):  # the same Monday morning, four weeks running: about $2
        add_call(con, AS_OF - timedelta(weeks=week, hours=3), 2.0 + 0.1 * week, feature="chat")
        add_call(con, AS_OF - timedelta(weeks=week, hours=3), 1.0, feature="search")
    add_call(con, AS_OF - timedelta(hours=3), 9.0, feature="chat")  # the spike
    add_call(con, AS_OF - timedelta(hours=3), 1.05, feature="search")  # normal
    out = evaluate.check(con, AS_OF)
    [e] = out["new_events"]
    assert e["member"] == "chat" and e["severity"] == "critical" and e["threshold"] == "monitor:cost_spike"
    assert e["figures"]["value"] == pytest.approx(9.0) and e["figures"]["baseline"] == pytest.approx(2.25)
    assert evaluate.check(con, AS_OF + timedelta(hours=2))["new_events"] == []  # cool-down
    add_call(con, AS_OF + timedelta(hours=25), 30.0, feature="chat")
    assert [e["member"] for e in evaluate.check(con, AS_OF + timedelta(hours=26))["new_events"]] == ["chat"]


def test_unpriced_model_missing_usage_and_error_rate(con):
    monitors.save(con, Monitor.build("new unpriced", "unpriced_model"))
    monitors.save(con, Monitor.build("usage", "missing_usage", threshold=10, min_calls=10))
    monitors.save(con, Monitor.build("errors", "error_rate", threshold=5, min_calls=10))
    for d in range(2, 8):  # a quiet week: priced... by their reported cost, ok, with usage
        for _ in range(10):
            add_call(con, AS_OF - timedelta(days=d), 0.01, model="gpt-4o-mini", provider="openai")
    con.execute("UPDATE calls SET input_tokens = 100, output_tokens = 10")
    for k in range(20):  # today: a new unpriced model, a third failing, half without usage
        add_call(
            con,
            AS_OF - timedelta(hours=2),
            0.01,
            model="acme-brand-new" if k < 3 else "gpt-4o-mini",
            provider="acme" if k < 3 else "openai",
            status="error" if k % 3 == 0 else "ok",
            tokens=100,
        )
    con.execute(
        "UPDATE calls SET usage_source = 'missing', input_tokens = NULL, output_tokens = NULL "
        "WHERE start_time > ? AND request_model = 'gpt-4o-mini' AND span_id < '8'",
        [AS_OF - timedelta(hours=3)],
    )
    fired = {(e["rule"], e["member"]) for e in evaluate.check(con, AS_OF)["new_events"]}
    assert ("new unpriced", "acme-brand-new") in fired
    assert ("errors", "") in fired and ("usage", "") in fired
    assert ("new unpriced", "gpt-4o-mini") not in fired


@pytest.mark.parametrize(
    "kw, reason",
    [
        (dict(kind="weather"), "unknown monitor kind"),
        (dict(kind="cost_spike", dim="planet"), "feature, model or user"),
        (dict(kind="error_rate", window_hours=0), "between 1 and"),
        (dict(kind="error_rate", severity="meh"), "unknown severity"),
        (dict(kind="error_rate", threshold="x"), "not a number"),
        (dict(kind="error_rate", where=["planet=mars"]), "unknown dimension 'planet'"),
        (dict(kind="error_rate", where=["feature="]), "needs a value"),
        (dict(kind="error_rate", where=["feature"]), "not DIM=VALUE"),
    ],
)
def test_bad_monitors_are_refused(kw, reason):
    with pytest.raises(BudgetError, match=reason):
        Monitor.build("m", **kw)


def test_monitor_cli(db_path):
    def cli(*a):
        r = subprocess.run(
            [sys.executable, "-m", "llmledger", *a, "--db", str(db_path)],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            cwd=ROOT,
            timeout=120,
        )
        return r.returncode, r.stdout, r.stderr

    code, out, err = cli(
        "monitors", "add", "spend spikes", "--kind", "cost_spike", "--dim", "model", "--where", "team=core", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["dim"] == "model" and json.loads(out)["scope"] == {"team": ["core"]}
    code, _, err = cli("monitors", "add", "x", "--kind", "error_rate", "--where", "galaxy=far")
    assert code == 1 and "unknown dimension 'galaxy'" in err
    code, out, _ = cli("monitors", "list", "--json")
    assert [m["name"] for m in json.loads(out)["monitors"]] == ["spend spikes"]
    code, _, err = cli("monitors", "add", "spend spikes", "--kind", "error_rate")
    assert code == 1 and "already exists" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("monitors", "add", "x", "--kind", "cost_spike", "--dim", "planet")
    assert code == 1 and "feature, model or user" in err
    assert cli("monitors", "remove", "spend spikes")[0] == 0
    code, _, err = cli("monitors", "remove", "spend spikes")
    assert code == 1 and "no monitor" in err


def test_a_scoped_monitor_watches_only_its_calls(con):
    """Errors rise in one team only: a monitor scoped to the other team stays quiet."""
    monitors.save(con, Monitor.build("core errors", "error_rate", threshold=5, min_calls=10, where=["team=core"]))
    monitors.save(con, Monitor.build("ml errors", "error_rate", threshold=5, min_calls=10, where=["team=ml"]))
    for d in range(2, 8):
        for team in ("core", "ml"):
            for _ in range(10):
                add_call(con, AS_OF - timedelta(days=d), 0.01, team=team)
    for k in range(20):
        add_call(con, AS_OF - timedelta(hours=2), 0.01, team="ml", status="error" if k % 2 else "ok")
        add_call(con, AS_OF - timedelta(hours=2), 0.01, team="core")
    fired = [e["rule"] for e in evaluate.check(con, AS_OF)["new_events"]]
    assert fired == ["ml errors"]
    [stored] = [s for s in monitors.load_all(con) if s.monitor.name == "ml errors"]
    assert stored.monitor.scope == (("team", ("ml",)),) and "team=ml" in stored.monitor.describe()


SCOPE_DIMS = ["feature", "team", "user", "user_id", "model", "provider", "galaxy", ""]


@settings(max_examples=60, deadline=None)
@given(
    name=st.text(max_size=30),
    kind=st.sampled_from([*monitors.KINDS, "weather"]),
    where=st.lists(st.tuples(st.sampled_from(SCOPE_DIMS), st.text(max_size=8)), max_size=3),
    threshold=st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=5)),
    cooldown=st.integers(min_value=-5, max_value=24 * 40),
)
def test_any_monitor_input_is_stored_as_given_or_refused_with_a_reason(name, kind, where, threshold, cooldown):
    try:
        m = Monitor.build(
            name, kind, where=[f"{d}={v}" for d, v in where], threshold=threshold, cooldown_hours=cooldown
        )
    except BudgetError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert exc.title == "Invalid monitor"
        return
    assert Monitor.from_dict(json.loads(json.dumps(m.to_dict()))) == m  # what is stored reads back the same
    assert m.name == name.strip() and 1 <= m.cooldown_hours <= 24 * 31 and 0 <= m.threshold <= 1000
