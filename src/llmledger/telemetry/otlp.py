"""Decode OTLP trace payloads (protobuf, OTLP/JSON, Collector JSON Lines, gzip) into plain spans.

Every decoder yields the same plain shape, `Span` below, so mapping and loading never see an
encoding. A payload that cannot be decoded at all raises PayloadError (HTTP 400); a single span
that is unusable (bad id, say) is rejected with a reason and the rest are kept (OTLP partial
success).
"""

from __future__ import annotations

import gc
import json
import threading
import zlib
from contextlib import contextmanager
from typing import Any, Iterable

from llmledger.errors import PayloadError
from llmledger.telemetry import logs
from llmledger.telemetry.otlp_values import (  # noqa: F401 - re-exported: the decoders' shared values
    _HEX,
    _NO_EVENTS,
    I64,
    KINDS,
    STATUS,
    Decoded,
    Span,
    _enum,
    _hex_id,
    _int64,
    _int_text,
    _pb_attrs,
    _pb_value,
    _scalar,
    _text,
    _time_ns,
    json_attrs,
    json_value,
    parse_message,
)

try:  # 2-3x faster parsing; the stdlib parser stays the fallback and gives the error messages
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover
    _fast_loads = json.loads


def _loads(text: str | bytes) -> Any:
    try:
        return _fast_loads(text)
    except ValueError:
        return json.loads(text)  # raises the stdlib's error (and accepts what orjson refuses)


_gc_lock = threading.Lock()
_gc_pausers = 0
_gc_was_enabled = True


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while decoding and building tables.

    Those steps allocate millions of small acyclic objects (dicts, strings, Spans) that reference
    counting frees on its own; with the collector on, each allocation burst triggers collections
    that walk every live object again, which cost more than the decoding itself (JSON decode
    measured 3x slower). Nested and concurrent users are counted: the first one records whether
    the collector was on, the last one restores that.
    """
    global _gc_pausers, _gc_was_enabled
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_was_enabled = gc.isenabled()
        _gc_pausers += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_was_enabled:
                gc.enable()


# ---------------------------------------------------------------- bytes and encodings


def gunzip(body: bytes, limit: int | None = None) -> bytes:
    """Decompress gzip, refusing to inflate past `limit` bytes (a zip bomb is a 413, not an OOM).

    The one gzip reader for every path (live requests, spool replays, imported files), so a body
    is judged the same whichever path reads it: every member of a multi-member body is read
    (RFC 1952 allows them; gzip(1) concatenates), zero padding after the last member is ignored,
    and any other trailing byte is an error rather than silently dropped data."""
    parts: list[bytes] = []
    total = 0
    data = body
    try:
        while True:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = d.decompress(data, (limit + 1 - total) if limit else 0)
            total += len(out)
            if limit and total > limit:
                raise PayloadTooLarge(f"decompressed body exceeds {limit} bytes")
            parts.append(out)
            if not d.eof:
                raise PayloadError("gzip body is truncated")
            data = d.unused_data
            if not data or not data.strip(b"\0"):
                return parts[0] if len(parts) == 1 else b"".join(parts)
            if data[:2] != b"\x1f\x8b":
                raise PayloadError(f"gzip body has {len(data)} trailing byte(s) that are not a gzip member")
    except zlib.error as exc:
        raise PayloadError(f"body is not valid gzip: {exc}") from exc


class PayloadTooLarge(PayloadError):
    title = "Payload too large"


# ---------------------------------------------------------------- OTLP/JSON


def decode_json_request(doc: Any, kind: str | None = None) -> Decoded:
    """One ExportTraceServiceRequest in OTLP/JSON, or an ExportLogsServiceRequest (`kind` 'logs'
    requires one, 'traces' the other; None takes either, by its top-level key)."""
    if kind != "traces" and isinstance(doc, dict) and ("resourceLogs" in doc or "resource_logs" in doc):
        return logs.decode_json_logs(doc)
    if kind == "logs":
        raise PayloadError("JSON body has no 'resourceLogs' (not an OTLP logs export request)")
    if not isinstance(doc, dict) or "resourceSpans" not in doc and "resource_spans" not in doc:
        raise PayloadError("JSON body has no 'resourceSpans' (not an OTLP trace export request)")
    spans: list[Span] = []
    rejects: list[str] = []
    rss = doc.get("resourceSpans", doc.get("resource_spans")) or []
    if not isinstance(rss, list):
        raise PayloadError("'resourceSpans' is not a list")
    for i, rs in enumerate(rss):
        if not isinstance(rs, dict):
            rejects.append(f"resourceSpans[{i}] is not an object")
            continue
        try:
            resource = json_attrs((rs.get("resource") or {}).get("attributes"))
            sss = rs.get("scopeSpans", rs.get("scope_spans", rs.get("instrumentationLibrarySpans"))) or []
            if not isinstance(sss, list):
                raise TypeError("'scopeSpans' is not a list")
        except (ValueError, TypeError, AttributeError) as exc:
            rejects.append(f"resourceSpans[{i}]: {exc}")
            continue
        for ss in sss:
            try:
                scope = ss.get("scope") or ss.get("instrumentationLibrary") or {}
                sname, sver = str(scope.get("name") or ""), str(scope.get("version") or "")
                ss_spans = ss.get("spans") or []
                if not isinstance(ss_spans, list):
                    raise TypeError("'spans' is not a list")
            except (ValueError, TypeError, AttributeError) as exc:
                rejects.append(f"resourceSpans[{i}].scopeSpans: {exc}")
                continue
            for s in ss_spans:
                try:
                    spans.append(_json_span(s, resource, sname, sver))
                except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
                    sid = s.get("spanId") if isinstance(s, dict) else None
                    rejects.append(f"span {sid or '?'}: {exc}")
    return Decoded(spans, rejects)


def _json_span(s: dict, resource: dict, sname: str, sver: str) -> Span:
    status = s.get("status") or {}
    parent = s.get("parentSpanId") or None
    if isinstance(parent, str) and not parent.strip("0"):
        parent = None  # some emitters send zeros for a root span
    message = status.get("message")
    events = s.get("events") or []
    if not isinstance(events, list):
        raise ValueError("'events' is not a list")
    return Span(
        trace_id=_hex_id(s.get("traceId"), 16, "traceId"),
        span_id=_hex_id(s.get("spanId"), 8, "spanId"),
        parent_span_id=_hex_id(parent, 8, "parentSpanId") if parent else None,
        name=_text(s.get("name")),
        kind=_enum(s.get("kind"), KINDS, "SPAN_KIND_"),
        start_ns=_time_ns(s.get("startTimeUnixNano"), "startTimeUnixNano"),
        end_ns=_time_ns(s.get("endTimeUnixNano"), "endTimeUnixNano"),
        status_code=_enum(status.get("code"), STATUS, "STATUS_CODE_"),
        status_message=_text(message) if message not in (None, "") else None,
        attributes=json_attrs(s.get("attributes")),
        resource=resource,
        scope_name=sname,
        scope_version=sver,
        events=[
            {
                "name": _text(e.get("name")),
                "time_ns": _time_ns(e.get("timeUnixNano"), "event timeUnixNano"),
                "attributes": json_attrs(e.get("attributes")),
            }
            for e in events
        ],
    )


def decode_json(body: bytes | str, kind: str | None = None) -> Decoded:
    """An OTLP/JSON body: one request, or JSON Lines of requests (the Collector's file exporter)."""
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    except UnicodeDecodeError as exc:
        raise PayloadError(f"JSON body is not UTF-8: {exc}") from exc
    try:
        return decode_json_request(_loads(text), kind)
    except RecursionError as exc:
        raise PayloadError("JSON body is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        if "Extra data" not in str(exc):
            raise PayloadError(f"body is not valid JSON: {exc}") from exc
    return decode_jsonl(text.splitlines(), kind=kind)


def decode_jsonl(lines: Iterable[str | bytes], first_line: int = 1, kind: str | None = None) -> Decoded:
    """JSON Lines, one export request per line (traces or logs, as the Collector's file exporter
    writes them); a bad line is a reject, not an error."""
    out = Decoded([], [])
    rejects = out.rejects
    for n, line in enumerate(lines, first_line):
        line = line.strip()
        if not line:
            continue
        try:
            d = decode_json_request(_loads(line), kind)
        except RecursionError:
            rejects.append(f"line {n}: JSON nested too deeply")
            continue
        except json.JSONDecodeError as exc:
            rejects.append(f"line {n}: not valid JSON ({exc.msg})")
            continue
        except UnicodeDecodeError as exc:
            rejects.append(f"line {n}: not UTF-8 ({exc.reason})")
            continue
        except PayloadError as exc:
            rejects.append(f"line {n}: {exc.msg}")
            continue
        d.rejects = [f"line {n}: {r}" for r in d.rejects]
        out.extend(d)
    return out


# ---------------------------------------------------------------- protobuf


def _parse_protobuf(body: bytes):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return parse_message(body, ExportTraceServiceRequest)


def _pb_reject(s) -> str | None:
    """Why a protobuf span cannot be stored, or None. The receiver's check and the loader's
    decode both use this, so the counts answered and the spans stored agree."""
    tid, sid = s.trace_id, s.span_id
    if len(tid) != 16 or not any(tid):
        return f"span {sid.hex() or '?'}: trace_id must be 16 non-zero bytes"
    if len(sid) != 8 or not any(sid):
        return f"span {sid.hex() or '?'}: span_id must be 8 non-zero bytes"
    for what, t in (
        ("start_time_unix_nano", s.start_time_unix_nano),
        ("end_time_unix_nano", s.end_time_unix_nano),
        *(("event time_unix_nano", e.time_unix_nano) for e in s.events),
    ):
        if t >= I64:
            return f"span {sid.hex()}: {what} {t} is out of range (0 to 2^63-1 ns)"
    return None


def check_protobuf(body: bytes) -> tuple[int, list[str]]:
    """Validate a protobuf request without building spans: (valid spans, reject reasons).

    The receiver answers with this (about a tenth of a full decode) and the loader decodes
    later; both apply the same id rules, so the counts agree."""
    return check_parsed(_parse_protobuf(body))


def check_parsed(req) -> tuple[int, list[str]]:
    """check_protobuf on a request already parsed (gRPC's deserializer)."""
    ok, rejects = 0, []
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                reason = _pb_reject(s)
                if reason is None:
                    ok += 1
                else:
                    rejects.append(reason)
    return ok, rejects


def decode_protobuf(body: bytes) -> Decoded:
    req = _parse_protobuf(body)
    spans: list[Span] = []
    rejects: list[str] = []
    append = spans.append
    n_kinds = len(KINDS)
    for rs in req.resource_spans:
        resource = _pb_attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            sname, sver = ss.scope.name, ss.scope.version
            for s in ss.spans:
                tid, sid = s.trace_id, s.span_id
                if (
                    len(tid) != 16
                    or not any(tid)
                    or len(sid) != 8
                    or not any(sid)
                    or s.start_time_unix_nano >= I64
                    or s.end_time_unix_nano >= I64
                    or (len(s.events) and any(e.time_unix_nano >= I64 for e in s.events))
                ):
                    rejects.append(_pb_reject(s))
                    continue
                parent = s.parent_span_id
                kind = s.kind
                status = s.status
                code = status.code
                append(
                    Span(
                        tid.hex(),
                        sid.hex(),
                        parent.hex() if len(parent) == 8 and any(parent) else None,
                        s.name,
                        KINDS[kind] if 0 <= kind < n_kinds else "UNSPECIFIED",
                        s.start_time_unix_nano,
                        s.end_time_unix_nano,
                        STATUS[code] if 0 <= code < 3 else "UNSET",
                        status.message or None,
                        _pb_attrs(s.attributes),
                        resource,
                        sname,
                        sver,
                        [
                            {"name": e.name, "time_ns": e.time_unix_nano, "attributes": _pb_attrs(e.attributes)}
                            for e in s.events
                        ]
                        if len(s.events)
                        else _NO_EVENTS,
                    )
                )
    return Decoded(spans, rejects)


# ---------------------------------------------------------------- by content type / file name


def decode_protobuf_file(data: bytes, kind: str | None = None) -> Decoded:
    """A serialized request of either kind. Protobuf does not say which message it holds, and the
    two parse as each other without error (their fields line up by number), so: a trace export
    unless it yields no usable span and it reads as log records, some of them usable."""
    if kind == "logs":
        return logs.decode_protobuf_logs(data)
    error = None
    try:
        traces = decode_protobuf(data)
    except PayloadError as exc:
        traces, error = None, exc
    if traces is not None and (traces.spans or kind == "traces"):
        return traces
    try:
        as_logs = logs.decode_protobuf_logs(data)
    except PayloadError:
        as_logs = None
    if as_logs is not None and as_logs.logs_read > as_logs.log_rejects:
        return as_logs
    if traces is None:
        raise error
    return traces


def decode_file_bytes(name: str, data: bytes) -> Decoded:
    """Decode a file by its name: .json, .jsonl/.ndjson, .pb/.binpb/.proto, each optionally .gz."""
    lower = name.lower()
    if lower.endswith(".gz"):
        try:
            data = gunzip(data)
        except PayloadError as exc:
            raise PayloadError(f"{name}: {exc.msg}") from exc
        lower = lower[:-3]
    kind = "logs" if lower.endswith((".logs.pb", ".logs.json")) else None  # the spool's log files
    if lower.endswith((".pb", ".binpb", ".protobuf")):
        return decode_protobuf_file(data, kind)
    if lower.endswith((".jsonl", ".ndjson")):
        try:
            return decode_jsonl(data.decode("utf-8").splitlines(), kind=kind)
        except UnicodeDecodeError as exc:
            raise PayloadError(f"{name}: not UTF-8 ({exc})") from exc
    if lower.endswith(".json"):
        return decode_json(data) if kind is None else decode_json(data, kind)
    raise PayloadError(f"{name}: unknown file type (expected .json, .jsonl, .pb, optionally .gz)")
