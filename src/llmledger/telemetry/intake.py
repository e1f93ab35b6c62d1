"""What the OTLP receivers share, HTTP and gRPC alike: the signals they accept, the check of a
request body before it is spooled, and the success answer with its partial-success reasons.

A body is checked, not fully decoded, before the acknowledgement: protobuf is parsed and its ids
and times validated (the loader decodes it later with the same rules, so the counts answered and
stored agree); JSON is decoded whole (its decode is the check). The caller maps PayloadError to its
protocol's "malformed" answer (HTTP 400, gRPC INVALID_ARGUMENT) and PayloadTooLarge to 413 /
RESOURCE_EXHAUSTED, and hands a body with something usable to the sink (the spool), which makes it
durable before the OK.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from llmledger.errors import PayloadError
from llmledger.telemetry import logs, otlp

#: HTTP path -> signal.
PATHS = {"/v1/traces": "traces", "/v1/logs": "logs"}
NOUN = {"traces": "span", "logs": "log record"}


@dataclass
class Checked:
    valid: int  # spans or log records that can be stored (or counted and dropped, for logs)
    rejects: list[str]
    decoded: otlp.Decoded | None  # JSON only (its decode is its check)


def check(kind: str, raw: bytes, as_protobuf: bool) -> Checked:
    """Check one decompressed request body of `kind` ('traces' | 'logs'). PayloadError when it
    cannot be decoded at all."""
    if as_protobuf:
        valid, rejects = (otlp.check_protobuf if kind == "traces" else logs.check_protobuf)(raw)
        return Checked(valid, rejects, None)
    with otlp.gc_paused():
        decoded = decode_json(kind, raw)
    return Checked(valid_count(kind, decoded), decoded.rejects, decoded)


def decode_json(kind: str, raw: bytes) -> otlp.Decoded:
    """An OTLP/JSON body of `kind`; a logs export sent as traces is refused (PayloadError) rather
    than taken for an empty trace export."""
    if kind == "logs":
        return otlp.decode_json(raw, "logs")
    decoded = otlp.decode_json(raw)
    if decoded.logs_read and not decoded.spans:
        raise PayloadError("JSON body is a logs export ('resourceLogs'): send it to /v1/logs")
    return decoded


def check_parsed(kind: str, req) -> Checked:
    """The same check on a request already parsed (gRPC's deserializer)."""
    if kind == "traces":
        valid, rejects = otlp.check_parsed(req)
    else:
        valid, rejects = logs.check_parsed(req)
    return Checked(valid, rejects, None)


def valid_count(kind: str, decoded: otlp.Decoded) -> int:
    return len(decoded.spans) if kind == "traces" else decoded.logs_read - decoded.log_rejects


def reject_message(kind: str, rejects: list[str]) -> str:
    n = len(rejects)
    if not n:
        return ""
    shown = "; ".join(rejects[:5])
    more = f" (and {n - 5} more)" if n > 5 else ""
    return f"{n} {NOUN[kind]}(s) rejected: {shown}{more}"


def response(kind: str, rejects: list[str]):
    """The Export*ServiceResponse message, partial_success only when something was rejected."""
    n = len(rejects)
    if kind == "traces":
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts

        resp = ts.ExportTraceServiceResponse()
        if n:
            resp.partial_success.rejected_spans = n
            resp.partial_success.error_message = reject_message(kind, rejects)
        return resp
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as ls

    resp = ls.ExportLogsServiceResponse()
    if n:
        resp.partial_success.rejected_log_records = n
        resp.partial_success.error_message = reject_message(kind, rejects)
    return resp


def success_body(rejects: list[str], as_protobuf: bool, kind: str = "traces") -> bytes:
    """The response body over HTTP: protobuf, or proto3 JSON (int64 as a decimal string)."""
    if as_protobuf:
        return response(kind, rejects).SerializeToString()
    n = len(rejects)
    if not n:
        return b"{}"
    field = "rejectedSpans" if kind == "traces" else "rejectedLogRecords"
    return json.dumps({"partialSuccess": {field: str(n), "errorMessage": reject_message(kind, rejects)}}).encode()
