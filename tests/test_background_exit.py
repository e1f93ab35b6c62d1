"""A process that exits while background work is inside DuckDB ends cleanly (store.background).

Without the wind-down, a daemon thread returning from a DuckDB query during finalisation is ended
by a forced unwind that the bindings catch, and the process aborts with "FATAL: exception not
rethrown" (exit 134) after its work is done; `make test` once went red that way."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from helpers import db_count, request_json, subprocess_env

LONG_QUERY = "SELECT sum(i * i % 7) FROM range(300000000) t(i)"


def _run(code: str, tmp_path) -> subprocess.CompletedProcess:
    script = tmp_path / "exit.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=180, env=subprocess_env()
    )


def test_exit_waits_for_a_query_in_flight(tmp_path):
    p = _run(
        f"""
        import time, duckdb
        from llmledger.store import background
        con = duckdb.connect()
        done = []
        def work():
            done.append(con.cursor().execute("{LONG_QUERY}").fetchone()[0])
            print("query done", flush=True)
        background.spawn(work, "llmledger-test-query")
        time.sleep(0.3)
        assert background.alive() == ["llmledger-test-query"], background.alive()
        print("exiting", flush=True)
        """,
        tmp_path,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "not rethrown" not in p.stderr
    assert p.stdout.split() == ["exiting", "query", "done"]


def test_exit_with_the_service_and_alert_runner_left_running(tmp_path):
    """The receiver, its loader and the alert runner never stopped by their owner: the exit stops
    them; every acknowledged span is stored (or still spooled for the next start), none twice."""
    db = tmp_path / "ledger.duckdb"
    body = request_json(200, seed=7)
    (tmp_path / "body.json").write_bytes(body)
    p = _run(
        f"""
        import urllib.request
        from pathlib import Path
        from llmledger.store.db import connect
        from llmledger.telemetry.service import Service
        from llmledger.alerts.runner import AlertRunner
        con = connect(Path({str(db)!r}))
        svc = Service(con, db_path=Path({str(db)!r}), port=0, spool_dir=Path({str(tmp_path / "spool")!r})).start()
        runner = AlertRunner(con, debounce_s=0, min_interval_s=0).start()
        svc.on_loaded.append(runner.poke)
        req = urllib.request.Request(
            f"http://127.0.0.1:{{svc.port}}/v1/traces",
            data=Path({str(tmp_path / "body.json")!r}).read_bytes(),
            headers={{"Content-Type": "application/json"}},
        )
        assert urllib.request.urlopen(req, timeout=30).status == 200
        print("acknowledged", flush=True)
        """,
        tmp_path,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert "not rethrown" not in p.stderr
    assert p.stdout.strip() == "acknowledged"
    spooled = [f for f in (tmp_path / "spool").rglob("*") if f.is_file() and f.suffix != ".tmp"]
    stored = db_count(db, "SELECT count(*) FROM spans")
    assert stored == 200 or (stored == 0 and spooled), (stored, spooled)
