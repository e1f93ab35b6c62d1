"""Peak memory of the receiver while 4 senders push 1 GB of spans.

    .venv/bin/python -m bench.bench_receiver_memory [--gigabytes 1.0] [--bound-mib 1024]

Starts the real `serve-otlp` (its own process, its decode worker process included in the figure)
on a loopback port with a fresh ledger, and 4 sender processes that post OTLP/JSON requests the
way exporters do (keep-alive; on 503 they wait for Retry-After and send again). The traffic mixes
the shapes that used to blow memory up:
- ordinary 4 MiB requests of 128 spans with 32 KB prompts, half of them gzipped;
- "bombs": 1 span with a 16 MiB attribute, gzipped to ~16 KB on the wire.
RSS (server + children, from /proc) is sampled every 50 ms until every acknowledged span is
loaded. At the end the ledger must hold each acknowledged span exactly once.

The bound (default 1 GiB) follows from the byte caps: requests in flight 256 MiB (decoded JSON
counted 6x), bodies held for the loader 64 MiB, one loader group 32 MiB of bodies (decoded,
tabled and inserted: a few times that, in the worker and the server), DuckDB's buffer pool
(LLMLEDGER_DUCKDB_MEMORY, 384MB here), and two interpreters (~150 MiB each). The spool's page
cache is not RSS. Without a DuckDB limit, DuckDB keeps what it is allowed (80% of RAM).

Writes bench/results/bench_receiver_memory.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
SENDERS = 4
SPANS_PER_REQUEST = 128
PROMPT_BYTES = 32 * 1024
BOMB_BYTES = 16 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _body(sender: int, i: int, bomb: bool) -> tuple[bytes, int]:
    base = (sender << 40) | (i << 12)
    if bomb:
        spans = [_span(base, "b" * BOMB_BYTES)]
    else:
        spans = [_span(base + k, chr(97 + k % 26) * PROMPT_BYTES) for k in range(SPANS_PER_REQUEST)]
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "mem"}}]},
                "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}],
            }
        ]
    }
    return json.dumps(doc).encode(), len(spans)


def _span(n: int, prompt: str) -> dict:
    return {
        "traceId": f"{n + 1:032x}",
        "spanId": f"{n + 1:016x}",
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": str(1_700_000_000_000_000_000 + n),
        "endTimeUnixNano": str(1_700_000_000_900_000_000 + n),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": 900}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 90}},
            {"key": "gen_ai.prompt", "value": {"stringValue": prompt}},
        ],
    }


def sender(port: int, sender_id: int, budget: int, out: mp.Queue) -> None:
    import requests

    session = requests.Session()
    sent_bytes = acked = retries = i = 0
    while sent_bytes < budget:
        bomb = i % 8 == 7
        raw, spans = _body(sender_id, i, bomb)
        gz = bomb or i % 2 == 0
        body = gzip.compress(raw, 1) if gz else raw
        headers = {"Content-Type": "application/json", **({"Content-Encoding": "gzip"} if gz else {})}
        while True:
            try:
                r = session.post(f"http://127.0.0.1:{port}/v1/traces", data=body, headers=headers, timeout=120)
            except requests.ConnectionError:
                retries += 1
                time.sleep(0.5)
                session = requests.Session()
                continue
            if r.status_code == 503:
                retries += 1
                time.sleep(float(r.headers.get("Retry-After", "1")))
                continue
            if r.status_code != 200:
                raise SystemExit(f"sender {sender_id}: HTTP {r.status_code} {r.text[:200]}")
            break
        acked += spans
        sent_bytes += len(raw)
        i += 1
    out.put({"sender": sender_id, "requests": i, "bytes": sent_bytes, "spans": acked, "retries_503": retries})


def _rss_tree(pid: int) -> int:
    """Resident bytes of a process and its children (the decode worker)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gigabytes", type=float, default=1.0)
    ap.add_argument("--bound-mib", type=int, default=1024)
    ap.add_argument(
        "--duckdb-memory",
        default="384MB",
        help="LLMLEDGER_DUCKDB_MEMORY for the server ('' for DuckDB's default, 80%% of RAM)",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_mem_"))
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "LLMLEDGER_DUCKDB_MEMORY": args.duckdb_memory}
    server = subprocess.Popen(
        [sys.executable, "-m", "llmledger", "serve-otlp", "--db", str(tmp / "ledger.duckdb"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert "OTLP receiver on" in server.stdout.readline()
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        t0 = time.perf_counter()

        def sample() -> None:
            while not stop.is_set():
                samples.append((time.perf_counter() - t0, _rss_tree(server.pid)))
                time.sleep(0.05)

        threading.Thread(target=sample, daemon=True).start()
        out: mp.Queue = mp.Queue()
        budget = int(args.gigabytes * 1e9 / SENDERS)
        procs = [mp.Process(target=sender, args=(port, k, budget, out)) for k in range(SENDERS)]
        for p in procs:
            p.start()
        senders = [out.get() for _ in procs]
        for p in procs:
            p.join()
        sent_s = time.perf_counter() - t0
        acked = sum(s["spans"] for s in senders)
        server.terminate()  # loads everything spooled before it exits
        stdout, stderr = server.communicate(timeout=1800)
        stop.set()
        total_s = time.perf_counter() - t0
        import duckdb

        con = duckdb.connect(str(tmp / "ledger.duckdb"), read_only=True)
        stored, distinct = con.execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").fetchall()[0]
        con.close()
        peak = max(r for _, r in samples)
        doc = {
            "benchmark": "receiver peak RSS (server + decode worker) while 4 senders push JSON spans",
            "cpu_count": os.cpu_count(),
            "bytes_sent": sum(s["bytes"] for s in senders),
            "requests": sum(s["requests"] for s in senders),
            "spans_acknowledged": acked,
            "spans_stored": stored,
            "spans_distinct": distinct,
            "retries_after_503": sum(s["retries_503"] for s in senders),
            "send_seconds": round(sent_s, 1),
            "total_seconds_until_loaded": round(total_s, 1),
            "server_exit_code": server.returncode,
            "server_summary": stdout.strip().splitlines()[-1:],
            "duckdb_memory_limit": args.duckdb_memory or "DuckDB default (80% of RAM)",
            "peak_rss_mib": round(peak / 2**20, 1),
            "bound_mib": args.bound_mib,
            "within_bound": peak <= args.bound_mib * 2**20,
            "rss_mib_timeline": [[round(t, 1), round(r / 2**20)] for t, r in samples[:: max(1, len(samples) // 120)]],
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "bench_receiver_memory.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(json.dumps({k: v for k, v in doc.items() if k != "rss_mib_timeline"}, indent=2))
        if stored != acked or distinct != acked:
            raise SystemExit(f"acknowledged {acked} spans but stored {stored} ({distinct} distinct)")
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
