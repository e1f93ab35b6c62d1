"""kill -9 the headless receiver while gRPC clients send spans and GenAI log events: every
acknowledged span and event survives exactly once.

Each round starts `python -m llmledger serve-otlp` with its gRPC port, has threads export trace
and logs requests through the stubs opentelemetry-proto ships (recording which were answered OK,
and replaying some acknowledged ones), then SIGKILLs the process: at the first acknowledgement,
or once the loader has committed some requests while others still wait in the spool. A final
clean run loads what is left.
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
import grpc
from genai_payloads import logs_request, spans_request
from helpers import free_port, subprocess_env
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def keys_for(round_no: int, sender: int, k: int, n: int) -> list[tuple[str, str]]:
    return [(f"{round_no + 1:04x}{sender + 1:04x}{k + 1:08x}{i + 1:016x}", f"{i + 1:016x}") for i in range(n)]


def start(db: Path, port: int, grpc_port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmledger", "serve-otlp", "--port", str(port), "--grpc-port", str(grpc_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=subprocess_env(LLMLEDGER_DB=db),
    )
    line = proc.stdout.readline()
    assert f"OTLP/gRPC on 127.0.0.1:{grpc_port}" in line, line
    return proc


def test_kill_9_loses_and_duplicates_no_span_or_event(tmp_path):
    db = tmp_path / "ledger.duckdb"
    spool = Path(str(db) + ".spool")
    port, grpc_port = free_port(), free_port()
    acked_spans: set[tuple[str, str]] = set()
    acked_events: set[tuple[str, str]] = set()  # calls whose three events were acknowledged
    lock = threading.Lock()
    rounds = [(0, 20, None), (1, 200, 2), (2, 500, 1)]
    for round_no, size, loaded_before_kill in rounds:
        spooled_before = set(spool.glob("*.pb")) if spool.exists() else set()
        proc = start(db, port, grpc_port)
        first_ack, stop = threading.Event(), threading.Event()
        rnd = random.Random(round_no)
        answered = [0]

        def send(sender: int) -> None:
            done: list = []
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as ch:
                traces = trace_service_pb2_grpc.TraceServiceStub(ch)
                logs = logs_service_pb2_grpc.LogsServiceStub(ch)
                for k in range(10_000):
                    if stop.is_set():
                        return
                    if done and rnd.random() < 0.2:  # replay an acknowledged request: adds nothing
                        kind, req, keys = rnd.choice(done)
                        keys = []
                    else:
                        keys = keys_for(round_no, sender, k, size)
                        if k % 2:
                            kind, req = "logs", ExportLogsServiceRequest.FromString(logs_request(keys, other_logs=0))
                        else:
                            kind, req = "traces", ExportTraceServiceRequest.FromString(spans_request(keys))
                    try:
                        (logs if kind == "logs" else traces).Export(req, timeout=20)
                    except grpc.RpcError:
                        return  # the server died mid-call: not acknowledged
                    with lock:
                        if kind == "traces":
                            acked_spans.update(keys)
                        else:
                            acked_events.update(keys)
                        answered[0] += 1
                    if keys:
                        done.append((kind, req, keys))
                    first_ack.set()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        assert first_ack.wait(60), "no request was acknowledged"
        if loaded_before_kill is not None:
            deadline = time.monotonic() + 120
            while True:
                waiting = set(spool.glob("*.pb")) - spooled_before
                with lock:
                    loaded = answered[0] - len(waiting)
                if waiting and loaded >= loaded_before_kill:
                    break
                assert time.monotonic() < deadline, f"round {round_no}: the loader never loaded {loaded_before_kill}"
                time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        stop.set()
        for t in threads:
            t.join(timeout=60)

    final = start(db, port, grpc_port)
    final.send_signal(signal.SIGTERM)
    final.communicate(timeout=300)
    assert final.returncode == 0
    assert not list(spool.glob("*.pb")), "a clean stop leaves nothing in the spool"

    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("CREATE TEMP TABLE acked (trace_id VARCHAR, span_id VARCHAR)")
        con.executemany("INSERT INTO acked VALUES (?, ?)", sorted(acked_spans))
        stored = con.execute("SELECT count(*) FROM spans SEMI JOIN acked USING (trace_id, span_id)").fetchone()[0]
        rows, distinct = con.execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").fetchone()
        events, distinct_events = con.execute(
            "SELECT count(*), count(DISTINCT record_key) FROM genai_events"
        ).fetchone()
        messages = con.execute("SELECT count(*) FROM call_messages").fetchone()[0]
        con.execute("CREATE TEMP TABLE acked_ev (trace_id VARCHAR, span_id VARCHAR)")
        con.executemany("INSERT INTO acked_ev VALUES (?, ?)", sorted(acked_events))
        per_call = con.execute(
            """SELECT count(*) FILTER (WHERE n = 3), count(*) FROM (
                   SELECT a.trace_id, count(e.record_key) AS n FROM acked_ev a
                   LEFT JOIN genai_events e USING (trace_id, span_id) GROUP BY a.trace_id, a.span_id)"""
        ).fetchone()
    finally:
        con.close()
    assert acked_spans and acked_events
    assert stored == len(acked_spans), f"{len(acked_spans) - stored} acknowledged spans lost"
    assert rows == distinct
    # Every acknowledged call has its three events, exactly (events of a request spooled but killed
    # before its OK may be stored too), and no event or message is stored twice.
    assert per_call == (len(acked_events), len(acked_events))
    assert events == distinct_events
    assert messages == events  # one message per per-message event
