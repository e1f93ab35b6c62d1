"""`make run PORT=N` and STREAMLIT_SERVER_PORT choose the dashboard's port, so two dashboards run
side by side (issue 15, item 1). Each launcher is the real `python -m llmledger.ui.launch` with
its own ledger and receiver ports; both must answer Streamlit's health check on their own port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request

from helpers import ROOT, free_port, subprocess_env


@contextlib.contextmanager
def launched(tmp_path, name: str, args: list[str], **env):
    log_path = tmp_path / f"{name}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmledger.ui.launch", *args],
        cwd=ROOT,
        env=subprocess_env(
            **{
                "LLMLEDGER_DB": tmp_path / f"{name}.duckdb",
                "LLMLEDGER_RECEIVER": "1",
                "LLMLEDGER_OTLP_PORT": free_port(),
                "LLMLEDGER_OTLP_GRPC_PORT": free_port(),
                "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
                **env,
            }
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc, log_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def wait_healthy(proc, log_path, port: int, timeout_s: float = 120) -> str:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"launcher exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2) as r:
                return r.read().decode()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"nothing answered on port {port}: {log_path.read_text()[-2000:]}")


def test_two_dashboards_side_by_side_on_the_ports_asked_for(tmp_path):
    by_flag, by_env = free_port(), free_port()
    with (
        launched(tmp_path, "a", ["--port", str(by_flag)]) as (a, a_log),
        launched(tmp_path, "b", [], STREAMLIT_SERVER_PORT=by_env) as (b, b_log),
    ):
        assert wait_healthy(a, a_log, by_flag) == "ok"
        assert wait_healthy(b, b_log, by_env) == "ok"
        assert a.poll() is None and b.poll() is None  # both still serving
        assert f"localhost:{by_flag}" in a_log.read_text()
        assert f"localhost:{by_env}" in b_log.read_text()


def test_make_run_passes_port_only_when_given():
    def dry_run(*args: str) -> str:
        out = subprocess.run(["make", "-s", "-n", "-C", str(ROOT), "run", *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return next(line for line in out.stdout.splitlines() if "llmledger.ui.launch" in line)

    assert dry_run("PORT=8611").endswith("--port 8611")
    assert "--port" not in dry_run("PORT=")  # Streamlit's own order: env var, then config.toml's 8501


def test_a_ledger_held_by_another_process_ends_the_launcher_with_the_reason(tmp_path):
    """The ledger opens on a thread while Streamlit starts; when another process holds it, the
    launcher still says why and exits with status 1 instead of serving a dashboard without it."""
    import duckdb

    holder = duckdb.connect(str(tmp_path / "held.duckdb"))  # DuckDB: one writing process per file
    try:
        with launched(tmp_path, "held", ["--port", str(free_port())]) as (proc, log_path):
            assert proc.wait(timeout=120) == 1
            assert "held by another process" in log_path.read_text()
    finally:
        holder.close()


def test_ctrl_c_ends_quietly_and_keeps_what_was_loaded(tmp_path):
    """Ctrl-C (SIGINT) on `make run`: exit status 0, the receiver and evaluator stopped and the
    ledger closed cleanly (the calls sent before are there after), and no wall of DuckDB binding
    "nanobind: leaked ..." lines from the interpreter's final sweep (background.exit_quietly)."""
    import re

    import requests
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    port, otlp = free_port(), free_port()
    with launched(tmp_path, "c", ["--port", str(port)], LLMLEDGER_OTLP_PORT=otlp) as (proc, log_path):
        assert wait_healthy(proc, log_path, port) == "ok"
        deadline = time.time() + 120  # the ledger and receiver open on a thread beside the server
        while "OTLP receiver on" not in log_path.read_text() and time.time() < deadline:
            time.sleep(0.2)
        sent = 0
        for _, _, body in demo.generate_batches(n_calls=40, days=2, seed=3, traces_per_batch=20):
            r = requests.post(
                f"http://127.0.0.1:{otlp}/v1/traces",
                data=body,
                headers={"Content-Type": "application/x-protobuf"},
                timeout=30,
            )
            assert r.status_code == 200, r.content
            req = ExportTraceServiceRequest.FromString(body)
            sent += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
        deadline = time.time() + 120
        loaded = 0
        while time.time() < deadline and loaded < sent:
            text = requests.get(f"http://127.0.0.1:{otlp}/metrics", timeout=30).text
            m = re.search(r"^llmledger_loader_loaded_spans_total (\S+)$", text, re.M)
            loaded = int(float(m.group(1))) if m else 0
            time.sleep(0.2)
        assert loaded == sent
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        out = log_path.read_text()
    assert "Stopping" in out and "nanobind" not in out and "leaked" not in out, out[-3000:]
    con = connect(tmp_path / "c.duckdb")
    try:
        calls = con.execute("SELECT count(*) FROM calls").fetchone()[0]
    finally:
        con.close()
    assert calls >= 40
