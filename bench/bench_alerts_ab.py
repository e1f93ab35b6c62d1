"""The check after a load, incremental against full, on the same ledger and the same loads.

    .venv/bin/python -m bench.bench_alerts_ab --db PATH [--loads 4]

Uses bench_alerts' ledger (build it first: `python -m bench.bench_alerts --db PATH --quick`) and its
200 budgets. After each 20k-span load (bench_alerts.recent_groups, the receiver's loader path), it
times the check the background evaluator runs (evaluate.check, incremental: running.advance +
from_running, the new calls priced and added to running totals; crossings recorded, nothing
delivered, explanations left to their thread), with `incremental_*` its evaluation part and
`incremental_stages` running.advance's stages; then full (evaluate._status: the memo brought up to
date, then grouped scans; this also seeds the next incremental one). Wall and CPU
seconds (this process, every thread) for each: on a busy shared machine CPU is the steadier figure.

Writes bench/results/bench_alerts_ab.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "bench_alerts_ab.json"


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> dict:
    from bench.bench_alerts import recent_groups
    from llmledger.alerts import budgets, evaluate, reads, running
    from llmledger.store.db import connect
    from llmledger.telemetry import attribution, loader, otlp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--loads", type=int, default=4)
    args = ap.parse_args(argv)
    load_at_start = [round(x, 1) for x in os.getloadavg()]
    con = connect(args.db)
    stored = budgets.load_all_cached(con)
    rules = attribution.load_rules(con)
    table, sheet = reads.memo_of_active(con)
    now = datetime.now(UTC)
    statuses, t, marker = evaluate._status(con, now, "needed", stored)
    running.seed(con, t, stored, statuses, now, marker)
    rows = []
    for k, group in enumerate(recent_groups(seed=int(time.time()) % 100_000, n_groups=args.loads)):
        prepared = loader.prepare([loader.Batch(otlp.decode_protobuf(b), bid, "bench") for bid, b in group], rules)
        loader.commit_prepared(con, [prepared])
        now = datetime.now(UTC)
        # The check the background evaluator runs after a load (events recorded, nothing delivered,
        # explanations left to their own thread): incremental when it can be.
        out, check_s, check_cpu = timed(
            lambda: evaluate.check(con, now, deliver=False, incremental=True, explain=False, stored=stored)
        )
        adv = out if out["mode"] == "incremental" else None
        inc_s, inc_cpu = out["seconds"]["evaluate"], out["cpu_seconds"]["evaluate"]
        _, memo_s, memo_cpu = timed(lambda: reads.source(con))
        (statuses, t, marker), full_s, full_cpu = timed(lambda: evaluate._status(con, now, "needed", stored))
        running.seed(con, t, stored, statuses, now, marker)
        running.flush()
        row = {
            "incremental": adv is not None,
            "why_not": None if adv is not None else running.last_reason.get(table),
            "incremental_s": round(inc_s, 3),
            "incremental_cpu_s": round(inc_cpu, 3),
            "check_s": round(check_s, 3),
            "check_cpu_s": round(check_cpu, 3),
            "new_events": len(out["new_events"]),
            "record_s": round(out["seconds"]["record"], 3),
            "incremental_stages": running.last_timing.get(table) if adv is not None else None,
            "memo_refresh_s": round(memo_s, 3),
            "memo_refresh_cpu_s": round(memo_cpu, 3),
            "full_after_memo_s": round(full_s, 3),
            "full_after_memo_cpu_s": round(full_cpu, 3),
        }
        rows.append(row)
        print(k, row, flush=True)
    con.close()
    inc = [r for r in rows if r["incremental"]]

    def med(key, rs):
        return round(statistics.median([r[key] for r in rs]), 3) if rs else None

    out = {
        "calls": None,
        "budgets": len(stored),
        "loads": rows,
        "median": {
            k: med(k, inc if k.startswith(("incremental", "check")) else rows)
            for k in (
                "incremental_s",
                "incremental_cpu_s",
                "check_s",
                "check_cpu_s",
                "memo_refresh_s",
                "memo_refresh_cpu_s",
                "full_after_memo_s",
                "full_after_memo_cpu_s",
            )
        },
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "load_average_at_start": load_at_start,
        "note": "CPU seconds are this process's, every thread (DuckDB's too); the machine was shared, so "
        "wall times are pessimistic",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["median"], indent=2))
    return out


if __name__ == "__main__":
    main()
