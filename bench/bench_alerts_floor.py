"""What the budget check after a load cannot go below: the one cost definition's query itself.

    .venv/bin/python -m bench.bench_alerts_floor --db PATH [--runs 25]

Works on a copy of bench_alerts' ledger (build it first: `python -m bench.bench_alerts --db PATH
--quick`), so PATH is left as it was. It commits one 20k-span load (bench_alerts.recent_groups,
the receiver's loader path), then times, interleaved run by run:

- the query an incremental check prices the load's calls with (running_rows.ROWS_SQL over
  `pricing.engine.priced_calls_sql`, the product's one definition of actual cost), restricted to
  the calls of that load, and the same query when no call is newer than the watermark (its fixed
  cost: parsing, binding, planning and starting it in DuckDB);
- each through a relation (`cur.sql(...).to_arrow_table()`, which binds the statement twice) and
  through `execute` (`engine.query_arrow`, what the check uses);
- DuckDB's own account of one run (profiling: planner, optimizer, execution);
- the cheapest reads a check needs besides (the load watermark, the call count, the price token).

Writes bench/results/bench_alerts_floor.json. Medians in milliseconds, wall time; read them next to
bench_alerts_ab.json's stages (the same machine, close in time: wall times drift with the host).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "bench_alerts_floor.json"


def _ms(values: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(values) * 1000, 1),
        "min_ms": round(min(values) * 1000, 1),
        "runs": len(values),
    }


def _profile(cur, sql: str, params: list, work: Path) -> dict:
    """DuckDB's own timing of one run (milliseconds): binding and planning, optimizing, all of it."""
    out = work / "profile.json"
    cur.execute("PRAGMA enable_profiling='json'")
    cur.execute("SET profiling_mode='detailed'")
    cur.execute(f"SET profiling_output='{out}'")
    try:
        cur.execute(sql, params).fetchall()
    finally:
        cur.execute("PRAGMA disable_profiling")
    d = json.loads(out.read_text())

    def ms(section: str, key: str):
        v = d.get(section, {}).get(key)
        return None if v is None else round(v * 1000, 2)

    return {
        "planner_ms": ms("planner", "total_time"),
        "binding_ms": ms("planner", "binding_time"),
        "optimizer_ms": ms("optimizer", "total_time"),
        "query_total_ms": ms("query", "total_time"),
        "query_cpu_ms": ms("query", "cpu_time"),
    }


def main(argv: list[str] | None = None) -> dict:
    from bench.bench_alerts import recent_groups
    from llmledger.alerts import reads, running
    from llmledger.alerts.running_rows import ROW_COLUMNS, ROWS_SQL
    from llmledger.pricing.engine import priced_calls_sql, query_arrow
    from llmledger.store.db import connect
    from llmledger.telemetry import attribution, loader, otlp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=25)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    load_at_start = [round(x, 1) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="alerts-floor-") as tmp:
        work = Path(tmp)
        db = work / "ledger.duckdb"
        shutil.copyfile(args.db, db)
        con = connect(db)
        try:
            _, sheet = reads.memo_of_active(con)
            before = int(con.execute(running.MAX_SEQ_SQL).fetchall()[0][0])
            rules = attribution.load_rules(con)
            (group,) = recent_groups(seed=int(time.time()) % 100_000, n_groups=1)
            prepared = loader.prepare([loader.Batch(otlp.decode_protobuf(b), bid, "bench") for bid, b in group], rules)
            loaded = loader.commit_prepared(con, [prepared])
            after = int(con.execute(running.MAX_SEQ_SQL).fetchall()[0][0])
            calls = int(con.execute("SELECT count(*) FROM calls").fetchall()[0][0])
            cur = con.cursor()
            cols = ", ".join(ROW_COLUMNS)
            queries = {}
            for label, seq in (("this_load", before), ("no_new_calls", after)):
                priced, params = priced_calls_sql(sheet, calls_where=("c.load_seq > ?", [seq]))
                sql = ROWS_SQL.format(cols=cols, priced=priced)
                rows = query_arrow(cur, sql, params).num_rows
                rel, exe = [], []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        cur.sql(sql, params=params).to_arrow_table()
                    rel.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    query_arrow(cur, sql, params)
                    exe.append(time.perf_counter() - t0)
                queries[label] = {
                    "rows": rows,
                    "relation": _ms(rel),
                    "execute": _ms(exe),
                    "duckdb_profile": _profile(cur, sql, params, work),
                }
                print(label, json.dumps(queries[label]), flush=True)
            from llmledger.reads import spend_cache

            reads_ms = {}
            for name, sql, params in (
                ("select_1", "SELECT 1", []),
                ("load_watermark", running.MAX_SEQ_SQL, []),
                ("call_count", "SELECT count(*) FROM calls", []),
                ("price_token", spend_cache.PRICE_TOKEN_SQL, [spend_cache.SCHEMA, sheet, sheet, sheet]),
            ):
                values = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    cur.execute(sql, params).fetchall()
                    values.append(time.perf_counter() - t0)
                reads_ms[name] = _ms(values)
        finally:
            con.close()
    out = {
        "calls_after_load": calls,
        "spans_loaded": loaded.spans_new,
        "calls_in_load": queries["this_load"]["rows"],
        "cost_query": queries,
        "other_reads": reads_ms,
        "target_extra_per_load_ms": 50,
        "load_average_at_start": load_at_start,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "duckdb": __import__("duckdb").__version__,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "cost_query"}, indent=2))
    return out


if __name__ == "__main__":
    main()
