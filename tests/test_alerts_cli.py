"""`python -m llmledger budgets ...` and `alerts ...`: every command, --json, historical --as-of,
and a one-line reason with a non-zero exit on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from alerts_support import Webhook, add_call
from helpers import ROOT, subprocess_env

from llmledger.store.db import connect


def cli(*args):
    out = subprocess.run(
        [sys.executable, "-m", "llmledger", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=ROOT,
        timeout=180,
    )
    return out.returncode, out.stdout, out.stderr


def ok_json(*args):
    code, out, err = cli(*args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def ledger(db_path):
    con = connect(db_path)
    for day in range(1, 11):
        add_call(con, datetime(2026, 5, day, 10, tzinfo=UTC), 3.0, user="alice")
        add_call(con, datetime(2026, 5, day, 11, tzinfo=UTC), 1.0, user="bob", feature="search")
    con.close()
    return str(db_path)


def test_budget_lifecycle_status_and_backfilled_alerts(ledger):
    with Webhook() as hook:
        added = ok_json(
            "budgets",
            "add",
            "May total",
            "--amount",
            "30",
            "--period",
            "month",
            "--tz",
            "Europe/Paris",
            "--thresholds",
            "50,80,100",
            "--forecast-thresholds",
            "100",
            "--notify",
            hook.url,
            "--db",
            ledger,
        )
        assert added["name"] == "May total" and added["amount"] == 30.0 and added["forecast_thresholds"] == [100]
        ok_json(
            "budgets",
            "add",
            "per user",
            "--amount",
            "2.5",
            "--period",
            "day",
            "--each",
            "user",
            "--where",
            "feature=chat",
            "--db",
            ledger,
        )
        ok_json(
            "budgets",
            "add",
            "search 24h",
            "--amount",
            "0.5",
            "--period",
            "rolling-24h",
            "--where",
            "feature=search",
            "--db",
            ledger,
        )
        listed = ok_json("budgets", "list", "--db", ledger)["budgets"]
        assert [b["name"] for b in listed] == ["May total", "per user", "search 24h"]

        status = ok_json("budgets", "status", "--as-of", "2026-05-05T12:00:00Z", "--db", ledger)["budgets"]
        by = {b["name"]: b for b in status}
        assert by["May total"]["spent"] == pytest.approx(20.0) and by["May total"]["state"] == "forecast over"
        assert by["May total"]["forecast_p50"] > 30
        assert by["per user"]["members"] == 1 and by["per user"]["top_members"][0]["member"] == "alice"
        assert by["search 24h"]["spent"] == pytest.approx(1.0) and by["search 24h"]["state"] == "over"
        code, text, _ = cli("budgets", "status", "--as-of", "2026-05-05T12:00:00Z", "--db", ledger)
        assert code == 0 and "May total: $20.00 of $30.00 (67%)" in text

        first = ok_json("alerts", "check", "--as-of", "2026-05-05T12:00:00Z", "--db", ledger)
        keys = sorted((e["rule"], e["threshold"], e["member"]) for e in first["new_events"])
        assert keys == [
            ("May total", "actual:50", ""),
            ("May total", "forecast:100", ""),
            ("per user", "actual:100", "alice"),
            ("per user", "actual:50", "alice"),
            ("per user", "actual:80", "alice"),
            ("search 24h", "actual:100", ""),
            ("search 24h", "actual:50", ""),
            ("search 24h", "actual:80", ""),
        ]
        assert ok_json("alerts", "check", "--as-of", "2026-05-05T12:00:00Z", "--db", ledger)["new_events"] == []
        assert len(hook.posts) == 2  # only "May total" notifies

        alerts = ok_json("alerts", "list", "--state", "firing", "--db", ledger)["alerts"]
        assert len(alerts) == 8 and all(a["state"] == "firing" for a in alerts)
        target = alerts[0]["event_id"]
        acked = ok_json("alerts", "ack", str(target), "--note", "expected: launch week", "--db", ledger)
        assert acked["state"] == "acknowledged" and acked["state_note"] == "expected: launch week"
        assert len(ok_json("alerts", "list", "--state", "acknowledged", "--db", ledger)["alerts"]) == 1
        code, text, _ = cli("alerts", "list", "--db", ledger)
        assert code == 0 and len(text.strip().splitlines()) == 8

        # A later check: May has ended, so May's alerts resolve.
        later = ok_json("alerts", "check", "--as-of", "2026-06-02T00:00:00Z", "--db", ledger)
        assert later["resolved"] >= 7
        removed = ok_json("budgets", "remove", "per user", "--db", ledger)
        assert removed == {"removed": "per user"}


@pytest.mark.parametrize(
    "args, reason",
    [
        (["budgets", "add", "x", "--amount", "0", "--period", "day"], "above zero"),
        (["budgets", "add", "x", "--amount", "5", "--period", "yearly"], "unknown period"),
        (["budgets", "add", "x", "--amount", "5", "--period", "day", "--where", "colour=red"], "unknown dimension"),
        (["budgets", "add", "x", "--amount", "5", "--period", "day", "--thresholds", "5000"], "over 1000%"),
        (["budgets", "add", "", "--amount", "5", "--period", "day"], "needs a name"),
        (["budgets", "add", "x", "--amount", "5", "--period", "day", "--tz", "Nowhere/Else"], "time zone"),
        (["budgets", "add", "x", "--amount", "5", "--period", "day", "--notify", "bogus://x"], "apprise"),
        (["budgets", "add", "x", "--period", "day"], "--amount"),
        (["budgets", "remove", "nope"], "no budget named"),
        (["budgets", "status", "--as-of", "last tuesday"], "not an ISO time"),
        (["alerts", "check", "--as-of", "2026-13-45"], "not an ISO time"),
        (["alerts", "list", "--state", "angry"], "invalid choice"),
        (["alerts", "ack", "12"], "--note"),
        (["alerts", "ack", "abc", "--note", "x"], "not a number"),
        (["alerts", "ack", "99", "--note", "x"], "no alert with id 99"),
        (["alerts", "test", "bogus://x"], "apprise does not understand"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(ledger, args, reason):
    code, out, err = cli(*args, "--db", ledger)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], err


def test_duplicate_budget_and_a_locked_database(ledger):
    assert cli("budgets", "add", "b", "--amount", "5", "--period", "day", "--db", ledger)[0] == 0
    code, _, err = cli("budgets", "add", "b", "--amount", "6", "--period", "day", "--db", ledger)
    assert code == 1 and "already exists" in err
    assert cli("budgets", "add", "b", "--amount", "6", "--period", "day", "--replace", "--db", ledger)[0] == 0
    con = connect(ledger)  # the dashboard holds it
    try:
        code, _, err = cli("alerts", "check", "--db", ledger)
        assert code == 1 and "held by another process" in err and len(err.strip().splitlines()) == 1
    finally:
        con.close()
