"""How fast the Calls page's queries run over 1,000,000 calls.

Builds a DuckDB file with the real schema (store.db.connect runs every migration), fills `calls`
and one root span per trace with SQL (generate_series + random, seeded), prices it under the
default sheet when the pricing package is present, then times each query the page runs (median of
several runs on a cursor, as the page does). Writes bench/results/calls_queries.json.

    .venv/bin/python -m bench.bench_calls_queries [--calls 1000000] [--runs 7] [--db PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import duckdb

from llmledger.reads import buckets as rb
from llmledger.reads import calls as rc
from llmledger.reads import filters as rf
from llmledger.store.db import connect

RESULTS = Path(__file__).resolve().parent / "results" / "calls_queries.json"

FILL_CALLS_SQL = """
INSERT INTO calls (trace_id, span_id, parent_span_id, start_time, duration_ms, provider, operation,
                   request_model, response_model, input_tokens, output_tokens, cache_read_tokens,
                   cache_write_tokens, reasoning_tokens, usage_source, convention, status,
                   service, environment, feature, team, user_id, session_id, is_demo)
WITH r AS (
    SELECT i,
           i // 2 AS trace_no,
           random() AS r_time, random() AS r_feat, random() AS r_model, random() AS r_env,
           random() AS r_user, random() AS r_in, random() AS r_out, random() AS r_miss,
           random() AS r_err, random() AS r_dur
    FROM generate_series(1, ?) t(i)
),
m AS (
    SELECT * FROM (VALUES
        (0, 'gpt-4o-mini', 'openai'), (1, 'gpt-4o', 'openai'), (2, 'gpt-4.1-mini', 'openai'),
        (3, 'o3-mini', 'openai'), (4, 'claude-3-5-haiku-20241022', 'anthropic'),
        (5, 'claude-sonnet-4-20250514', 'anthropic'), (6, 'claude-3-5-sonnet-20241022', 'anthropic'),
        (7, 'gemini-2.0-flash', 'gcp.gemini'), (8, 'gemini-2.5-flash', 'gcp.gemini'),
        (9, 'gemini-1.5-pro', 'gcp.gemini'), (10, 'acme-llama-3.1-8b-ft', 'openai'),
        (11, 'text-embedding-3-small', 'openai')
    ) AS v(k, model, provider)
)
SELECT md5(CAST(trace_no AS VARCHAR)),
       substr(md5(CAST(i AS VARCHAR) || 's'), 1, 16),
       substr(md5(CAST(trace_no AS VARCHAR) || 'root'), 1, 16),
       now() - to_microseconds(CAST(r_time * 90 * 86400e6 AS BIGINT)),
       200 + r_dur * r_dur * 20000,
       m.provider, 'chat', m.model, m.model,
       CASE WHEN r_miss < 0.05 THEN NULL ELSE CAST(exp(r_in * 4) * 150 AS BIGINT) END,
       CASE WHEN r_miss < 0.05 THEN NULL ELSE CAST(exp(r_out * 3) * 30 AS BIGINT) END,
       NULL, NULL, NULL,
       CASE WHEN r_miss < 0.05 THEN 'missing' ELSE 'reported' END,
       ['otel_genai', 'openinference', 'openllmetry', 'vercel_ai', 'litellm'][1 + CAST(floor(r_feat * 5) AS INT)],
       CASE WHEN r_err < 0.015 THEN 'error' ELSE 'ok' END,
       'svc-' || CAST(floor(r_feat * 12) AS INT),
       CASE WHEN r_env < 0.85 THEN 'production' WHEN r_env < 0.97 THEN 'staging' ELSE 'development' END,
       CASE WHEN r_feat > 0.98 THEN NULL ELSE 'feature-' || CAST(floor(r_feat * 20) AS INT) END,
       'team-' || CAST(floor(r_feat * 6) AS INT),
       'user-' || CAST(floor(r_user * r_user * 2000) AS INT),
       'session-' || CAST(trace_no // 3 AS VARCHAR),
       false
FROM r JOIN m ON m.k = CAST(floor(r_model * 12) AS INT)
"""

FILL_SPANS_SQL = """
INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, start_time, end_time, duration_ms,
                   status_code, service, scope_name, scope_version, resource, attributes, is_demo)
SELECT trace_id, parent_span_id, NULL, 'workflow', 'INTERNAL', min(start_time) - INTERVAL 5 MILLISECOND,
       max(start_time + to_microseconds(CAST(duration_ms * 1000 AS BIGINT))) + INTERVAL 5 MILLISECOND,
       NULL, 'UNSET', any_value(service), 'bench', '1', '{}', '{}', false
FROM calls GROUP BY trace_id, parent_span_id
"""


def build(path: Path, n_calls: int) -> dict:
    t0 = time.perf_counter()
    con = connect(path)
    con.execute("SELECT setseed(0.42)")
    con.execute(FILL_CALLS_SQL, [n_calls])
    con.execute(FILL_SPANS_SQL)
    priced = False
    try:
        from llmledger.pricing.matching import refresh_resolutions
        from llmledger.pricing.sheets import ensure_default_sheet

        ensure_default_sheet(con)
        refresh_resolutions(con)
        priced = True
    except ImportError:
        pass
    con.execute("CHECKPOINT")
    info = {"build_s": round(time.perf_counter() - t0, 2), "priced": priced}
    con.close()
    return info


def page_queries(con) -> dict:
    """The queries one Calls page render runs (default view, then a filtered one)."""
    lo, hi = rc.date_bounds(con)
    everything = rf.CallFilter.build(lo, hi)
    values = rc.dimension_values(con)
    narrow = rf.CallFilter.build(
        hi - timedelta(days=29), hi, {"feature": values["feature"][:2], "environment": ["production"]}
    )
    trace_id = rc.top_traces(con, everything, "tokens", 1)["trace_id"][0]
    bucket = rb.bucket_for(lo, hi)
    return {
        "call_count": lambda: rc.call_count(con),
        "call_count_demo": lambda: rc.call_count(con, True),
        "date_bounds": lambda: rc.date_bounds(con),
        "dimension_values": lambda: rc.dimension_values(con),
        "summary": lambda: rc.summary(con, everything),
        "timeseries_by_feature": lambda: rc.timeseries(con, everything, "feature", bucket),
        "timeseries_by_model": lambda: rc.timeseries(con, everything, "model", bucket),
        "timeseries_by_user": lambda: rc.timeseries(con, everything, "user", bucket),
        "breakdown_by_feature": lambda: rc.breakdown(con, everything, "feature"),
        "top_traces_tokens": lambda: rc.top_traces(con, everything, "tokens"),
        "top_traces_latency": lambda: rc.top_traces(con, everything, "latency"),
        "trace_spans": lambda: rc.trace_spans(con, trace_id),
        "data_quality_no_cost": lambda: rc.data_quality(con, everything, False),
        "filtered_summary": lambda: rc.summary(con, narrow),
        "filtered_timeseries": lambda: rc.timeseries(con, narrow, "model", "day"),
        "filtered_top_traces": lambda: rc.top_traces(con, narrow, "tokens"),
        # The same aggregates with cost_usd, which only the pricing view computes (per call).
        "priced:summary": lambda: rc.summary(con, everything, True),
        "priced:timeseries_by_feature": lambda: rc.timeseries(con, everything, "feature", bucket, 8, True),
        "priced:breakdown_by_feature": lambda: rc.breakdown(con, everything, "feature", 200, True),
        "priced:top_traces_cost": lambda: rc.top_traces(con, everything, "cost"),
        "priced:data_quality": lambda: rc.data_quality(con, everything, True),
        "priced:unpriced_models": lambda: rc.unpriced_models(con, everything),
        "priced:filtered_summary": lambda: rc.summary(con, narrow, True),
        "view_scan:sum_cost_usd": lambda: con.execute("SELECT sum(cost_usd) FROM llm_calls").fetchall(),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--db", type=Path, help="keep the built database here (default: a temp dir)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.duckdb"
        info = build(path, args.calls) if not path.exists() else {"build_s": None, "priced": None}
        con = connect(path)
        cur = con.cursor()
        n = rc.call_count(cur)
        results = {}
        for name, fn in page_queries(cur).items():
            fn()  # warm: first run reads the file into DuckDB's buffer
            runs = []
            for _ in range(args.runs):
                t = time.perf_counter()
                fn()
                runs.append((time.perf_counter() - t) * 1000)
            results[name] = {"median_ms": round(statistics.median(runs), 1), "max_ms": round(max(runs), 1)}
            print(f"{name:24s} median {results[name]['median_ms']:8.1f} ms")
        priced = int(cur.execute("SELECT count(cost_usd) FROM llm_calls").fetchone()[0])
        con.close()

    medians = [r["median_ms"] for k, r in results.items() if ":" not in k]
    priced_medians = [r["median_ms"] for k, r in results.items() if k.startswith("priced:")]
    out = {
        "calls": n,
        "priced_calls": priced,
        "runs_per_query": args.runs,
        **info,
        "duckdb": duckdb.__version__,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "queries": results,
        "slowest_median_ms": max(medians),
        "median_of_medians_ms": round(statistics.median(medians), 1),
        "target_median_ms": 300,
        "all_under_target": all(m < 300 for m in medians),
        "priced_slowest_median_ms": max(priced_medians),
        "priced_all_under_target": all(m < 300 for m in priced_medians),
        "load_average_1m": os.getloadavg()[0],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}: slowest median {out['slowest_median_ms']} ms")
    return out


if __name__ == "__main__":
    main()
