"""The demo fill `make run` offers on an empty ledger: how long `demo.generate` takes, split into
planning and emitting through the OpenTelemetry SDK (spans and GenAI log events) and loading.

    .venv/bin/python -m bench.bench_demo_fill [--calls N ...] [--out bench_demo_fill.json]

Each size loads into a fresh DuckDB file. Default sizes: the demo's default (demo.DEFAULT_CALLS)
and 30,000 (the default before the demo carried message text). Figures on a shared machine are
pessimistic; the load average is recorded at each start and end. Writes bench/results/<out>.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run(n_calls: int, tmp: Path) -> dict:
    from llmledger.store.db import connect
    from llmledger.telemetry import demo, loader, logs, otlp

    path = tmp / f"demo_{n_calls}.duckdb"
    con = connect(path)
    load0 = os.getloadavg()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    t0 = time.perf_counter()
    gen_s = 0.0
    calls = events = text_bytes = 0
    batches = demo.generate_requests(n_calls, now=now)
    while True:
        g0 = time.perf_counter()
        try:
            b, _, body, ev = next(batches)
        except StopIteration:
            break
        gen_s += time.perf_counter() - g0
        r = loader.load(con, otlp.decode_protobuf(body), batch_id=f"bench-{b}", source=demo.DEMO_SOURCE)
        calls += r.calls_new
        if ev:
            text_bytes += len(ev)
            r = loader.load(con, logs.decode_protobuf_logs(ev), batch_id=f"bench-{b}-e", source=demo.DEMO_SOURCE)
            events += r.events_new
    total = time.perf_counter() - t0
    with_text = con.execute("SELECT count(input_text) FROM calls").fetchone()[0]
    con.close()
    return {
        "n_calls": n_calls,
        "calls_loaded": calls,
        "calls_with_text": with_text,
        "events_loaded": events,
        "log_request_mb": round(text_bytes / 1e6, 1),
        "seconds_total": round(total, 1),
        "seconds_plan_and_emit": round(gen_s, 1),
        "seconds_load": round(total - gen_s, 1),
        "db_mb": round(path.stat().st_size / 1e6, 1),
        "load_average_at_start": load0,
        "load_average_at_end": os.getloadavg(),
    }


def main() -> None:
    from llmledger.telemetry import demo

    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, nargs="*", default=[demo.DEFAULT_CALLS, 30_000])
    ap.add_argument("--out", default="bench_demo_fill.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        runs = [run(n, Path(d)) for n in args.calls]
    doc = {
        "what": "demo.generate: plan + emit through the OpenTelemetry SDK + load (spans and GenAI log events)",
        "note": "2 shared cores; figures are pessimistic under load (see the load averages)",
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
