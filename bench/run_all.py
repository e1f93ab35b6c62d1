"""Run every benchmark one after another (they share 2 cores badly); each writes bench/results/*.json."""

from __future__ import annotations

import subprocess
import sys
import time

BENCHES = [
    "bench.bench_ingest",
    "bench.bench_ingest_floor",
    "bench.bench_receiver",
    "bench.bench_receiver_memory",
    "bench.bench_ledger_growth",
    "bench.bench_calls_queries",
    "bench.bench_spend_page",
    "bench.bench_reprice",
    "bench.bench_tokens",
    "bench.bench_planning",
    "bench.bench_local",
    "bench.bench_forecast",
    "bench.bench_metrics",
    "bench.bench_whatif",
    "bench.bench_whatif_traffic",
    "bench.bench_pages",
    "bench.bench_levers",
    "bench.bench_levers_page",
    "bench.bench_alerts",
    "bench.bench_alerts_ab",
    "bench.bench_alerts_e2e",
    "bench.bench_grpc",
    "bench.bench_logs",
    "bench.bench_home",
    "bench.bench_demo_fill",
]


def main(argv: list[str]) -> int:
    chosen = [b for b in BENCHES if not argv or any(a in b for a in argv)]
    failed = []
    for name in chosen:
        t0 = time.time()
        print(f"== {name}", flush=True)
        rc = subprocess.call([sys.executable, "-m", name])
        print(f"== {name}: exit {rc} in {time.time() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
