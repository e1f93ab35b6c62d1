"""GenAI log events joined to their calls: decode + prepare + commit + join, through the loader.

    .venv/bin/python -m bench.bench_logs [--calls 20000] [--per-request 512]

Two orders, each into a fresh DuckDB file:
- "spans first": the calls' spans are loaded, then their events (3 per call: system, user,
  choice; as opentelemetry-instrumentation-openai-v2 sends them), 512 calls' events per request;
- "events first": the events, then the spans.
Requests are loaded several to a transaction (about 20,000 rows), as the receiver's loader groups
them. Events/s counts the events loaded per second of decoding and loading them (the join
included), in one process (the service prepares in a worker process while it commits). Target:
>= 20,000 events/s. Also checks every call got its text. Writes bench/results/bench_logs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))


def run(order: str, n_calls: int, per_request: int, tmp: Path) -> dict:
    from genai_payloads import logs_request, spans_request

    from llmledger.store.db import connect
    from llmledger.telemetry import loader, logs, otlp

    rnd = random.Random(7)
    keys = [(f"{rnd.getrandbits(128) | 1:032x}", f"{rnd.getrandbits(64) | 1:016x}") for _ in range(n_calls)]
    chunks = [keys[i : i + per_request] for i in range(0, n_calls, per_request)]
    span_bodies = [spans_request(c) for c in chunks]
    log_bodies = [logs_request(c, other_logs=0) for c in chunks]
    con = connect(tmp / f"{order.replace(' ', '_')}.duckdb")
    timings = {}

    # As the receiver's loader does: several requests per transaction, up to about 20,000 rows.
    def load(bodies, decode, prefix: str, per_group: int) -> float:
        t = time.perf_counter()
        for g in range(0, len(bodies), per_group):
            batch = [
                loader.Batch(decode(b), f"{prefix}{g + i}", "bench") for i, b in enumerate(bodies[g : g + per_group])
            ]
            loader.load_batches(con, batch)
        return time.perf_counter() - t

    def load_spans():
        timings["spans_s"] = load(span_bodies, otlp.decode_protobuf, "s", max(1, 20_000 // per_request))

    def load_events():
        timings["events_s"] = load(log_bodies, logs.decode_protobuf_logs, "l", max(1, 20_000 // (3 * per_request)))

    for step in (load_spans, load_events) if order == "spans first" else (load_events, load_spans):
        step()
    events = con.execute("SELECT count(*) FROM genai_events").fetchone()[0]
    with_text = con.execute(
        "SELECT count(*) FROM calls WHERE input_text IS NOT NULL AND output_text IS NOT NULL"
    ).fetchone()[0]
    con.close()
    return {
        "calls": n_calls,
        "events": events,
        "calls_with_text": with_text,
        "events_load_s": round(timings["events_s"], 2),
        "spans_load_s": round(timings["spans_s"], 2),
        "events_per_s": round(events / timings["events_s"]),
        # When events come second, the join runs as they load; when spans come second, it runs as
        # the spans load: the time of the second step includes the join either way.
        "second_step_per_call_us": round(
            (timings["events_s"] if order == "spans first" else timings["spans_s"]) / n_calls * 1e6, 1
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--per-request", type=int, default=512)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_logs_"))
    results = {order: run(order, args.calls, args.per_request, tmp) for order in ("spans first", "events first")}
    doc = {
        "benchmark": "GenAI log events (3 per call, 512 calls per request) loaded and joined to their calls",
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "targets": {"events_per_s": 20_000},
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_logs.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
