"""Decode OTLP trace payloads (protobuf, OTLP/JSON, Collector JSON Lines, gzip) into plain spans.

Every decoder yields the same plain shape, `Span` below, so mapping and loading never see an
encoding. A payload that cannot be decoded at all raises PayloadError (HTTP 400); a single span
that is unusable (bad id, say) is rejected with a reason and the rest are kept (OTLP partial
success).
"""

from __future__ import annotations

import base64
import binascii
import gc
import json
import re
import threading
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable

from llmledger.errors import PayloadError

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


KINDS = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
STATUS = ["UNSET", "OK", "ERROR"]


@dataclass(slots=True)
class Span:
    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex
    parent_span_id: str | None
    name: str
    kind: str  # one of KINDS
    start_ns: int
    end_ns: int
    status_code: str  # one of STATUS
    status_message: str | None
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope_name: str
    scope_version: str
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Decoded:
    spans: list[Span]
    rejects: list[str]  # one reason per rejected span or log record
    logs: list = field(default_factory=list)  # logs.LogRecord: the GenAI events kept
    logs_read: int = 0  # log records read (kept, dropped and rejected)
    logs_dropped: int = 0  # log records that are not GenAI events of a call: counted, not stored
    log_rejects: int = 0  # how many of `rejects` are log records

    def extend(self, other: "Decoded") -> None:
        self.spans.extend(other.spans)
        self.rejects.extend(other.rejects)
        self.logs.extend(other.logs)
        self.logs_read += other.logs_read
        self.logs_dropped += other.logs_dropped
        self.log_rejects += other.log_rejects

    @property
    def rejected(self) -> int:
        return len(self.rejects)


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


_HEX = re.compile(r"[0-9a-fA-F]+")
#: OTLP integers are int64 (times are uint64 on the wire, but DuckDB's timestamps end at 2^63 ns).
I64 = 1 << 63


def _hex_id(raw: Any, width: int, what: str) -> str:
    """OTLP/JSON ids are hex; some emitters send base64 (the generic protobuf JSON mapping).

    Hex means exactly 2*width ASCII hex digits: int(s, 16) would also take a sign, '0x', '_'
    and Unicode digits, and store them as given."""
    if raw is None or raw == "":
        raise ValueError(f"missing {what}")
    if not isinstance(raw, str):
        raise ValueError(f"{what} is not a string")
    s = raw.strip()
    if len(s) == width * 2 and _HEX.fullmatch(s):
        if not s.strip("0"):
            raise ValueError(f"{what} is all zeros")
        return s.lower()
    try:
        b = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} {raw!r:.60} is neither {width * 2} hex digits nor base64") from None
    if len(b) != width:
        raise ValueError(f"{what} {raw!r:.60} decodes to {len(b)} bytes, expected {width}")
    if not any(b):
        raise ValueError(f"{what} is all zeros")
    return b.hex()


def _enum(raw: Any, names: list[str], prefix: str) -> str:
    if raw is None:
        return names[0]
    if isinstance(raw, int):
        return names[raw] if 0 <= raw < len(names) else names[0]
    s = str(raw)
    if s.isdigit():
        return _enum(int(s), names, prefix)
    s = s.removeprefix(prefix)
    return s if s in names else names[0]


def _time_ns(raw: Any, what: str) -> int:
    """A Unix time in ns: 0 when absent, else an integer in [0, 2^63)."""
    if raw is None or raw == "":
        return 0
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ValueError(f"{what} {raw!r:.40} is not an integer")
    n = int(raw) if isinstance(raw, int) else _int_text(raw, what)
    if not 0 <= n < I64:
        raise ValueError(f"{what} {n} is out of range (0 to 2^63-1 ns)")
    return n


def _int_text(raw: str, what: str) -> int:
    s = raw.strip()
    if not s.isascii() or not s.lstrip("-").isdigit():
        raise ValueError(f"{what} {raw!r:.40} is not an integer")
    return int(s)


def _int64(raw: Any, key: str) -> int:
    n = raw if type(raw) is int else _int_text(raw, f"attribute {key!r}") if isinstance(raw, str) else None
    if n is None:
        raise ValueError(f"attribute {key!r}: intValue {raw!r:.40} is not an integer")
    if not -I64 <= n < I64:
        raise ValueError(f"attribute {key!r}: intValue {n} is out of the int64 range")
    return n


def _text(raw: Any) -> str:
    """A string field that arrived as another JSON type is kept as its text (never refused)."""
    return raw if type(raw) is str else "" if raw is None else str(raw)


# ---------------------------------------------------------------- OTLP/JSON


def json_value(v: Any, key: str = "?") -> Any:
    """An OTLP/JSON AnyValue to a plain Python value (ValueError for one that cannot be stored)."""
    if not isinstance(v, dict):
        return v if v is None or type(v) in (str, bool, float) else _scalar(v, key)
    if "stringValue" in v:
        return _text(v["stringValue"])
    if "intValue" in v:
        return _int64(v["intValue"], key)
    if "doubleValue" in v:
        d = v["doubleValue"]
        if isinstance(d, bool) or not isinstance(d, (int, float, str)):
            raise ValueError(f"attribute {key!r}: doubleValue {d!r:.40} is not a number")
        return float(d)  # 'NaN', 'Infinity' are proto3 JSON; stored as null by the loader
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        values = (v["arrayValue"] or {}).get("values", []) or []
        if not isinstance(values, list):
            raise ValueError(f"attribute {key!r}: arrayValue.values is not a list")
        return [json_value(x, key) for x in values]
    if "kvlistValue" in v:
        return json_attrs((v["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in v:
        return _text(v["bytesValue"])
    return None


def _scalar(v: Any, key: str) -> Any:
    if type(v) is int:
        return _int64(v, key)
    if isinstance(v, list):
        return [json_value(x, key) for x in v]
    raise ValueError(f"attribute {key!r}: value {v!r:.40} is not an OTLP AnyValue")


def json_attrs(kvs: Iterable[dict] | None) -> dict[str, Any]:
    # The hot loop of JSON decoding: the common scalar shapes inline, the rest via json_value.
    out = {}
    if kvs and not isinstance(kvs, list):
        raise ValueError("'attributes' is not a list")
    for kv in kvs or ():
        key = kv.get("key")
        if key is None:
            continue
        if type(key) is not str:
            key = str(key)
        v = kv.get("value")
        if type(v) is dict and len(v) == 1:
            if "stringValue" in v:
                sv = v["stringValue"]
                out[key] = sv if type(sv) is str else _text(sv)
                continue
            if "intValue" in v:
                iv = v["intValue"]
                out[key] = iv if type(iv) is int and -I64 <= iv < I64 else _int64(iv, key)
                continue
        out[key] = json_value(v, key)
    return out


def decode_json_request(doc: Any, kind: str | None = None) -> Decoded:
    """One ExportTraceServiceRequest in OTLP/JSON, or an ExportLogsServiceRequest (`kind` 'logs'
    requires one, 'traces' the other; None takes either, by its top-level key)."""
    if kind != "traces" and isinstance(doc, dict) and ("resourceLogs" in doc or "resource_logs" in doc):
        from llmledger.telemetry.logs import decode_json_logs  # logs.py builds on this module

        return decode_json_logs(doc)
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


def _pb_value(v) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, which)


def _pb_attrs(kvs) -> dict[str, Any]:
    # The hot loop of protobuf decoding: scalar values inline, nested ones through _pb_value.
    out = {}
    for kv in kvs:
        v = kv.value
        which = v.WhichOneof("value")
        if which == "string_value":
            out[kv.key] = v.string_value
        elif which == "int_value":
            out[kv.key] = v.int_value
        elif which is None:
            out[kv.key] = None
        else:
            out[kv.key] = _pb_value(v)
    return out


_NO_EVENTS: list = []


def parse_message(body: bytes, cls):
    """`body` parsed as the protobuf message class `cls`; PayloadError naming it when it is not one."""
    req = cls()
    try:
        req.ParseFromString(body)
    except Exception as exc:  # DecodeError, and whatever else upb raises on hostile bytes
        raise PayloadError(f"body is not a valid OTLP protobuf {cls.__name__}: {exc}") from exc
    return req


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
    from llmledger.telemetry import logs  # logs.py builds on this module

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
