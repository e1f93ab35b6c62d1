"""Bulk file import: realistic GenAI traces as OTLP JSON Lines, .json files and .pb files, each
imported end to end with `ingest_paths` into a fresh DuckDB.

    .venv/bin/python -m bench.bench_ingest [--spans 200000] [--profile jsonl|pb|json]

Writes bench/results/bench_ingest.json. Target on the 2-core machine: >= 50,000 spans/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = [
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4o", "gpt-4o-2024-08-06"),
    ("anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022"),
    ("aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
]
FEATURES = ["support_triage", "search_answer", "summarise_ticket", "draft_reply", "classify_intent"]
TEAMS = ["growth", "support", "platform"]


def _resource(rnd: random.Random, i: int) -> dict:
    return {
        "service.name": f"svc-{i % 7}",
        "service.version": "1.4.2",
        "deployment.environment.name": "prod",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.38.0",
        "app.team": TEAMS[i % 3],
        "host.name": f"ip-10-0-{i % 50}-{i % 200}",
    }


def traces(n_spans: int, seed: int = 1):
    """Yield (resource, scope, spans) groups of realistic GenAI traces totalling n_spans spans.

    A trace: an agent/workflow root, 1-3 chat calls with usage, sometimes a tool span and the HTTP
    client span under a chat call (a wrapper that must not become a call).
    """
    rnd = random.Random(seed)
    made = 0
    t0 = 1_760_000_000_000_000_000
    g = 0
    while made < n_spans:
        g += 1
        resource = _resource(rnd, g)
        spans = []
        for _ in range(rnd.randint(20, 60)):
            tid = f"{rnd.getrandbits(128) | 1:032x}"
            root = f"{rnd.getrandbits(64) | 1:016x}"
            start = t0 + rnd.randint(0, 30 * 86400) * 1_000_000_000
            feature = rnd.choice(FEATURES)
            spans.append(
                dict(
                    trace_id=tid,
                    span_id=root,
                    parent=None,
                    name=f"invoke_agent {feature}",
                    kind=1,
                    start=start,
                    end=start + 3_000_000_000,
                    status=0,
                    attrs={
                        "gen_ai.operation.name": "invoke_agent",
                        "gen_ai.agent.name": feature,
                        "app.feature": feature,
                        "user.id": f"user-{rnd.randint(1, 500)}",
                        "session.id": f"sess-{rnd.randint(1, 5000)}",
                    },
                )
            )
            for c in range(rnd.randint(1, 3)):
                provider, req, resp = rnd.choice(MODELS)
                sid = f"{rnd.getrandbits(64) | 1:016x}"
                inp, out = rnd.randint(50, 4000), rnd.randint(5, 800)
                attrs = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": provider,
                    "gen_ai.request.model": req,
                    "gen_ai.response.model": resp,
                    "gen_ai.response.id": f"chatcmpl-{rnd.getrandbits(48):x}",
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.request.max_tokens": 1024,
                    "gen_ai.response.finish_reasons": ["stop"],
                    "gen_ai.usage.input_tokens": inp,
                    "gen_ai.usage.output_tokens": out,
                    "server.address": "api.example.com",
                    "server.port": 443,
                }
                if rnd.random() < 0.3:
                    attrs["gen_ai.usage.cache_read.input_tokens"] = inp // 2
                s0 = start + c * 900_000_000
                spans.append(
                    dict(
                        trace_id=tid,
                        span_id=sid,
                        parent=root,
                        name=f"chat {req}",
                        kind=3,
                        start=s0,
                        end=s0 + rnd.randint(200, 900) * 1_000_000,
                        status=2 if rnd.random() < 0.02 else 0,
                        attrs=attrs,
                    )
                )
                if rnd.random() < 0.3:
                    spans.append(
                        dict(
                            trace_id=tid,
                            span_id=f"{rnd.getrandbits(64) | 1:016x}",
                            parent=sid,
                            name="POST",
                            kind=3,
                            start=s0 + 1000,
                            end=s0 + 100_000_000,
                            status=0,
                            attrs={
                                "http.request.method": "POST",
                                "url.full": "https://api.example.com/v1/chat",
                                "http.response.status_code": 200,
                            },
                        )
                    )
            if rnd.random() < 0.3:
                spans.append(
                    dict(
                        trace_id=tid,
                        span_id=f"{rnd.getrandbits(64) | 1:016x}",
                        parent=root,
                        name="execute_tool lookup",
                        kind=1,
                        start=start + 10,
                        end=start + 50_000_000,
                        status=0,
                        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
                    )
                )
        spans = spans[: n_spans - made]
        made += len(spans)
        yield resource, ("opentelemetry.instrumentation.openai_v2", "2.3b0"), spans


def _any_json(v):
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_any_json(x) for x in v]}}
    return {"stringValue": str(v)}


def _kvs_json(d: dict) -> list:
    return [{"key": k, "value": _any_json(v)} for k, v in d.items()]


def json_request(groups) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _kvs_json(res)},
                "scopeSpans": [
                    {
                        "scope": {"name": scope[0], "version": scope[1]},
                        "spans": [
                            {
                                "traceId": s["trace_id"],
                                "spanId": s["span_id"],
                                **({"parentSpanId": s["parent"]} if s["parent"] else {}),
                                "name": s["name"],
                                "kind": s["kind"],
                                "startTimeUnixNano": str(s["start"]),
                                "endTimeUnixNano": str(s["end"]),
                                "attributes": _kvs_json(s["attrs"]),
                                "status": {"code": s["status"]},
                            }
                            for s in spans
                        ],
                    }
                ],
            }
            for res, scope, spans in groups
        ]
    }


def _any_pb(av, v):
    if isinstance(v, bool):
        av.bool_value = v
    elif isinstance(v, int):
        av.int_value = v
    elif isinstance(v, float):
        av.double_value = v
    elif isinstance(v, list):
        for x in v:
            _any_pb(av.array_value.values.add(), x)
    else:
        av.string_value = str(v)


def pb_request(groups) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    for res, scope, spans in groups:
        rs = req.resource_spans.add()
        for k, v in res.items():
            kv = rs.resource.attributes.add()
            kv.key = k
            _any_pb(kv.value, v)
        ss = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = scope
        for s in spans:
            p = ss.spans.add()
            p.trace_id, p.span_id = bytes.fromhex(s["trace_id"]), bytes.fromhex(s["span_id"])
            if s["parent"]:
                p.parent_span_id = bytes.fromhex(s["parent"])
            p.name, p.kind = s["name"], s["kind"]
            p.start_time_unix_nano, p.end_time_unix_nano = s["start"], s["end"]
            p.status.code = s["status"]
            for k, v in s["attrs"].items():
                kv = p.attributes.add()
                kv.key = k
                _any_pb(kv.value, v)
    return req.SerializeToString()


def requests_of(n_spans: int, per_request: int = 512, seed: int = 1):
    """Split the traces into export requests of exactly `per_request` spans (the last may be
    smaller), as an SDK's batch processor does: a trace may straddle two requests."""
    pending, size = [], 0
    for res, scope, spans in traces(n_spans, seed):
        i = 0
        while i < len(spans):
            take = spans[i : i + per_request - size]
            pending.append((res, scope, take))
            size += len(take)
            i += len(take)
            if size == per_request:
                yield pending
                pending, size = [], 0
    if pending:
        yield pending


def write_inputs(root: Path, n_spans: int) -> dict[str, Path]:
    paths = {"jsonl": root / "export.jsonl", "json": root / "json", "pb": root / "pb"}
    paths["json"].mkdir()
    paths["pb"].mkdir()
    with open(paths["jsonl"], "w") as out:
        for i, groups in enumerate(requests_of(n_spans)):
            doc = json_request(groups)
            out.write(json.dumps(doc, separators=(",", ":")) + "\n")
            (paths["json"] / f"r{i:05d}.json").write_text(json.dumps(doc))
            (paths["pb"] / f"r{i:05d}.pb").write_bytes(pb_request(groups))
    return paths


def run_one(path: Path, db: Path) -> dict:
    from llmledger.store.db import connect
    from llmledger.telemetry.ingest import ingest_paths

    con = connect(db)
    c0 = os.times()
    t0 = time.perf_counter()
    r = ingest_paths(con, [path])
    dt = time.perf_counter() - t0
    c1 = os.times()
    # CPU seconds of this process and its (finished) worker processes: a figure that does not
    # depend on how busy the shared machine was. Ideal throughput on N free cores ~ N x spans/cpu-s.
    main_cpu = (c1.user - c0.user) + (c1.system - c0.system)
    worker_cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    cpu = main_cpu + worker_cpu
    calls = con.execute("SELECT count(*) FROM llm_calls").fetchall()[0][0]
    con.close()
    n = max(1, r.spans_new)
    return {
        "spans": r.spans_new,
        "calls": calls,
        "rejects": len(r.rejects),
        "seconds": round(dt, 3),
        "spans_per_s": round(r.spans_new / dt),
        "cpu_seconds": round(cpu, 2),
        "spans_per_cpu_s": round(r.spans_new / cpu) if cpu else None,
        # Where the CPU went: this process (reading, DuckDB insert and commit) and the worker
        # processes (decoding and convention mapping). 50k spans/s on 2 cores needs < 40 in all.
        "main_cpu_us_per_span": round(main_cpu / n * 1e6, 1),
        "worker_cpu_us_per_span": round(worker_cpu / n * 1e6, 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--profile", choices=["jsonl", "json", "pb"])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        t0 = time.perf_counter()
        paths = write_inputs(tmp, args.spans)
        gen_s = time.perf_counter() - t0
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            print(run_one(paths[args.profile], tmp / "p.duckdb"))
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
            return
        results = {}
        for kind in ("jsonl", "json", "pb"):
            results[kind] = run_one(paths[kind], tmp / f"{kind}.duckdb")
            print(kind, results[kind], flush=True)
        doc = {
            "benchmark": "bulk file import (ingest_paths into a fresh DuckDB)",
            "spans": args.spans,
            "cpu_count": os.cpu_count(),
            "input_generation_s": round(gen_s, 1),
            "target_spans_per_s": 50_000,
            "results": results,
            "input_bytes": {
                k: sum(f.stat().st_size for f in ([p] if p.is_file() else p.iterdir())) for k, p in paths.items()
            },
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "bench_ingest.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(json.dumps(doc, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
