"""The What-if page's Levers tab, without the browser: what one visit computes on a demo ledger
(telemetry/demo.generate through the real loader, 60 days): reading and pricing the window
(simulate/lever_lab.load_scope), each lever's default form, the TTL and cap sweeps, and the
savings in sequence for the top features. Each step timed once cold (tokenizers and models load
on first use) and once warm (median of `--runs`). The machine is shared: the load average is
recorded and the figures are pessimistic. Writes bench/results/bench_levers_page.json.

    .venv/bin/python -m bench.bench_levers_page [--calls 2500] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from llmledger.pricing import sheets
from llmledger.simulate import lever_lab
from llmledger.simulate.levers.ledger import SUMMARY_STEPS
from llmledger.store.db import connect
from llmledger.telemetry import demo

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "bench_levers_page.json"
LEVERS = ("cache", "agent-cache", "prompt-cache", "memory", "caps")


def timed(fn, runs: int) -> dict:
    t0 = time.perf_counter()
    fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    return {"cold_s": round(cold, 3), "warm_median_s": round(statistics.median(warm), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2500)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(Path(tmp) / "ledger.duckdb")
        demo.generate(con, n_calls=args.calls, days=60, now=dt.datetime.now(dt.UTC))
        sheets.set_active_sheet(con, "litellm")
        out: dict = {}
        out["load_scope"] = timed(lambda: lever_lab.load_scope(con, None, 30, None), args.runs)
        sc = lever_lab.load_scope(con, None, 30, None)
        for lv in LEVERS:
            out[lv] = timed(lambda lv=lv: lever_lab.run(sc, lv, **lever_lab.engine_params(sc, lv, {})), args.runs)
        out["ttl_sweep"] = timed(lambda: lever_lab.ttl_sweep(sc), args.runs)
        out["cap_sweep"] = timed(lambda: lever_lab.cap_sweep(sc, lever_lab.cap_grid(sc)), args.runs)
        steps = [s for s in SUMMARY_STEPS if s != "batch"]
        params = {s: lever_lab.engine_params(sc, s, {}) for s in steps}
        out["waterfall_top5"] = timed(lambda: lever_lab.waterfall(sc, steps, params, top=5), args.runs)
        result = {
            "what": "one visit of the Levers tab's computations on a demo ledger (all features, last 30 days)",
            "calls_in_scope": len(sc.calls),
            "calls_with_text": sc.lc.with_text,
            "steps": out,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "2 cores shared with other sessions: figures are pessimistic; the page caches each for 5 minutes",
        }
        con.close()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
