"""kill -9 the headless receiver at varied moments; every acknowledged span survives exactly once.

Each round starts `python -m llmledger serve-otlp`, has several threads send batches (recording
which requests were answered 200, and replaying some acknowledged ones), then SIGKILLs the
process at a moment defined by what it has done, never by a pause: right after the first
acknowledgement, or once the loader has committed some of the round's requests while others
still wait in the spool (small batches and big ones).
A final clean run loads what the spool still holds. Then every acknowledged span must be in
`spans` exactly once, with exactly one call each.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
import requests
from helpers import free_port, subprocess_env
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PB = {"Content-Type": "application/x-protobuf"}


def batch(round_no: int, sender: int, k: int, n: int) -> tuple[bytes, list[tuple[str, str]]]:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "crash"
    ss = rs.scope_spans.add()
    keys = []
    for i in range(n):
        tid = f"{round_no + 1:04x}{sender + 1:04x}{k + 1:08x}{i + 1:016x}"
        sid = f"{i + 1:016x}"
        s = ss.spans.add()
        s.trace_id, s.span_id, s.name, s.kind = bytes.fromhex(tid), bytes.fromhex(sid), "chat", 3
        s.start_time_unix_nano, s.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_100_000_000
        for key, val in (("gen_ai.request.model", "gpt-4o-mini"), ("gen_ai.operation.name", "chat")):
            a = s.attributes.add()
            a.key, a.value.string_value = key, val
        a = s.attributes.add()
        a.key, a.value.int_value = "gen_ai.usage.input_tokens", 10
        keys.append((tid, sid))
    return req.SerializeToString(), keys


def start(db: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmledger", "serve-otlp", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=subprocess_env(LLMLEDGER_DB=db),
    )
    line = proc.stdout.readline()
    assert "OTLP receiver on" in line, line
    return proc


def test_kill_9_loses_and_duplicates_nothing(tmp_path):
    db = tmp_path / "ledger.duckdb"
    spool = Path(str(db) + ".spool")
    port = free_port()
    acked: set[tuple[str, str]] = set()
    acked_lock = threading.Lock()
    # (round, spans per request, when to kill: None = at the first acknowledgement; n = once the
    # loader has committed at least n of this round's requests and the spool still holds some)
    rounds = [(0, 20, None), (1, 50, 1), (2, 500, 3), (3, 2000, 1), (4, 200, 10), (5, 1000, 5)]
    spool_nonempty_at_kill = 0
    for round_no, size, loaded_before_kill in rounds:
        spooled_before = set(spool.glob("*.pb")) if spool.exists() else set()
        proc = start(db, port)
        first_ack = threading.Event()
        stop = threading.Event()
        rnd = random.Random(round_no)
        answered = [0]  # requests of this round answered 200 (each one spooled as a file)

        def send(sender: int) -> None:
            done: list[bytes] = []
            with requests.Session() as s:
                for k in range(10_000):
                    if stop.is_set():
                        return
                    if done and rnd.random() < 0.2:  # replay an acknowledged request: adds nothing
                        body, keys = rnd.choice(done), []
                    else:
                        body, keys = batch(round_no, sender, k, size)
                    try:
                        r = s.post(f"http://127.0.0.1:{port}/v1/traces", data=body, headers=PB, timeout=20)
                    except requests.RequestException:
                        return  # the server died mid-request: not acknowledged
                    if r.status_code == 200:
                        with acked_lock:
                            acked.update(keys)
                            answered[0] += 1
                        done.append(body)
                        first_ack.set()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        assert first_ack.wait(60), "no request was acknowledged"
        if loaded_before_kill is not None:
            deadline = time.monotonic() + 120
            while True:
                waiting = set(spool.glob("*.pb")) - spooled_before
                with acked_lock:
                    loaded = answered[0] - len(waiting)
                if waiting and loaded >= loaded_before_kill:
                    break
                assert time.monotonic() < deadline, (
                    f"round {round_no}: the loader never got {loaded_before_kill} loaded"
                )
                time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)  # really kill: no cleanup, no flush
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        # Only the killed process removed spool files, so what is left was queued at the kill.
        spool_nonempty_at_kill += bool(list(spool.glob("*.pb")))
        stop.set()
        for t in threads:
            t.join(timeout=60)

    # The loader was interrupted with work queued at least once (so replay really happened).
    assert spool_nonempty_at_kill >= 1
    final = start(db, port)
    final.send_signal(signal.SIGTERM)
    final.communicate(timeout=120)
    assert final.returncode == 0
    assert not list(spool.glob("*.pb")), "a clean stop leaves nothing in the spool"

    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("CREATE TEMP TABLE acked (trace_id VARCHAR, span_id VARCHAR)")
        con.executemany("INSERT INTO acked VALUES (?, ?)", sorted(acked))
        stored = con.execute("SELECT count(*) FROM spans s SEMI JOIN acked a USING (trace_id, span_id)").fetchall()[0][
            0
        ]
        rows, distinct = con.execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").fetchall()[0]
        calls, calls_distinct = con.execute(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM calls"
        ).fetchall()[0]
        acked_calls = con.execute(
            "SELECT count(*) FROM calls c SEMI JOIN acked a USING (trace_id, span_id)"
        ).fetchall()[0][0]
        logged = con.execute("SELECT sum(spans_new) FROM ingest_log").fetchall()[0][0]
    finally:
        con.close()
    assert len(acked) > 1000
    assert stored == len(acked), f"{len(acked) - stored} acknowledged spans lost"
    assert rows == distinct and calls == calls_distinct
    assert calls == rows  # every stored span is one chat call, counted once
    assert acked_calls == len(acked)
    assert logged == rows  # ingest_log agrees: nothing counted twice


WORKER_SCRIPT = """
import os, sys, time
from llmledger.telemetry import workers

def big(n):
    time.sleep(1.0)  # the parent is killed meanwhile
    return b"x" * n  # far more than a pipe holds: sending it blocks while nobody reads

if __name__ == "__main__":
    pool = workers.worker_pool(1)  # the pool ingest and the receiver's loader use
    if sys.argv[1] == "while_working":
        pool.submit(os.getpid).result()  # the worker is up and initialised
    pool.submit(big, 50_000_000)  # before_init: the worker is still starting when the kill comes
    print("ready", flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids.update(int(x) for x in (task / "children").read_text().split())
    return kids


@pytest.mark.parametrize("when", ["before_init", "while_working"])
def test_decode_worker_exits_when_its_parent_is_killed(tmp_path, when):
    """A kill -9 of the importing/serving process must not leave its decode worker behind,
    blocked forever on handing a result to nobody (a stdlib process pool would), whether the
    worker was still starting or already working."""
    script = tmp_path / "parent.py"
    script.write_text(WORKER_SCRIPT)
    parent = subprocess.Popen(
        [sys.executable, str(script), when], stdout=subprocess.PIPE, text=True, env=subprocess_env(), cwd=tmp_path
    )
    try:
        assert parent.stdout.readline().strip() == "ready"
        kids = _children(parent.pid)
        assert kids
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + 90
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [k for k in kids if _alive(k)], "an orphaned worker is still running"
    finally:
        if parent.poll() is None:
            parent.kill()
