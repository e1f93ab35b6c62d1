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

from bench import bench_receiver

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def sender_main(args) -> None:
    """One OTLP/gRPC sender process, over one channel (HTTP/2)."""
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{args.port}")
    export = channel.unary_unary(EXPORT)  # bytes in, bytes out: bodies are serialized up front, as for HTTP
    grpc.channel_ready_future(channel).result(timeout=30)

    def send(body: bytes) -> str | None:
        try:
            export(body, timeout=30)
            return None
        except grpc.RpcError as exc:
            return exc.code().name

    try:
        bench_receiver.run_sender(args, send)
    finally:
        channel.close()


def main() -> None:
    bench_receiver.main("grpc", sender_main)


if __name__ == "__main__":
    main()
