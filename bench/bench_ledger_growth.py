"""Loading into a growing ledger: does the per-load work stay flat as the tables grow?

    .venv/bin/python -m bench.bench_ledger_growth [--max-spans 2400000] [--step 400000]

Grows one ledger by bulk-importing bench_ingest's GenAI traffic (fresh ids each step). At the
empty start and after each step it loads probe groups the way the receiver's loader does
(20,000 spans per transaction, as 512-span export requests, through loader.prepare and
loader.commit_prepared) and times the commit, split into its parts. Each probe is new traffic
of the same shape (its own seed) and stays in the ledger (80k spans, small next to a step).

Writes bench/results/bench_ledger_growth.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from llmledger.telemetry.service import GROUP_SPANS  # the receiver loader's transaction size

RESULTS = Path(__file__).resolve().parent / "results"
PROBE_GROUPS = 4


def _timed(acc: dict, label: str, mod, name: str) -> None:
    fn = getattr(mod, name)

    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            acc[label] += time.perf_counter() - t0

    setattr(mod, name, wrapper)


def probe_batches(seed: int):
    from bench.bench_ingest import pb_request, requests_of
    from llmledger.telemetry import loader, otlp

    groups, cur, n = [], [], 0
    for i, g in enumerate(requests_of(PROBE_GROUPS * GROUP_SPANS + 5_000, seed=seed)):
        d = otlp.decode_protobuf(pb_request(g))
        cur.append(loader.Batch(d, f"probe:{seed}:{i}", "bench"))
        n += len(d.spans)
        if n >= GROUP_SPANS:
            groups.append(cur)
            cur, n = [], 0
    return groups[:PROBE_GROUPS]


def probe(con, groups, acc) -> dict:
    from llmledger.telemetry import attribution, loader

    rules = attribution.load_rules(con)
    prepared = [loader.prepare(g, rules) for g in groups]
    for k in list(acc):
        acc[k] = 0.0
    con.execute("CHECKPOINT")  # start from the same WAL state each time
    t0 = time.perf_counter()
    spans = 0
    for p in prepared:
        spans += loader.commit_prepared(con, [p]).spans_new
    dt = time.perf_counter() - t0
    n = len(prepared)
    return {"spans": spans, "seconds": round(dt, 3), "spans_per_s": round(spans / dt),
            "ms_per_group": {k: round(v / n * 1000, 1) for k, v in sorted(acc.items())},
            "ms_per_group_total": round(dt / n * 1000, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-spans", type=int, default=2_400_000)
    ap.add_argument("--step", type=int, default=400_000)
    args = ap.parse_args()

    from bench.bench_ingest import pb_request, requests_of
    from llmledger.pricing import hooks
    from llmledger.store.db import connect
    from llmledger.telemetry import attribution, conventions, ingest, loader

    acc: dict[str, float] = defaultdict(float)
    _timed(acc, "nested_duplicates", conventions, "drop_nested_duplicates")
    _timed(acc, "attribution", attribution, "resolve")
    _timed(acc, "pricing_hook", hooks, "after_load")
    _timed(acc, "insert_and_per_trace_work", loader, "_insert")

    tmp = Path(tempfile.mkdtemp(prefix="bench_growth_"))
    try:
        con = connect(tmp / "ledger.duckdb")
        points = []
        size, seed = 0, 1000
        while True:
            point = {"ledger_spans": size, **probe(con, probe_batches(seed=424242 + len(points)), acc)}
            points.append(point)
            print(json.dumps(point), flush=True)
            if size >= args.max_spans:
                break
            folder = tmp / "step"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            for i, g in enumerate(requests_of(args.step, seed=seed)):
                (folder / f"r{i:05d}.pb").write_bytes(pb_request(g))
            seed += 1
            t0 = time.perf_counter()
            r = ingest.ingest_paths(con, [folder])
            size += r.spans_new + point["spans"]
            print(f"ledger now {size} spans (step imported at {r.spans_new / (time.perf_counter() - t0):,.0f} spans/s)",
                  flush=True)
        con.close()
        doc = {"benchmark": "receiver-sized loads (20k spans per transaction) into a growing ledger",
               "cpu_count": os.cpu_count(), "probe_groups": PROBE_GROUPS, "group_spans": GROUP_SPANS,
               "points": points,
               "slowdown_at_largest": round(points[-1]["ms_per_group_total"] / points[0]["ms_per_group_total"], 2)}
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "bench_ledger_growth.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(json.dumps(doc, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
