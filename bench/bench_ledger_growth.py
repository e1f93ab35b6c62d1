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

from llmledger.telemetry.service import LOAD_GROUP_SPANS as GROUP_SPANS  # the receiver loader's transaction size

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
    """Receiver-sized groups of protobuf request bodies (decoded inside the timed probe)."""
    from bench.bench_ingest import pb_request, requests_of

    groups, cur, n = [], [], 0
    for i, g in enumerate(requests_of(PROBE_GROUPS * GROUP_SPANS + 5_000, seed=seed)):
        cur.append((f"probe:{seed}:{i}", pb_request(g)))
        n += sum(len(part[2]) for part in g)
        if n >= GROUP_SPANS:
            groups.append(cur)
            cur, n = [], 0
    return groups[:PROBE_GROUPS]


def probe(con, groups, acc) -> dict:
    from llmledger.telemetry import attribution, loader, otlp

    rules = attribution.load_rules(con)
    # What the loader's worker process does for a group: decode and prepare (timed apart; in the
    # receiver it runs in parallel with the previous group's commit).
    t0 = time.perf_counter()
    with loader.gc_paused():
        prepared = [
            loader.prepare([loader.Batch(otlp.decode_protobuf(body), bid, "bench") for bid, body in g], rules)
            for g in groups
        ]
    prepare_s = time.perf_counter() - t0
    for k in list(acc):
        acc[k] = 0.0
    con.execute("CHECKPOINT")  # start from the same WAL state each time
    t0 = time.perf_counter()
    spans = 0
    for p in prepared:
        spans += loader.commit_prepared(con, [p]).spans_new
    dt = time.perf_counter() - t0
    # What the commits deferred (a larger checkpoint_threshold defers more), paid here, so the
    # amortised figure below compares settings honestly.
    t1 = time.perf_counter()
    con.execute("CHECKPOINT")
    ckpt = time.perf_counter() - t1
    n = len(prepared)
    return {
        "spans": spans,
        "seconds": round(dt, 3),
        "spans_per_s": round(spans / dt),
        "ms_per_group": {k: round(v / n * 1000, 1) for k, v in sorted(acc.items())},
        "ms_per_group_total": round(dt / n * 1000, 1),
        "ms_per_group_with_checkpoint": round((dt + ckpt) / n * 1000, 1),
        "decode_prepare_ms_per_group": round(prepare_s / n * 1000, 1),
        # The loader overlaps group N's commit with group N+1's decode and prepare.
        "end_to_end_spans_per_s_pipelined": round(spans / max(dt + ckpt, prepare_s)),
        "end_to_end_spans_per_s_serial": round(spans / (dt + ckpt + prepare_s)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-spans", type=int, default=2_400_000)
    ap.add_argument("--step", type=int, default=400_000)
    ap.add_argument("--checkpoint-threshold", help="DuckDB checkpoint_threshold for this run (default: the ledger's)")
    ap.add_argument("--out", default="bench_ledger_growth.json")
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
        if args.checkpoint_threshold:
            con.execute(f"SET checkpoint_threshold = '{args.checkpoint_threshold}'")
        threshold = con.execute("SELECT current_setting('checkpoint_threshold')").fetchall()[0][0]
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
            print(
                f"ledger now {size} spans (step imported at {r.spans_new / (time.perf_counter() - t0):,.0f} spans/s)",
                flush=True,
            )
        con.close()
        doc = {
            "benchmark": "receiver-sized loads (20k spans per transaction) into a growing ledger",
            "cpu_count": os.cpu_count(),
            "probe_groups": PROBE_GROUPS,
            "group_spans": GROUP_SPANS,
            "checkpoint_threshold": threshold,
            "points": points,
            "slowdown_at_largest": round(points[-1]["ms_per_group_total"] / points[0]["ms_per_group_total"], 2),
            "slowdown_at_largest_with_checkpoint": round(
                points[-1]["ms_per_group_with_checkpoint"] / points[0]["ms_per_group_with_checkpoint"], 2
            ),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / args.out).write_text(json.dumps(doc, indent=2) + "\n")
        print(json.dumps(doc, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
