"""OTLP/gRPC receiver: TraceService/Export and LogsService/Export on 127.0.0.1:4317.

The services are the ones opentelemetry-proto ships (their names and messages come from its
`trace_service_pb2`/`logs_service_pb2` descriptors and `*_pb2_grpc` servicers); requests are taken
as raw bytes, so a malformed message is ours to answer (INVALID_ARGUMENT with the reason, rather
than grpc's own INTERNAL) and the body that is checked is the body spooled. The guarantees are
the HTTP receiver's, through the same code (intake.check, the same sink):
- OK only after the request is fsynced in the spool; loads are idempotent;
- gzip: grpc decompresses a `grpc-encoding: gzip` message itself;
- the bearer token (LLMLEDGER_OTLP_TOKEN) from the `authorization` metadata, else UNAUTHENTICATED;
- partial success with the reasons of what was rejected;
- under pressure UNAVAILABLE (spool full, shutting down) or RESOURCE_EXHAUSTED (memory budget, too
  many calls at once), with a RetryInfo delay: exporters retry both;
- the same size limit: a message over LLMLEDGER_OTLP_MAX_BYTES is RESOURCE_EXHAUSTED (grpc's
  max_receive_message_length, checked after decompression too).
"""

from __future__ import annotations

import hmac
import logging
from concurrent.futures import ThreadPoolExecutor

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from llmledger.errors import LedgerError, PayloadError
from llmledger.telemetry import intake, otlp
from llmledger.telemetry.receiver import INFLIGHT_BYTES, MAX_CONNECTIONS, Budget, Counters, Sink

log = logging.getLogger(__name__)

#: Threads serving calls (each holds at most one request body).
WORKERS = 8
#: Seconds a call waits for its share of the in-flight memory budget before RESOURCE_EXHAUSTED.
BUDGET_WAIT = 2.0
#: The delay suggested to a client told to retry (google.rpc.RetryInfo).
RETRY_SECONDS = 2

_SERVICES = {
    "traces": trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"],
    "logs": logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"],
}


def _retry_metadata(seconds: int = RETRY_SECONDS) -> tuple:
    from google.rpc import error_details_pb2

    info = error_details_pb2.RetryInfo()
    info.retry_delay.seconds = seconds
    return (("google.rpc.retryinfo-bin", info.SerializeToString()),)


class _Servicer(trace_service_pb2_grpc.TraceServiceServicer, logs_service_pb2_grpc.LogsServiceServicer):
    """Export for both services, on raw request bytes (see the module doc)."""

    def __init__(self, rx: "GrpcReceiver"):
        self.rx = rx

    def export_traces(self, request: bytes, context) -> bytes:
        return self.rx.export("traces", request, context)

    def export_logs(self, request: bytes, context) -> bytes:
        return self.rx.export("logs", request, context)


class GrpcReceiver:
    def __init__(
        self,
        sink: Sink,
        host: str,
        port: int,
        token: str | None,
        max_bytes: int,
        inflight_bytes: int | None = None,
        max_concurrent: int | None = None,
        workers: int = WORKERS,
    ):
        self.sink, self.host, self.requested_port = sink, host, port
        self.token, self.max_bytes = token, max_bytes
        self.workers = workers
        self.max_concurrent = max_concurrent or MAX_CONNECTIONS
        self.budget = Budget(inflight_bytes or INFLIGHT_BYTES)
        self.counters = Counters()
        self.closing = False
        self.port = port
        self._server: grpc.Server | None = None

    def start(self) -> None:
        server = grpc.server(
            ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="otlp-grpc"),
            options=[
                ("grpc.max_receive_message_length", self.max_bytes),
                ("grpc.so_reuseport", 0),  # two ledgers must not share a port silently
            ],
            maximum_concurrent_rpcs=self.max_concurrent,
        )
        servicer = _Servicer(self)
        for kind, fn in (("traces", servicer.export_traces), ("logs", servicer.export_logs)):
            service = _SERVICES[kind]
            handler = grpc.unary_unary_rpc_method_handler(fn)  # bytes in, bytes out
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service.full_name, {"Export": handler}),)
            )
        try:
            bound = server.add_insecure_port(f"{self.host}:{self.requested_port}")
        except RuntimeError as exc:
            bound, reason = 0, str(exc)
        else:
            reason = "address in use or not available"
        if not bound:
            raise LedgerError(
                f"cannot listen for OTLP/gRPC on {self.host}:{self.requested_port} ({reason}); "
                "is another receiver running? Set LLMLEDGER_OTLP_GRPC_PORT or --grpc-port.",
                title="gRPC receiver unavailable",
            )
        self.port = bound
        server.start()
        self._server = server
        log.info("OTLP/gRPC receiver on %s:%s", self.host, self.port)

    def stop(self, grace: float = 2.0) -> None:
        self.closing = True
        if self._server is not None:
            self._server.stop(grace).wait(grace + 1)
            self._server = None

    # ------------------------------------------------------------ one call
    def _fail(self, context, code: grpc.StatusCode, message: str, retry: bool = False):
        self.counters.error(code.name, message)
        if retry:
            context.set_trailing_metadata(_retry_metadata())
        context.abort(code, message)

    def export(self, kind: str, request: bytes, context) -> bytes:
        self.counters.request()
        if self.closing:
            self._fail(context, grpc.StatusCode.UNAVAILABLE, "receiver is shutting down; retry later", retry=True)
        if self.token and not self._authorised(context):
            self._fail(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or wrong bearer token (authorization: Bearer <token>)",
            )
        if len(request) > self.max_bytes:  # grpc refuses these first; kept for a raised limit
            self._fail(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"message of {len(request)} bytes exceeds the limit of {self.max_bytes} bytes",
            )
        if not self.budget.take(len(request), BUDGET_WAIT):
            self._fail(
                context,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "receiver is busy with other requests (memory budget); retry later",
                retry=True,
            )
        try:
            return self._export(kind, request, context)
        finally:
            self.budget.give(len(request))

    def _export(self, kind: str, request: bytes, context) -> bytes:
        try:
            checked = intake.check(kind, request, True)
        except otlp.PayloadTooLarge as exc:
            self._fail(context, grpc.StatusCode.RESOURCE_EXHAUSTED, exc.msg)
        except PayloadError as exc:
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, exc.msg)
        except Exception as exc:  # hostile input must stay INVALID_ARGUMENT
            log.debug("decode failed", exc_info=True)
            self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, f"cannot decode message: {exc!r:.300}")
        valid, rejects = checked.valid, checked.rejects
        if valid:
            try:
                if kind == "traces":
                    self.sink(request, "protobuf", False, None, request, valid)
                else:
                    self.sink(request, "protobuf", False, None, request, valid, kind=kind)
            except (OSError, LedgerError) as exc:
                log.error("cannot spool OTLP/gRPC request: %s", exc)
                self._fail(
                    context,
                    grpc.StatusCode.UNAVAILABLE,
                    f"cannot store the request right now ({exc}); retry later",
                    retry=True,
                )
        self.counters.accepted(valid, len(rejects), rejects[0] if rejects else None, kind)
        return intake.response(kind, rejects).SerializeToString()

    def _authorised(self, context) -> bool:
        for key, value in context.invocation_metadata() or ():
            if key.lower() == "authorization":
                scheme, _, given = str(value).partition(" ")
                return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())
        return False
