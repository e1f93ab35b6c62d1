"""Decode OTLP log payloads (protobuf, OTLP/JSON, Collector JSON Lines) into GenAI events.

Only GenAI events are kept (content.is_genai_event: `gen_ai.client.inference.operation.details`
and the older per-message events), named by the LogRecord's `event_name` field or its
`event.name` attribute, and only when they carry the (trace_id, span_id) of their call. Every
other record is counted (`Decoded.logs_dropped`) and dropped. A record with an unusable field (a
trace id of the wrong length, a time out of range) is rejected with a reason, like a bad span.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from llmledger.errors import PayloadError
from llmledger.telemetry import content
from llmledger.telemetry.otlp_values import (
    I64,
    Decoded,
    _hex_id,
    _pb_attrs,
    _pb_value,
    _text,
    _time_ns,
    json_attrs,
    json_value,
    parse_message,
)


@dataclass(slots=True)
class LogRecord:
    trace_id: str
    span_id: str
    time_ns: int
    event_name: str
    body: Any
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope_name: str
    record_key: str  # idempotency key: a hash of the record (ids, name, times, body, attributes)
    ordinal: int = 0  # position among the records of its request (orders events of equal time)


def _key(parts: tuple, seen: dict) -> str:
    h = hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    # Identical records within one request (same time, same text) stay distinct: the n-th copy
    # gets the same key on every replay of the request.
    n = seen.get(h, 0)
    seen[h] = n + 1
    return h if n == 0 else f"{h}:{n}"


def _event_name(field_name: str, attrs: dict) -> str:
    name = field_name or attrs.get("event.name") or ""
    return name if type(name) is str else str(name)


def _keep(
    out: Decoded,
    seen: dict,
    tid: str | None,
    sid: str | None,
    t: int,
    observed: int,
    name: str,
    body: Any,
    attrs: dict,
    resource: dict,
    scope: str,
) -> None:
    out.logs_read += 1
    if not content.is_genai_event(name) or not tid or not sid:
        out.logs_dropped += 1
        return
    key = _key((tid, sid, name, t, observed, body, sorted(attrs.items(), key=lambda kv: kv[0])), seen)
    out.logs.append(LogRecord(tid, sid, t or observed, name, body, attrs, resource, scope, key, out.logs_read))


# ---------------------------------------------------------------- OTLP/JSON


def decode_json_logs(doc: dict, out: Decoded | None = None, seen: dict | None = None) -> Decoded:
    """One ExportLogsServiceRequest in OTLP/JSON."""
    out = out if out is not None else Decoded([], [])
    seen = {} if seen is None else seen
    rls = doc.get("resourceLogs", doc.get("resource_logs")) or []
    if not isinstance(rls, list):
        raise PayloadError("'resourceLogs' is not a list")
    for i, rl in enumerate(rls):
        try:
            if not isinstance(rl, dict):
                raise TypeError("not an object")
            resource = json_attrs((rl.get("resource") or {}).get("attributes"))
            sls = rl.get("scopeLogs", rl.get("scope_logs")) or []
            if not isinstance(sls, list):
                raise TypeError("'scopeLogs' is not a list")
        except (ValueError, TypeError, AttributeError) as exc:
            out.rejects.append(f"resourceLogs[{i}]: {exc}")
            out.log_rejects += 1
            continue
        for sl in sls:
            try:
                scope = str((sl.get("scope") or {}).get("name") or "")
                records = sl.get("logRecords", sl.get("log_records")) or []
                if not isinstance(records, list):
                    raise TypeError("'logRecords' is not a list")
            except (ValueError, TypeError, AttributeError) as exc:
                out.rejects.append(f"resourceLogs[{i}].scopeLogs: {exc}")
                out.log_rejects += 1
                continue
            for r in records:
                try:
                    if not isinstance(r, dict):
                        raise TypeError("log record is not an object")
                    attrs = json_attrs(r.get("attributes"))
                    tid = r.get("traceId") or None
                    sid = r.get("spanId") or None
                    tid = _hex_id(tid, 16, "traceId") if tid and str(tid).strip("0") else None
                    sid = _hex_id(sid, 8, "spanId") if sid and str(sid).strip("0") else None
                    t = _time_ns(r.get("timeUnixNano"), "timeUnixNano")
                    observed = _time_ns(r.get("observedTimeUnixNano"), "observedTimeUnixNano")
                    body = json_value(r.get("body"), "body") if r.get("body") is not None else None
                    name = _event_name(_text(r.get("eventName")), attrs)
                except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
                    out.logs_read += 1
                    out.log_rejects += 1
                    out.rejects.append(f"log record: {exc}")
                    continue
                _keep(out, seen, tid, sid, t, observed, name, body, attrs, resource, scope)
    return out


# ---------------------------------------------------------------- protobuf


def parse_protobuf(body: bytes):
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    return parse_message(body, ExportLogsServiceRequest)


def _pb_reject(r) -> str | None:
    """Why a protobuf log record cannot be used, or None (the receiver's check and the loader's
    decode both use this, so the counts answered and stored agree)."""
    if len(r.trace_id) not in (0, 16):
        return f"log record: trace_id must be 16 bytes, not {len(r.trace_id)}"
    if len(r.span_id) not in (0, 8):
        return f"log record: span_id must be 8 bytes, not {len(r.span_id)}"
    if r.time_unix_nano >= I64 or r.observed_time_unix_nano >= I64:
        return "log record: time is out of range (0 to 2^63-1 ns)"
    return None


def check_parsed(req) -> tuple[int, list[str]]:
    """(usable records, reject reasons) of a parsed ExportLogsServiceRequest."""
    ok, rejects = 0, []
    for rl in req.resource_logs:
        for sl in rl.scope_logs:
            for r in sl.log_records:
                reason = _pb_reject(r)
                if reason is None:
                    ok += 1
                else:
                    rejects.append(reason)
    return ok, rejects


def check_protobuf(body: bytes) -> tuple[int, list[str]]:
    return check_parsed(parse_protobuf(body))


def decode_protobuf_logs(body: bytes, req=None) -> Decoded:
    req = req if req is not None else parse_protobuf(body)
    out = Decoded([], [])
    seen: dict = {}
    for rl in req.resource_logs:
        resource = _pb_attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            scope = sl.scope.name
            for r in sl.log_records:
                reason = _pb_reject(r)
                if reason is not None:
                    out.logs_read += 1
                    out.log_rejects += 1
                    out.rejects.append(reason)
                    continue
                attrs = _pb_attrs(r.attributes)
                name = _event_name(getattr(r, "event_name", ""), attrs)
                tid = r.trace_id.hex() if any(r.trace_id) else None
                sid = r.span_id.hex() if any(r.span_id) else None
                body_v = _pb_value(r.body) if r.HasField("body") else None
                _keep(
                    out,
                    seen,
                    tid,
                    sid,
                    r.time_unix_nano,
                    r.observed_time_unix_nano,
                    name,
                    body_v,
                    attrs,
                    resource,
                    scope,
                )
    return out


def looks_like_logs(req) -> bool:
    """Whether a parsed ExportLogsServiceRequest holds log records (a trace export parsed as logs
    yields none: the fields do not line up)."""
    return any(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
