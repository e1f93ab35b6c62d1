"""Receiver under load: `serve-otlp` in its own process, several sender processes posting 512-span
protobuf batches of realistic GenAI traces over keep-alive connections.

    .venv/bin/python -m bench.bench_receiver [--senders 4] [--rate 21000] [--seconds 20]

Phase "paced": the senders together offer --rate spans/s (open loop, fixed schedule), and every
acknowledgement latency is recorded (target: >= 20,000 spans/s sustained with p99 < 50 ms; the
default offers 21,000 so the acknowledged rate clears the target despite start and end effects).
Phase "max": each sender posts back to back (closed loop) for the same time: acknowledged spans/s.
After each phase the server is stopped with SIGTERM (which loads everything spooled) and the spans
in DuckDB are counted, so loading throughput is measured end to end as well.

Writes bench/results/bench_receiver.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BATCH = 512


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _templates(seed: int, n: int = 8):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from bench.bench_ingest import pb_request, requests_of

    out = []
    for groups in requests_of(BATCH * n, per_request=BATCH, seed=seed):
        out.append(ExportTraceServiceRequest.FromString(pb_request(groups)))
    return out


def _unique(template, sender: int, k: int) -> bytes:
    """The template with every trace id rewritten to be unique to (sender, k); structure kept."""
    prefix = sender.to_bytes(2, "big") + k.to_bytes(6, "big")
    for rs in template.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                s.trace_id = prefix + s.trace_id[8:]
    return template.SerializeToString()


class _Connection(http.client.HTTPConnection):
    """Keep-alive connection with TCP_NODELAY, as real OTLP exporters have it (the Python SDK's
    exporter through urllib3, the Collector through Go's net/http). Without it, Nagle holds the
    last part of a body until the server's delayed ACK: a 40 ms stall no real exporter sees."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def run_sender(args, send) -> None:
    """The sender loop both transports share: paced (open loop, --rate) or back to back, each
    request's acknowledgement latency recorded. `send(body)` returns None when acknowledged, else
    the error's name. Prints a JSON document with the latencies."""
    templates = _templates(seed=100 + args.sender)
    bodies = [_unique(templates[k % len(templates)], args.sender, args.offset + k) for k in range(args.prepare)]
    interval = BATCH / args.rate if args.rate else 0.0
    while time.time() < args.start_at:
        time.sleep(0.001)
    t_start = time.perf_counter()
    deadline = t_start + args.seconds
    lat, errors, sent, spans = [], 0, 0, 0
    codes: dict[str, int] = {}
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        if interval:
            # Senders are spread over the interval: independent exporters are not in phase.
            due = t_start + (sent + args.sender / max(1, args.senders)) * interval
            if due > now:
                time.sleep(due - now)
            if time.perf_counter() >= deadline:
                break
        body = (
            bodies[sent % len(bodies)]
            if sent < len(bodies)
            else _unique(templates[sent % len(templates)], args.sender, args.offset + sent)
        )
        t0 = time.perf_counter()
        error = send(body)
        lat.append(time.perf_counter() - t0)
        sent += 1
        if error is None:
            spans += BATCH
        else:
            errors += 1
            codes[error] = codes.get(error, 0) + 1
    elapsed = time.perf_counter() - t_start
    doc = {"sent": sent, "errors": errors, "codes": codes, "spans": spans, "elapsed": elapsed, "latencies": lat}
    print(json.dumps(doc))


def sender_main(args) -> None:
    """One OTLP/HTTP sender process, over one keep-alive connection."""
    conn = [_Connection("127.0.0.1", args.port, timeout=30)]
    headers = {"Content-Type": "application/x-protobuf"}

    def send(body: bytes) -> str | None:
        try:
            conn[0].request("POST", "/v1/traces", body=body, headers=headers)
            resp = conn[0].getresponse()
            resp.read()
            return None if resp.status == 200 else f"HTTP {resp.status}"
        except (OSError, http.client.HTTPException) as exc:
            conn[0].close()
            conn[0] = _Connection("127.0.0.1", args.port, timeout=30)
            return type(exc).__name__

    run_sender(args, send)


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: transport -> (sender module, result file, what is measured). bench_grpc.py runs the gRPC one.
TRANSPORTS = {
    "http": (
        "bench.bench_receiver",
        "bench_receiver.json",
        "OTLP/HTTP receiver, 512-span protobuf batches, sender processes separate from serve-otlp",
    ),
    "grpc": (
        "bench.bench_grpc",
        "bench_grpc.json",
        "OTLP/gRPC receiver, 512-span protobuf batches, sender processes separate from serve-otlp",
    ),
}


def phase(name: str, senders: int, rate: float, seconds: float, tmp: Path, transport: str = "http") -> dict:
    db = tmp / f"{name}.duckdb"
    port, grpc_port = _free_port(), (_free_port() if transport == "grpc" else -1)  # -1: no gRPC receiver
    server = subprocess.Popen(
        [sys.executable, "-m", "llmledger", "serve-otlp", "--port", str(port), "--grpc-port", str(grpc_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(LLMLEDGER_DB=db),
    )
    assert "OTLP receiver on" in server.stdout.readline()
    prepare = max(1, int((rate or 60_000) / senders * seconds / BATCH) + 2)
    start_at = time.time() + 8 + prepare * 0.002  # time for every sender to prepare its bodies
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", TRANSPORTS[transport][0], "--sender", str(i), "--senders", str(senders)]
            + ["--port", str(grpc_port if transport == "grpc" else port)]
            + ["--rate", str(rate / senders if rate else 0), "--seconds", str(seconds), "--start-at", str(start_at)]
            + ["--prepare", str(min(prepare, 400)), "--offset", "0"],
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for i in range(senders)
    ]
    outs = [json.loads(p.communicate(timeout=seconds + 300)[0]) for p in procs]
    t_stop = time.perf_counter()
    server_cpu_send = _proc_cpu(server.pid)
    server.send_signal(signal.SIGTERM)
    server.communicate(timeout=600)
    flush_s = time.perf_counter() - t_stop
    spool_left = len([f for f in Path(str(db) + ".spool").glob("*") if f.is_file()])
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute("SELECT count(*) FROM spans").fetchall()[0][0]
    calls = con.execute("SELECT count(*) FROM calls").fetchall()[0][0]
    con.close()
    lat = [x for o in outs for x in o["latencies"]]
    acked = sum(o["spans"] for o in outs)
    elapsed = max(o["elapsed"] for o in outs)
    codes: dict[str, int] = {}
    for o in outs:
        for k, v in o.get("codes", {}).items():
            codes[k] = codes.get(k, 0) + v
    return {
        "senders": senders,
        "offered_spans_per_s": rate or "max",
        "seconds": round(elapsed, 2),
        "requests": sum(o["sent"] for o in outs),
        "errors": sum(o["errors"] for o in outs),
        "error_codes": codes,
        "acked_spans": acked,
        "acked_spans_per_s": round(acked / elapsed),
        "ack_ms": {
            "p50": round(_pct(lat, 0.50) * 1e3, 1),
            "p95": round(_pct(lat, 0.95) * 1e3, 1),
            "p99": round(_pct(lat, 0.99) * 1e3, 1),
            "max": round(max(lat) * 1e3, 1),
        },
        "stored_spans": stored,
        "stored_calls": calls,
        "flush_after_senders_s": round(flush_s, 2),
        "spool_files_left": spool_left,
        # Server CPU while the senders ran: receive + decode + spool + as much loading as it got to.
        "server_cpu_s_while_sending": round(server_cpu_send, 2),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "loaded_spans_per_s_end_to_end": round(stored / (elapsed + flush_s)),
    }


def main(transport: str = "http", sender_main=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--rate", type=float, default=21_000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--sender", type=int)
    ap.add_argument("--port", type=int)
    ap.add_argument("--start-at", type=float)
    ap.add_argument("--prepare", type=int, default=100)
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--phases", default="paced,max", help="comma-separated: paced, max")
    args = ap.parse_args()
    if args.sender is not None:
        (sender_main or globals()["sender_main"])(args)
        return
    _, result_file, what = TRANSPORTS[transport]
    tmp = Path(tempfile.mkdtemp(prefix=f"bench_{transport}_"))
    results = {}
    for name, rate in (("paced", args.rate), ("max", 0.0)):
        if name not in args.phases.split(","):
            continue
        results[name] = phase(name, args.senders, rate, args.seconds, tmp, transport)
        print(name, json.dumps(results[name]), flush=True)
    doc = {
        "benchmark": what,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "targets": {"acked_spans_per_s": 20_000, "p99_ack_ms": 50},
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / result_file).write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
