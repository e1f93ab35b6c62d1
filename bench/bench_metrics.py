"""What one `GET /metrics` costs over a ledger of 1,000,000 calls with 20 budgets.

The calls are synthesised as bench_spend_page does (90 days, 8 models, 12 features, 6 teams); the
budgets are 10 monthly ones with scopes (forecast), 5 weekly and 5 "each team" daily ones. Times:
- cold: the first scrape (the active sheet's memo built, every forecast fitted);
- recomputed: a scrape after the TTLs ran out (one grouped scan, budget status with cached fits);
- cached: a scrape within the TTLs (what most scrapes are).
Each is the text exposition through prometheus_client, as the route answers it. Results go to
bench/results/bench_metrics.json.

    .venv/bin/python -m bench.bench_metrics [--calls 1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.bench_spend_page import synthesise, timed
from llmledger.alerts import budgets, metrics
from llmledger.alerts.budgets import Budget
from llmledger.pricing import sheets
from llmledger.store.db import connect

RESULTS = Path(__file__).resolve().parent / "results" / "bench_metrics.json"


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def add_budgets(con) -> None:
    features = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT feature FROM calls WHERE feature IS NOT NULL ORDER BY 1 LIMIT 10"
        ).fetchall()
    ]
    for f in features:
        budgets.save(con, Budget.build(f"month {f}", 1000, "month", where=[f"feature={f}"], forecast_thresholds=[100]))
    for k in range(5):
        budgets.save(con, Budget.build(f"week {k}", 500 + k, "week"))
        budgets.save(con, Budget.build(f"each team {k}", 50 + k, "day", each="team"))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(Path(tmp) / "bench.duckdb")
        synthesise(con, args.calls, now)
        sheets.set_active_sheet(con, "litellm")
        add_budgets(con)
        clock = Clock()
        collector = metrics.LedgerCollector(con, clock=clock)
        scrape = metrics.route(metrics.registry_for(collector))

        t = time.perf_counter()
        status, _, body = scrape()
        cold_s = time.perf_counter() - t
        assert status == 200

        def recomputed():
            clock.t += 3600  # past both TTLs
            scrape()

        result = {
            "benchmark": "bench_metrics",
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
            "calls": args.calls,
            "budgets": 20,
            "series_exposed": sum(1 for line in body.decode().splitlines() if line and not line.startswith("#")),
            "exposition_bytes": len(body),
            "cold_first_scrape_s": round(cold_s, 2),
            "recomputed_scrape": timed(recomputed, args.repeat),
            "ledger_part_s": round(collector._ledger.seconds, 3),
            "budgets_part_s": round(collector._budgets.seconds, 3),
            "cached_scrape": timed(scrape, args.repeat),
            "ttl_s": {"ledger": metrics.LEDGER_TTL_S, "budgets": metrics.BUDGETS_TTL_S},
        }
        con.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
