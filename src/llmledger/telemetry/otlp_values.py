"""The values every OTLP decoder shares (traces and logs alike): the decoded shapes (Span,
Decoded), id, time and integer checks, and AnyValue/attribute conversion for OTLP/JSON and
protobuf. otlp.py (traces) and logs.py (log records) build on this module; otlp re-exports it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from llmledger.errors import PayloadError

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
