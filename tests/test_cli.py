"""The CLI contract for ingest, serve-otlp and sql, run as real subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from helpers import SAMPLES, cli, free_port, one_line_error, request_json, subprocess_env


# ------------------------------------------------------------------ ingest
def test_ingest_reports_and_json_shape(db_path):
    p = cli("ingest", SAMPLES, db=db_path)
    assert p.returncode == 0, p.stderr
    assert "spans read: 9" in p.stdout and "LLM calls: 5" in p.stdout and "duplicates skipped: 0" in p.stdout
    p = cli("ingest", SAMPLES, "--json", db=db_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert {
        "spans_read",
        "spans_new",
        "llm_calls",
        "duplicates_skipped",
        "rejected",
        "reject_reasons",
        "files_read",
        "files_failed",
    } <= set(doc)
    assert (doc["spans_read"], doc["spans_new"], doc["llm_calls"], doc["duplicates_skipped"]) == (9, 0, 0, 9)
    assert doc["rejected"] == 0 and doc["reject_reasons"] == []


def test_ingest_partial_rejects_exit_zero(db_path, tmp_path):
    (tmp_path / "good.json").write_bytes(request_json(3, 1))
    (tmp_path / "bad.pb").write_bytes(b"\xff\xff\xff\xff")
    p = cli("ingest", tmp_path / "good.json", tmp_path / "bad.pb", "--json", "--db", db_path, db=tmp_path / "other")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["spans_new"] == 3 and doc["rejected"] == 1
    assert doc["reject_reasons"][0].startswith(str(tmp_path / "bad.pb"))
    assert not (tmp_path / "other").exists()  # --db wins over LLMLEDGER_DB


def test_ingest_bad_input_one_line(db_path, tmp_path):
    line = one_line_error(cli("ingest", tmp_path / "missing.json", db=db_path))
    assert "missing.json: no such file or directory" in line
    assert not db_path.exists()  # nothing created for a typo
    (tmp_path / "junk.json").write_text('{"resourceSpans": [')
    line = one_line_error(cli("ingest", tmp_path / "junk.json", db=db_path))
    assert "nothing readable" in line and "junk.json" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no importable files" in one_line_error(cli("ingest", empty, db=db_path))
    one_line_error(cli("ingest", db=db_path), code=2)  # argparse: PATH is required


# ------------------------------------------------------------------ sql
def test_sql_contract(db_path):
    assert "does not exist" in one_line_error(cli("sql", "SELECT 1", db=db_path))
    assert cli("ingest", SAMPLES, db=db_path).returncode == 0
    p = cli("sql", "SELECT count(*) AS n FROM llm_calls", "--json", db=db_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"columns": ["n"], "rows": [[5]]}
    assert "query failed" in one_line_error(cli("sql", "SELECT * FROM no_such_table", db=db_path))
    one_line_error(cli("sql", "DELETE FROM spans", db=db_path))  # read-only
    assert json.loads(cli("sql", "SELECT count(*) FROM spans", "--json", db=db_path).stdout)["rows"] == [[9]]


# ------------------------------------------------------------------ serve-otlp
def start_server(db_path: Path, port: int, *extra) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmledger", "serve-otlp", "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(LLMLEDGER_DB=db_path),
    )
    line = proc.stdout.readline()
    assert "OTLP receiver on http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc


def test_serve_otlp_receives_and_stops_cleanly(db_path):
    port = free_port()
    proc = start_server(db_path, port)
    try:
        for k in range(3):
            r = requests.post(
                f"http://127.0.0.1:{port}/v1/traces",
                data=request_json(4, k),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "12 spans accepted" in out
    assert "nanobind" not in err and "leaked" not in err, err[-2000:]  # ended without the final sweep
    p = cli("sql", "SELECT count(*) FROM spans", "--json", db=db_path)
    assert json.loads(p.stdout)["rows"] == [[12]]
    assert not list(Path(str(db_path) + ".spool").glob("*.json"))  # flushed at shutdown


def test_serve_otlp_port_in_use(db_path):
    port = free_port()
    proc = start_server(db_path.with_name("first.duckdb"), port)
    try:
        line = one_line_error(cli("serve-otlp", "--port", port, db=db_path, timeout=60))
        assert f"cannot listen on 127.0.0.1:{port}" in line
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]


def test_serve_otlp_stops_cleanly_on_a_ctrl_c_as_it_starts(tmp_path):
    """Ctrl-C right after the receiver says it listens: its first /metrics read is still running on
    the connection (closing it then raised "connection is busy" and exited 1), and the signal can
    land while the main thread re-takes a wait's lock (setting an Event there hung the server).
    Each time: exit status 0, no traceback, the ledger still opens."""
    for k in range(4):
        db = tmp_path / f"early-{k}.duckdb"
        proc = start_server(db, free_port(), "--grpc-port", str(free_port()))
        try:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
        assert "nanobind" not in err, err[-2000:]
        assert cli("sql", "SELECT count(*) FROM spans", "--json", db=db).returncode == 0


# ------------------------------------------------------------------ a database held by another process
@pytest.fixture
def held_db(db_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()",
            str(db_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    assert holder.stdout.readline().strip() == "held"
    yield db_path
    holder.stdin.close()
    holder.wait(timeout=30)


@pytest.mark.parametrize(
    "args",
    [("ingest", SAMPLES), ("serve-otlp", "--port", "0"), ("sql", "SELECT 1")],
    ids=["ingest", "serve-otlp", "sql"],
)
def test_locked_database_says_so(held_db, args):
    """Refused with a one-line reason naming the file, instead of waiting for the lock (or, for
    serve-otlp, serving): a command still running after two minutes has not said so."""
    try:
        p = cli(*args, db=held_db, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{args[0]}` kept running against a database another process holds, instead of refusing it")
    line = one_line_error(p)
    assert "held by another process" in line and str(held_db) in line


def test_ingest_large_file_uses_worker_processes(db_path, tmp_path):
    """Over 8 MB the CLI decodes in spawned worker processes (the module entry point must allow it)."""
    from llmledger.telemetry import ingest

    line = json.loads(request_json(40, 1))
    spans = line["resourceSpans"][0]["scopeSpans"][0]["spans"]
    for s in spans:
        s["attributes"].append({"key": "gen_ai.prompt", "value": {"stringValue": "lorem ipsum " * 50}})
    with open(tmp_path / "big.jsonl", "w") as out:
        for k in range(300):
            for i, s in enumerate(spans):
                s["traceId"] = f"{k + 1:08x}{i:024x}"
            out.write(json.dumps(line) + "\n")
    assert (tmp_path / "big.jsonl").stat().st_size > ingest.PARALLEL_MIN_BYTES
    p = cli("ingest", tmp_path / "big.jsonl", "--json", db=db_path, timeout=600)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert (doc["spans_new"], doc["llm_calls"], doc["rejected"]) == (12_000, 12_000, 0)
