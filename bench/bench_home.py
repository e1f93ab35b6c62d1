"""How fast the Home page's reads and the Plan page's PM shortlist are.

- `overview`: reads/overview.overview (this month vs last month, top features, daily spend: three
  queries over the active sheet's memo of the priced calls) over N synthesised calls (the Spend
  page bench's generator, 90 days, 8 models); the memo is built once first and its build time is
  reported apart.
- `budget_status`: alerts.evaluate.status with 10 budgets (what the Home page calls, no forecasts).
- `product_shortlist`: planning.shortlist.product_shortlist for a support chat over LiteLLM's whole
  map (~3,100 chat entries), with the Arena-Hard-Auto quality table.

Each is timed `--repeat` times after one warm-up; median, p90 and max (ms) go to
bench/results/bench_home.json.

    .venv/bin/python bench/bench_home.py [--calls 1000000] [--repeat 7]
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
from llmledger.alerts import budgets, evaluate
from llmledger.alerts.budgets import Budget
from llmledger.planning.product_shortlist import kind_prices, product_shortlist
from llmledger.planning.quality import public_table
from llmledger.planning.requirements import RequirementSet, UseCase
from llmledger.pricing import sheets
from llmledger.reads import overview, spend_cache
from llmledger.store.db import connect

RESULTS = Path(__file__).resolve().parent / "results" / "bench_home.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        con = connect(Path(tmp) / "ledger.duckdb")
        synthesise(con, args.calls, now)
        sheets.set_active_sheet(con, "litellm")
        t = time.perf_counter()
        spend_cache.memo_table(con)
        memo_s = time.perf_counter() - t
        for i in range(10):
            budgets.save(con, Budget.build(f"b{i}", 1000 + i, "month", where=[f"feature=feature-{i}"] if i else None))
        out = {
            "calls": args.calls,
            "memo_build_s": round(memo_s, 2),
            "overview": timed(lambda: overview.overview(con.cursor(), now), args.repeat),
            "budget_status": timed(lambda: evaluate.status(con, now, forecasts="none"), args.repeat),
        }
        prices = kind_prices(con, None, "chat")
        rs = RequirementSet(start_month="2026-01", use_cases=[UseCase(name="Support chat", task="Answer customers")])
        q = public_table()
        out["product_shortlist"] = timed(lambda: product_shortlist(rs, "Support chat", prices, quality=q), args.repeat)
        out["sheet_entries"] = len(prices)
        con.close()
    out["machine"] = f"{platform.machine()} {platform.python_version()}; shared with other jobs while measured"
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
