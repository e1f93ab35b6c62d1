"""Run every benchmark one after another (they share 2 cores badly); each writes bench/results/*.json."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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
    "bench.bench_alerts_floor",
    "bench.bench_alerts_e2e",
    "bench.bench_grpc",
    "bench.bench_logs",
    "bench.bench_home",
    "bench.bench_demo_fill",
]
#: bench_alerts keeps its 1M-call ledger with 200 budgets here; the two after it work on that ledger
#: (bench_alerts_ab adds loads to it; bench_alerts_floor copies it).
ALERTS_DB = "/tmp/llmledger-bench-alerts/ledger.duckdb"
ARGS = {
    "bench.bench_alerts": ["--db", ALERTS_DB],
    "bench.bench_alerts_ab": ["--db", ALERTS_DB],
    "bench.bench_alerts_floor": ["--db", ALERTS_DB],
}


def main(argv: list[str]) -> int:
    chosen = [b for b in BENCHES if not argv or any(a in b for a in argv)]
    failed = []
    for name in chosen:
        t0 = time.time()
        print(f"== {name}", flush=True)
        if name in ARGS:
            Path(ALERTS_DB).parent.mkdir(parents=True, exist_ok=True)
        rc = subprocess.call([sys.executable, "-m", name, *ARGS.get(name, [])])
        print(f"== {name}: exit {rc} in {time.time() - t0:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
