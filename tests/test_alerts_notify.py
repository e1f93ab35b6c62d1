"""Alerts end to end with real parts: spans through the real receiver (real OTel SDK exporter),
the background evaluator, apprise posting to a loopback webhook and mailing a local SMTP server,
a `kill -9` between committing an event and delivering it, and a destination that is down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from alerts_support import Smtp, Webhook, add_call
from helpers import ROOT, free_port, subprocess_env

from llmledger.alerts import budgets, evaluate, notify
from llmledger.alerts.budgets import Budget
from llmledger.alerts.runner import AlertRunner
from llmledger.store.db import connect
from llmledger.telemetry.service import Service

MODEL = "gpt-4o-mini"
USAGE = (1000, 500)  # input, output tokens per call


def unit_cost(con) -> float:
    """What one call of USAGE costs under the active (default) sheet, by the Python engine."""
    from llmledger.pricing.engine import Usage, cost_of_usage
    from llmledger.pricing.sheets import load_sheet

    entry = next(m for m in load_sheet(con, "litellm").latest().models if m.model_id == MODEL)
    return float(cost_of_usage(entry, Usage(input_tokens=USAGE[0], output_tokens=USAGE[1])).total)


def send_calls(port: int, n: int, feature: str = "checkout") -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=10))
    )
    tracer = provider.get_tracer("alerts-test")
    for _ in range(n):
        with tracer.start_as_current_span(f"chat {MODEL}") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.system", "openai")
            span.set_attribute("gen_ai.request.model", MODEL)
            span.set_attribute("gen_ai.usage.input_tokens", USAGE[0])
            span.set_attribute("gen_ai.usage.output_tokens", USAGE[1])
            span.set_attribute("app.feature", feature)
    provider.shutdown()


def test_spans_through_the_receiver_fire_50_80_100_once_each(con, db_path, tmp_path):
    u = unit_cost(con)
    with Webhook() as hook:
        budgets.save(
            con,
            Budget.build(
                "checkout",
                round(u * 10, 9),
                "month",
                where=["feature=checkout"],
                thresholds="50,80,100",
                notify=[hook.url],
            ),
        )
        svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool").start()
        runner = AlertRunner(con, debounce_s=0.1, min_interval_s=0, check_on_start=False).start()
        svc.on_loaded.append(runner.poke)
        try:
            for n, fired in ((6, 1), (3, 2), (2, 3)):  # 60%, 90%, 110% of the budget
                send_calls(svc.port, n)
                assert svc.wait_idle(30) and runner.wait_idle(60)
                assert runner.last_error is None
                got = con.cursor().execute("SELECT count(*) FROM alert_events").fetchone()[0]
                assert got == fired
            send_calls(svc.port, 1, feature="other")  # out of scope: nothing new
            assert svc.wait_idle(30) and runner.wait_idle(60)
        finally:
            runner.stop()
            svc.stop()
        rows = con.execute("SELECT threshold, severity FROM alert_events ORDER BY event_id").fetchall()
        assert rows == [("actual:50", "info"), ("actual:80", "warning"), ("actual:100", "critical")]
        deadline = time.monotonic() + 10
        while len(hook.posts) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(hook.posts) == 3
        assert ["50%" in p["title"] for p in hook.posts] == [True, False, False]
        assert "110%" in hook.posts[2]["message"] or "passed 100%" in hook.posts[2]["title"]
        assert con.execute("SELECT count(*) FROM alert_delivery_log WHERE ok").fetchone()[0] == 3

        # A restart (new connection, service and evaluator) and another check add nothing.
        con.close()
        con2 = connect(db_path)
        try:
            svc = Service(con2, db_path=db_path, port=0, spool_dir=tmp_path / "spool").start()
            runner = AlertRunner(con2, debounce_s=0.1, min_interval_s=0).start()
            svc.on_loaded.append(runner.poke)
            assert runner.wait_idle(60) and runner.checks >= 1
            runner.stop()
            svc.stop()
            assert evaluate.check(con2)["new_events"] == []
            assert con2.execute("SELECT count(*) FROM alert_events").fetchone()[0] == 3
        finally:
            con2.close()
        time.sleep(0.2)
        assert len(hook.posts) == 3


def run_cli(*args, env=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "llmledger", *args],
        capture_output=True,
        text=True,
        env=env or subprocess_env(),
        cwd=ROOT,
        timeout=120,
        **kw,
    )


def test_kill_9_between_commit_and_delivery_delivers_once_after_restart(db_path):
    con = connect(db_path)
    with Webhook() as hook:
        budgets.save(con, Budget.build("b", 10, "month", thresholds="100", notify=[hook.url]))
        add_call(con, datetime.now(UTC) - timedelta(minutes=1), 12.0)
        con.close()
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmledger", "alerts", "check", "--db", str(db_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=subprocess_env(**{notify.ENV_DELIVERY_DELAY: 120}),
        )
        line = proc.stdout.readline()  # printed right after the commit
        assert "committed" in line, line + proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert hook.posts == []
        first = run_cli("alerts", "check", "--db", str(db_path), "--json")
        assert first.returncode == 0, first.stderr
        assert '"new_events": []' in first.stdout  # already recorded before the kill
        assert len(hook.posts) == 1 and "passed 100%" in hook.posts[0]["title"]
        second = run_cli("alerts", "check", "--db", str(db_path), "--json")
        assert second.returncode == 0 and len(hook.posts) == 1


def test_a_destination_that_is_down_is_retried_logged_and_never_blocks_ingestion(con, db_path, tmp_path):
    with Webhook(status=500) as broken:
        budgets.save(
            con,
            Budget.build("b", 1, "month", thresholds="100", notify=[broken.url, "json://127.0.0.1:9/nobody-listens"]),
        )
        add_call(con, datetime.now(UTC) - timedelta(minutes=1), 2.0)
        svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool").start()
        runner = AlertRunner(con, debounce_s=0.05, min_interval_s=0, base_backoff_s=0.2).start()
        svc.on_loaded.append(runner.poke)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                attempts = con.cursor().execute("SELECT count(*) FROM alert_delivery_log WHERE NOT ok").fetchone()[0]
                if attempts >= 6:
                    break
                time.sleep(0.1)
            assert attempts >= 6, "both destinations retried with backoff"
            t0 = time.perf_counter()
            send_calls(svc.port, 5, feature="more")  # ingestion goes on while delivery keeps failing
            assert svc.wait_idle(30)
            assert time.perf_counter() - t0 < 20
            assert con.cursor().execute("SELECT count(*) FROM llm_calls WHERE feature = 'more'").fetchone()[0] == 5
        finally:
            runner.stop()
            svc.stop()
    log = con.execute("SELECT url, attempt, error FROM alert_delivery_log ORDER BY url, attempt").fetchall()
    assert {r[0] for r in log} == {broken.url, "json://127.0.0.1:9/nobody-listens"}
    assert all(r[2] for r in log) and any("500" in r[2] for r in log) and any("onnection" in r[2] for r in log)
    st = con.execute("SELECT status, attempts, last_error FROM alert_deliveries").fetchall()
    assert all(s[0] == "pending" and s[1] >= 2 and s[2] for s in st)
    # After MAX_ATTEMPTS the row gives up and shows as failed.
    later = datetime.now(UTC) + timedelta(days=1)
    for _ in range(notify.MAX_ATTEMPTS):
        notify.deliver_due(con, now=later, base_backoff=0.0)
    assert {s[0] for s in con.execute("SELECT status FROM alert_deliveries").fetchall()} == {"failed"}
    df = notify.deliveries(con)
    assert set(df["status"]) == {"failed"} and df["last_error"].notna().all()


def test_email_through_a_local_smtp_server_and_send_test(con):
    with Smtp() as smtp, Webhook() as hook:
        budgets.save(con, Budget.build("mail me", 1, "day", thresholds="100", notify=[smtp.url]))
        add_call(con, datetime.now(UTC) - timedelta(seconds=5), 1.5, user="<b>bob</b>")
        out = evaluate.check(con)
        assert len(out["new_events"]) == 1 and out["deliveries"]["delivered"] == 1
        [msg] = smtp.messages
        assert msg["to"] == ["reviewer@example.com"] and "mail me" in msg["data"]
        test = notify.send_test(con, hook.url, "mail me")
        assert test["ok"] and hook.posts[0]["title"].startswith("[test]")
        bad = notify.send_test(con, "json://127.0.0.1:9/x")
        assert not bad["ok"] and bad["error"]
        logged = con.execute("SELECT count(*), count_if(ok) FROM alert_delivery_log WHERE delivery_id = 0").fetchone()
        assert logged == (2, 1)


def test_snoozed_budget_records_but_does_not_send(con):
    with Webhook() as hook:
        budgets.save(con, Budget.build("b", 10, "month", thresholds="50,100", notify=[hook.url]))
        now = datetime.now(UTC)
        add_call(con, now - timedelta(minutes=2), 6.0)
        [e] = evaluate.check(con)["new_events"]
        from llmledger.alerts import events

        events.snooze(con, e["event_id"], now + timedelta(hours=2), "known, fix tomorrow")
        add_call(con, now - timedelta(minutes=1), 5.0)
        [e2] = evaluate.check(con)["new_events"]
        assert e2["threshold"] == "actual:100"
        assert len(hook.posts) == 1
        assert (
            con.execute("SELECT status FROM alert_deliveries WHERE event_id = ?", [e2["event_id"]]).fetchone()[0]
            == "muted"
        )


def test_serve_otlp_checks_budgets_after_loads(db_path):
    """The headless receiver runs the evaluator too (alerts registers it in telemetry.cli.SERVE_HOOKS,
    so telemetry never imports alerts): spans over a budget notify the webhook once."""
    con = connect(db_path)
    u = unit_cost(con)
    with Webhook() as hook:
        budgets.save(con, Budget.build("b", round(u * 4, 9), "day", thresholds="100", notify=[hook.url]))
        con.close()
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmledger", "serve-otlp", "--port", str(port), "--db", str(db_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=subprocess_env(),
        )
        try:
            assert "OTLP receiver on" in proc.stdout.readline()
            send_calls(port, 5)
            deadline = time.monotonic() + 60
            while not hook.posts and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(hook.posts) == 1 and "passed 100%" in hook.posts[0]["title"]
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        assert proc.returncode == 0, proc.stderr.read()[-2000:]
        assert len(hook.posts) == 1


def test_a_start_delay_holds_the_first_check_and_a_stop_ends_it(con):
    """The dashboard starts its evaluator with a delay (ui/common.STARTUP_QUIET_S) so that the
    first page is drawn first: no check runs before it ends, the check runs right after, and a stop
    during the delay ends the thread without checking."""
    add_call(con, datetime.now(UTC) - timedelta(minutes=5), 2.0, feature="checkout")
    budgets.save(con, Budget.build("checkout", 1, "month", where=["feature=checkout"], thresholds="100"))
    runner = AlertRunner(con, start_delay_s=1.5).start()
    try:
        time.sleep(0.5)
        assert runner.checks == 0 and con.execute("SELECT count(*) FROM alert_events").fetchone()[0] == 0
        assert runner.wait_idle(60) and runner.checks >= 1 and runner.last_error is None
        assert con.execute("SELECT threshold FROM alert_events").fetchall() == [("actual:100",)]
    finally:
        runner.stop()
    waiting = AlertRunner(con, start_delay_s=600).start()
    waiting.stop(timeout=10)
    assert not waiting._thread.is_alive() and waiting.checks == 0
