"""Applying a router and a cascade to 1,000,000 logged calls of one feature (issue #14: < 1 s).

Builds a DuckDB file with the real schema and fills `calls` with SQL: one feature, 30 days,
four models, token counts and latencies drawn at random (seeded), no captured text (so tokens
carry over; re-tokenising text is the tokenizers' own benchmark, bench_tokens.py). Then times
simulate.traffic.apply_to_traffic (median of several runs): a router between two models, and a
three-tier cascade. Writes bench/results/bench_whatif_traffic.json.

    .venv/bin/python -m bench.bench_whatif_traffic [--calls 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from llmledger.pricing.matching import refresh_resolutions
from llmledger.pricing.sheets import ensure_default_sheet
from llmledger.simulate import traffic
from llmledger.store.db import connect

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "bench_whatif_traffic.json"
FEATURE = "bench-support"

FILL_SQL = """
INSERT INTO calls (trace_id, span_id, start_time, duration_ms, provider, operation, request_model, response_model,
                   input_tokens, output_tokens, usage_source, convention, status, feature)
WITH r AS (SELECT i, random() AS a, random() AS b, random() AS c FROM generate_series(1, ?) t(i)),
m AS (SELECT * FROM (VALUES (0, 'gpt-4o-mini'), (1, 'gpt-4o'), (2, 'claude-3-5-haiku-20241022'),
                            (3, 'claude-sonnet-4-20250514')) AS v(k, model))
SELECT md5(CAST(i AS VARCHAR)), substr(md5(CAST(i AS VARCHAR)), 1, 16),
       TIMESTAMPTZ '2026-11-01' + to_microseconds(CAST(a * 30 * 86400e6 AS BIGINT)),
       400 + c * 4000 * (1 + m.k % 2), 'openai', 'chat', m.model, m.model,
       CAST(exp(b * 8) * 20 AS BIGINT), CAST(exp(c * 6) * 5 AS BIGINT), 'reported', 'bench', 'ok', ?
FROM r JOIN m ON m.k = CAST(floor(b * 977 + c * 13) AS INT) % 4
"""


def build(path: Path, n: int) -> float:
    t0 = time.perf_counter()
    con = connect(path)
    con.execute("SELECT setseed(0.14)")
    con.execute(FILL_SQL, [n, FEATURE])
    ensure_default_sheet(con)
    refresh_resolutions(con)
    con.execute("CHECKPOINT")
    con.close()
    return round(time.perf_counter() - t0, 2)


def timed(fn, runs: int) -> dict:
    walls, cpus, out = [], [], None
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return {
        "median_s": round(statistics.median(walls), 3),
        "max_s": round(max(walls), 3),
        "median_cpu_s": round(statistics.median(cpus), 3),
    }, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        build_s = build(path, args.calls)
        con = connect(path)
        policies = {
            "router_2_models": traffic.router("gpt-4o", "gpt-4o-mini", 30, 5),
            "cascade_3_tiers": traffic.cascade(
                ["gpt-4o-mini", "claude-3-5-haiku-20241022", "claude-sonnet-4-20250514"], [0.6, 0.5]
            ),
        }
        results, figures = {}, {}
        for name, policy in policies.items():
            traffic.apply_to_traffic(con, FEATURE, policy, days=30)  # warm: sheet, resolutions
            results[name], r = timed(lambda p=policy: traffic.apply_to_traffic(con, FEATURE, p, days=30), args.runs)
            figures[name] = {
                "calls": r.calls,
                "baseline_usd": str(r.baseline_usd),
                "policy_usd": str(r.policy_usd),
                "monthly_saving_usd": str(r.monthly_saving_usd),
            }
        con.close()
    doc = {
        "calls": args.calls,
        "build_s": build_s,
        "runs": args.runs,
        "duckdb": duckdb.__version__,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "note": "shared machine (several agents at once): figures are pessimistic",
        },
        "results": results,
        "figures": figures,
        "target_median_s": 1.0,
        "under_target": all(v["median_s"] < 1.0 for v in results.values()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
