"""Time every query the Spend page runs, over 1,000,000 calls priced by the real `llm_calls` view.

The page reads the sheet's memo of the priced calls (reads/spend_cache.py); its full rebuild,
the no-change check and an incremental refresh after a live batch of 500 calls are timed too.
The calls are synthesised straight into the `calls` table with SQL (90 days, 8 models of which one
has no price, 12 features, 6 teams, 5,000 users, ~1% errors, ~4% without usage, 10% with a
reported cost): generating a million calls through the OTel SDK would take an hour and measure the
loader, not the page. Each query runs `--repeat` times after one warm-up; the median, p90 and max
(milliseconds) go to bench/results/spend_page.json. The target is a median under 300 ms.

    .venv/bin/python bench/bench_spend_page.py [--calls 1000000] [--repeat 7] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from llmledger.pricing import sheets
from llmledger.reads import buckets as rb
from llmledger.reads import calls as rc
from llmledger.reads import export as rx
from llmledger.reads import filters as rf
from llmledger.reads import spend as rs
from llmledger.reads import spend_cache
from llmledger.store.db import connect
from llmledger.telemetry import loader
from llmledger.telemetry.otlp import decode_json

RESULTS = Path(__file__).resolve().parent / "results" / "spend_page.json"
MODELS = [  # (request model, provider, weight)
    ("gpt-4o-mini", "openai", 30),
    ("gpt-4o", "openai", 15),
    ("gpt-4.1-mini", "openai", 10),
    ("claude-3-5-haiku-20241022", "anthropic", 12),
    ("claude-sonnet-4-20250514", "anthropic", 10),
    ("gemini-2.0-flash", "gcp.gemini", 12),
    ("text-embedding-3-small", "openai", 9),
    ("acme-private-llama-ft", "openai", 2),
]

SYNTH_SQL = """
INSERT INTO calls (trace_id, span_id, parent_span_id, start_time, duration_ms, provider, operation,
    request_model, response_model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
    reasoning_tokens, usage_source, convention, status, reported_cost_usd, input_text, output_text,
    service, environment, feature, team, user_id, session_id, is_demo)
WITH m AS (SELECT * FROM (VALUES {models}) t(slot, model, provider)),
r AS (
    SELECT i,
           hash(i) AS h,
           (hash(i * 7 + 1) % 1000) / 1000.0 AS u1,
           (hash(i * 13 + 2) % 1000) / 1000.0 AS u2
    FROM range(?) t(i)
)
SELECT lpad(to_hex(i // 3), 32, '0'), lpad(to_hex(i), 16, '0'), NULL,
       ?::TIMESTAMPTZ - to_milliseconds(CAST((hash(i * 3) % 7776000000) AS BIGINT)),
       200 + (h % 4000), m.provider, 'chat', m.model, m.model,
       CASE WHEN u1 < 0.04 THEN NULL ELSE 200 + CAST(h % 6000 AS BIGINT) END,
       CASE WHEN u1 < 0.04 THEN NULL ELSE 20 + CAST((h // 7) % 900 AS BIGINT) END,
       CASE WHEN u1 < 0.04 THEN NULL WHEN u2 < 0.3 THEN 128 ELSE 0 END, NULL, NULL,
       CASE WHEN u1 < 0.04 THEN 'missing' ELSE 'reported' END, 'otel-genai',
       CASE WHEN u2 > 0.99 THEN 'error' ELSE 'ok' END,
       CASE WHEN u2 BETWEEN 0.5 AND 0.6 THEN CAST((h % 5000) / 1000000.0 AS DECIMAL(18, 9)) END,
       NULL, NULL,
       'svc-' || (h % 4), 'prod', 'feature-' || (hash(i // 3) % 12), 'team-' || (hash(i // 3) % 6),
       'user-' || (hash(i // 3 + 99) % 5000), 'sess-' || (i // 30), false
FROM r JOIN m ON m.slot = CAST(floor(r.u2 * 100) AS INTEGER) % {n_slots}
"""


def synthesise(con: duckdb.DuckDBPyConnection, n: int, now: datetime) -> None:
    slots = []
    for model, provider, weight in MODELS:
        slots += [(model, provider)] * weight
    values = ", ".join(f"({k}, '{m}', '{p}')" for k, (m, p) in enumerate(slots))
    con.execute(SYNTH_SQL.format(models=values, n_slots=len(slots)), [n, now])


def live_batch(now: datetime, n: int) -> dict:
    """OTLP JSON of `n` GenAI calls in the last minute (what a live receiver batch looks like)."""

    def attr(k, v):
        return {"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}

    spans = []
    base = int(now.timestamp()) << 20  # fresh ids on every run
    for i in range(n):
        start = int((now - timedelta(seconds=60 - i * 0.1)).timestamp() * 1e9)
        spans.append(
            {
                "traceId": f"{base + i:032x}",
                "spanId": f"{base + i:016x}",
                "name": "chat gpt-4o-mini",
                "kind": 3,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + 400_000_000),
                "status": {"code": 1},
                "attributes": [
                    attr("gen_ai.operation.name", "chat"),
                    attr("gen_ai.request.model", "gpt-4o-mini"),
                    attr("gen_ai.response.model", "gpt-4o-mini"),
                    attr("gen_ai.provider.name", "openai"),
                    attr("gen_ai.usage.input_tokens", 900),
                    attr("gen_ai.usage.output_tokens", 120),
                    attr("feature", "feature-1"),
                ],
            }
        )
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", "svc-live")]},
                "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}],
            }
        ]
    }


def timed(fn, repeat: int) -> dict:
    fn()  # warm-up (plans, OS cache)
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    runs.sort()
    return {
        "median_ms": round(statistics.median(runs), 1),
        "p90_ms": round(runs[int(0.9 * (len(runs) - 1))], 1),
        "max_ms": round(runs[-1], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--db", help="DuckDB file (default: a temporary one)")
    args = ap.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    tmp = tempfile.TemporaryDirectory()
    path = Path(args.db) if args.db else Path(tmp.name) / "bench.duckdb"
    con = connect(path)
    t = time.perf_counter()
    if con.execute("SELECT count(*) FROM calls").fetchone()[0] < args.calls:
        synthesise(con, args.calls, now)
    sheets.set_active_sheet(con, "litellm")  # resolves the model names once
    setup_s = time.perf_counter() - t
    con.execute(spend_cache.STATE_DDL)
    con.execute(f"DELETE FROM {spend_cache.STATE}")  # time a full rebuild, as on a sheet's first use
    memo = {"rebuild_s": round(spend_cache.refresh(con, "litellm")["seconds"], 2)}
    memo["fresh_check_ms"] = timed(lambda: spend_cache.refresh(con, "litellm"), args.repeat)["median_ms"]
    loader.load(con, decode_json(json.dumps(live_batch(now, 500))), f"bench-live-{now:%H%M%S}", "bench")
    r = spend_cache.refresh(con, "litellm")
    memo.update(after_live_batch_of_500_calls=r["action"], incremental_s=round(r["seconds"], 3))
    print("memo", memo)
    cur = con.cursor()
    n = cur.execute("SELECT count(*) FROM llm_calls").fetchone()[0]
    priced = cur.execute("SELECT count(cost_usd) FROM llm_calls").fetchone()[0]

    today = now.date()
    filters = {
        "all 90 days": rf.CallFilter.build(today - timedelta(days=89), today),
        "last 30 days": rf.CallFilter.build(today - timedelta(days=29), today),
        "30 days, one team": rf.CallFilter.build(today - timedelta(days=29), today, {"team": ["team-1"]}),
    }
    as_of = rs.default_as_of(cur)
    results = {}
    for label, f in filters.items():
        bucket = rb.bucket_for(f.start, f.end)
        page = {
            "spend_totals": lambda f=f: rs.spend_totals(cur, f),
            "month_to_date": lambda f=f: rs.month_to_date(cur, f, as_of),
            "spend_series(feature)": lambda f=f, b=bucket: rs.spend_series(cur, f, "feature", b, 8),
            "spend_breakdown(feature)": lambda f=f: rs.spend_breakdown(cur, f, "feature", 8),
            "spend_breakdown(user)": lambda f=f: rs.spend_breakdown(cur, f, "user", 8),
            "top_traces(cost)": lambda f=f: rc.top_traces(cur, f, "cost"),
            "top_calls": lambda f=f: rs.top_calls(cur, f),
            "reported_vs_computed": lambda f=f: rs.reported_vs_computed(cur, f),
            "unpriced_calls": lambda f=f: rs.unpriced_calls(cur, f),
            "export_count": lambda f=f: rx.export_count(cur, f),
        }
        results[label] = {name: timed(fn, args.repeat) for name, fn in page.items()}
        print(label)
        for name, r in results[label].items():
            print(f"  {name:28s} median {r['median_ms']:8.1f} ms  p90 {r['p90_ms']:8.1f} ms")
    worst = max(r["median_ms"] for group in results.values() for r in group.values())
    out = {
        "benchmark": "spend page queries",
        "calls": n,
        "priced_calls": priced,
        "repeat": args.repeat,
        "setup_s": round(setup_s, 1),
        "memo": memo,
        "target_median_ms": 300,
        "worst_median_ms": worst,
        "meets_target": worst < 300,
        "date": date.today().isoformat(),
        "duckdb": duckdb.__version__,
        "python": platform.python_version(),
        "cpus": __import__("os").cpu_count(),
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print(f"worst median {worst} ms -> {RESULTS}")
    con.close()


if __name__ == "__main__":
    main()
