"""Budget evaluation over 1,000,000 calls, and what it adds to each receiver-sized load.

    .venv/bin/python -m bench.bench_alerts [--calls 1000000] [--runs 5] [--loads 4] [--db PATH]

Builds bench_calls_queries' 1M-call ledger (90 days up to now, 2,000 users, priced under the
default sheet), adds 200 budgets: 150 on a whole scope (day, week, month, quarter and rolling-24h
periods in four time zones, scoped by feature, team, model, provider, environment or nothing; 30
of them with a forecast threshold) and 50 "each user" budgets (day, week, month). Then times:

- `check`: what the evaluator runs after each load (status of every budget, forecasts where a
  forecast threshold needs one, crossings recorded; nothing to deliver), cold and warm;
- `status_all_forecasts`: the Budgets page and `budgets status` (a forecast for every whole-scope
  calendar budget), cold (model fits) and warm (forecasts cached for the hour);
- per load: 20,000 spans of recent GenAI traffic loaded the way the receiver's loader does
  (bench_ledger_growth's probe groups, re-timed to the last hour), then the check the evaluator
  runs after it: incremental (alerts/running.py: the new calls priced and added to running
  totals, no scan of the memo). The priced-calls memo the Spend page reads is refreshed after
  that check and timed apart: the check does not need it.

Writes bench/results/bench_alerts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

RESULTS = Path(__file__).resolve().parent / "results" / "bench_alerts.json"
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo")
PERIODS = ("day", "week", "month", "quarter", "rolling-24h")


def make_budgets(con) -> dict:
    from llmledger.alerts import budgets
    from llmledger.alerts.budgets import Budget

    for table in ("alert_rules", "alert_events", "alert_deliveries"):  # a kept --db starts over
        con.execute(f"DELETE FROM {table}")
    models = ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-20250514", "gemini-2.0-flash", "o3-mini"]
    n = {"whole": 0, "each": 0, "forecast": 0}
    for i in range(150):
        period = PERIODS[i % len(PERIODS)]
        scope = [
            [],
            [f"feature=feature-{i % 20}"],
            [f"team=team-{i % 6}"],
            [f"model={models[i % 5]}"],
            ["provider=openai", "environment=production"],
            [f"feature=feature-{i % 20}", f"model={models[i % 5]}"],
        ][i % 6]
        fths = "100" if i % 5 == 0 and period != "rolling-24h" else ""
        budgets.save(
            con,
            Budget.build(
                f"budget-{i:03d}",
                50 + i * 13,
                period,
                tz=ZONES[i % 4],
                where=scope,
                thresholds="50,80,100",
                forecast_thresholds=fths,
            ),
        )
        n["whole"] += 1
        n["forecast"] += bool(fths)
    for i in range(50):
        period = ("day", "week", "month")[i % 3]
        scope = [[], [f"feature=feature-{i % 20}"], [f"team=team-{i % 6}"]][i % 3]
        budgets.save(
            con,
            Budget.build(
                f"per-user-{i:02d}", 2 + i, period, tz=ZONES[i % 4], where=scope, each="user", thresholds="80,100"
            ),
        )
        n["each"] += 1
    return n


def timed(fn, runs: int) -> dict:
    values = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        values.append(time.perf_counter() - t0)
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
        "runs": runs,
    }


def recent_groups(seed: int, n_groups: int):
    """bench_ledger_growth's probe groups (20k spans each, 512-span protobuf requests), with every
    span moved into the last hour so the loads land in the budgets' current periods."""
    from bench import bench_ingest
    from llmledger.telemetry.service import LOAD_GROUP_SPANS

    now = time.time_ns()
    t0, width = 1_760_000_000_000_000_000, 30 * 86400 * 1_000_000_000
    groups, cur, n = [], [], 0
    for i, g in enumerate(bench_ingest.requests_of(n_groups * LOAD_GROUP_SPANS + 5_000, seed=seed)):
        for _, _, spans in g:
            for s in spans:
                new = now - int(3600e9 * (1 - (s["start"] - t0) / width)) - 1_000_000_000
                s["end"] += new - s["start"]
                s["start"] = new
        cur.append((f"alerts-probe:{seed}:{now}:{i}", bench_ingest.pb_request(g)))
        n += sum(len(part[2]) for part in g)
        if n >= LOAD_GROUP_SPANS:
            groups.append(cur)
            cur, n = [], 0
    return groups[:n_groups]


def per_load(con, loads: int) -> list[dict]:
    from llmledger.alerts import evaluate, running
    from llmledger.telemetry import attribution, loader, otlp

    rules = attribution.load_rules(con)
    evaluate.check(con, datetime.now(UTC), deliver=False)  # the full check the evaluator starts with
    out = []
    for k, group in enumerate(recent_groups(seed=int(time.time()) % 100_000, n_groups=loads)):
        prepared = loader.prepare(
            [loader.Batch(otlp.decode_protobuf(body), bid, "bench") for bid, body in group], rules
        )
        t0 = time.perf_counter()
        spans = loader.commit_prepared(con, [prepared]).spans_new
        load_s = time.perf_counter() - t0
        from llmledger.alerts import reads

        t0 = time.perf_counter()
        # As the background evaluator runs it: explanations are left to their own thread.
        result = evaluate.check(con, datetime.now(UTC), deliver=False, incremental=True, explain=False)
        check_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        reads.source(con)  # the Spend page's memo catches up (its next read would do it; not the check's)
        memo_s = time.perf_counter() - t0
        table, _ = reads.memo_of_active(con)
        out.append(
            {
                "spans": spans,
                "load_s": round(load_s, 3),
                "check_after_load_s": round(check_s, 3),
                "mode": result["mode"],
                "why_not_incremental": None if result["mode"] == "incremental" else running.last_reason.get(table),
                "evaluate_s": round(result["seconds"]["evaluate"], 3),
                "evaluate_cpu_s": round(result["cpu_seconds"]["evaluate"], 3),
                "record_s": round(result["seconds"]["record"], 3),
                "new_events": len(result["new_events"]),
                "memo_refresh_after_s": round(memo_s, 3),
            }
        )
        print(
            f"load {k}: {spans} spans committed in {load_s:.3f} s; {result['mode']} check after it {check_s:.3f} s "
            f"(evaluate {result['seconds']['evaluate']:.3f} s, {len(result['new_events'])} new events); "
            f"Spend memo refresh {memo_s:.3f} s"
        )
    return out


def main(argv: list[str] | None = None) -> dict:
    from llmledger.alerts import evaluate
    from llmledger.store.db import connect

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--loads", type=int, default=4)
    ap.add_argument("--db", type=Path, help="keep the built database here (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="skip the page's status with every forecast (minutes cold)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.duckdb"
        info = {"build_s": None}
        if not path.exists():
            from bench.bench_calls_queries import build  # the same 1M-call ledger as the Calls page bench

            info = build(path, args.calls)
        con = connect(path)
        n_calls = con.execute("SELECT count(*) FROM calls").fetchone()[0]
        counts = make_budgets(con)
        from llmledger.alerts import reads

        t0 = time.perf_counter()
        reads.source(con)  # the priced-calls memo the Spend page keeps too (built once per sheet)
        memo_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        first = evaluate.check(con, deliver=False)
        check_cold = time.perf_counter() - t0
        check_cold_cpu = first["cpu_seconds"]["total"]
        print(f"memo {memo_s:.2f} s; first check {check_cold:.2f} s ({len(first['new_events'])} events)")
        check_warm = timed(lambda: evaluate.check(con, deliver=False), args.runs)
        print(f"check (warm) median {check_warm['median_s']} s")
        no_fc = timed(lambda: evaluate.status(con, forecasts="none"), args.runs)
        print(f"status without forecasts median {no_fc['median_s']} s")
        status_cold, n_forecasts, status_warm = None, None, None
        if not args.quick:
            evaluate._cache.clear()
            t0 = time.perf_counter()
            statuses = evaluate.status(con, forecasts="all")
            status_cold = round(time.perf_counter() - t0, 3)
            n_forecasts = sum(1 for s in statuses if s.forecast is not None)
            status_warm = timed(lambda: evaluate.status(con, forecasts="all"), args.runs)
            print(
                f"status with all {n_forecasts} forecasts: cold {status_cold:.2f} s, warm {status_warm['median_s']} s"
            )
        loads = per_load(con, args.loads)
        con.close()

    extra = [ld["check_after_load_s"] for ld in loads]
    out = {
        "calls": n_calls,
        **info,
        "budgets": counts,
        "memo_build_s": round(memo_s, 3),
        "events_fired_first_check": len(first["new_events"]),
        "check_cold_s": round(check_cold, 3),
        "check_cold_cpu_s": round(check_cold_cpu, 3),
        "check_warm": check_warm,
        "status_without_forecasts": no_fc,
        "status_all_forecasts_cold_s": status_cold,
        "status_all_forecasts_warm": status_warm,
        "forecasts_in_status": n_forecasts,
        "loads": loads,
        "check_after_20k_span_load_median_s": round(statistics.median(extra), 3) if extra else None,
        "evaluate_after_20k_span_load_median_s": round(statistics.median([ld["evaluate_s"] for ld in loads]), 3)
        if loads
        else None,
        "evaluate_after_20k_span_load_incremental_median_s": round(
            statistics.median([ld["evaluate_s"] for ld in loads if ld["mode"] == "incremental"] or [float("nan")]), 3
        ),
        "evaluate_cpu_after_20k_span_load_incremental_median_s": round(
            statistics.median([ld["evaluate_cpu_s"] for ld in loads if ld["mode"] == "incremental"] or [float("nan")]),
            3,
        ),
        "loads_incremental": sum(ld["mode"] == "incremental" for ld in loads),
        "memo_refresh_after_20k_span_load_median_s": round(
            statistics.median([ld["memo_refresh_after_s"] for ld in loads]), 3
        )
        if loads
        else None,
        "load_20k_spans_median_s": round(statistics.median([ld["load_s"] for ld in loads]), 3) if loads else None,
        "target_check_s": 1.0,
        "target_extra_per_load_s": 0.05,
        "duckdb": duckdb.__version__,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load_average_1m": os.getloadavg()[0],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return out


if __name__ == "__main__":
    main()
