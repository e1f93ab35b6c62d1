"""OTLP/gRPC receiver under load: `serve-otlp` in its own process, several sender processes calling
TraceService/Export with 512-span protobuf batches of realistic GenAI traces, each over its own
channel (HTTP/2), as bench_receiver.py does for OTLP/HTTP (same traces, same phases).

    .venv/bin/python -m bench.bench_grpc [--senders 4] [--rate 21000] [--seconds 20]

Phase "paced": the senders together offer --rate spans/s (open loop), every acknowledgement latency
recorded (target: >= 20,000 spans/s with p99 < 50 ms). Phase "max": back to back (closed loop).
After each phase the server is stopped with SIGTERM (which loads everything spooled) and the spans
in DuckDB are counted. The harness (server, phases, figures) is bench_receiver.py's; this module
is the gRPC sender.

Writes bench/results/bench_grpc.json.
"""

from __future__ import annotations

import json
import time

from bench import bench_receiver
from bench.bench_receiver import BATCH, _templates, _unique

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def sender_main(args) -> None:
    """One sender process: prints a JSON document with its latencies."""
    import grpc

    templates = _templates(seed=100 + args.sender)
    bodies = [_unique(templates[k % len(templates)], args.sender, args.offset + k) for k in range(args.prepare)]
    channel = grpc.insecure_channel(f"127.0.0.1:{args.port}")
    export = channel.unary_unary(EXPORT)  # bytes in, bytes out: bodies are serialized up front, as for HTTP
    grpc.channel_ready_future(channel).result(timeout=30)
    interval = BATCH / args.rate if args.rate else 0.0
    while time.time() < args.start_at:
        time.sleep(0.001)
    t_start = time.perf_counter()
    deadline = t_start + args.seconds
    lat, errors, sent, spans = [], 0, 0, 0
    codes: dict[str, int] = {}
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        if interval:
            due = t_start + (sent + args.sender / max(1, args.senders)) * interval
            if due > now:
                time.sleep(due - now)
            if time.perf_counter() >= deadline:
                break
        body = (
            bodies[sent % len(bodies)]
            if sent < len(bodies)
            else _unique(templates[sent % len(templates)], args.sender, args.offset + sent)
        )
        t0 = time.perf_counter()
        try:
            export(body, timeout=30)
            ok = True
        except grpc.RpcError as exc:
            ok = False
            codes[exc.code().name] = codes.get(exc.code().name, 0) + 1
        lat.append(time.perf_counter() - t0)
        sent += 1
        if ok:
            spans += BATCH
        else:
            errors += 1
    elapsed = time.perf_counter() - t_start
    channel.close()
    print(
        json.dumps(
            {"sent": sent, "errors": errors, "codes": codes, "spans": spans, "elapsed": elapsed, "latencies": lat}
        )
    )


def main() -> None:
    bench_receiver.main("grpc", sender_main)


if __name__ == "__main__":
    main()
