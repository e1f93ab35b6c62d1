"""Row building: decoded spans to the Arrow tables a load inserts (spans, attribution_dims,
calls), one tuple per row and one transpose at the end, the hot loop of every ingest path."""

from __future__ import annotations

import json
import logging

import pyarrow as pa

from llmledger.telemetry import attribution, content, conventions
from llmledger.telemetry.conv_common import InvalidValue
from llmledger.telemetry.otlp import Span

DEMO_ATTRIBUTE = "llmledger.demo"
log = logging.getLogger(__name__)

_TS = pa.timestamp("ns", tz="UTC")


def _is_demo(resource: dict) -> bool:
    v = resource.get(DEMO_ATTRIBUTE)
    return v is True or str(v).lower() in ("true", "1")


try:
    import orjson

    _OPTS = orjson.OPT_NON_STR_KEYS

    def _dumps(obj) -> str:
        # orjson also writes NaN/Infinity as null, which keeps the JSON columns valid.
        try:
            return orjson.dumps(obj, default=str, option=_OPTS).decode()
        except TypeError:  # e.g. an integer past 64 bits
            return _std_dumps(obj)
except ImportError:  # pragma: no cover

    def _dumps(obj) -> str:
        return _std_dumps(obj)


def _std_dumps(obj) -> str:
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str)
    # The stdlib writes NaN/Infinity, which is not JSON; DuckDB's JSON type would refuse the batch.
    return (
        text
        if "NaN" not in text and "Infinity" not in text
        else json.dumps(json.loads(text, parse_constant=lambda _: None), separators=(",", ":"), ensure_ascii=False)
    )


_CALL_FIELDS = (
    "provider",
    "operation",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "usage_source",
    "convention",
    "status",
    "input_text",
    "output_text",
)
_INT_COLS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
_STR_COLS = (
    "reported_cost_usd",
    "level",
    *attribution._DIMS,
    "input_text",
    "output_text",
    "provider",
    "operation",
    "request_model",
    "response_model",
    "parent_span_id",
    "status_message",
    "events",
    "batch_id",
    "service",
    "name",
    "kind",
    "status_code",
    "scope_name",
    "scope_version",
    "resource",
    "attributes",
    "usage_source",
    "convention",
    "status",
    "trace_id",
    "span_id",
)


def _column(name: str, values: list) -> pa.Array:
    if name in ("start_ns", "end_ns"):
        return pa.array(values, _TS)
    if name in _INT_COLS:
        return pa.array(values, pa.int64())
    if name in _STR_COLS:
        return pa.array(values, pa.string())
    return pa.array(values)


_SPAN_COLS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "duration_ms",
    "status_code",
    "status_message",
    "service",
    "scope_name",
    "scope_version",
    "resource",
    "attributes",
    "events",
    "is_demo",
    "batch_id",
)
_DIM_COLS = ("trace_id", "span_id", "level", *attribution._DIMS, "batch_id")
_CALL_COLS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "start_ns",
    "duration_ms",
    *_CALL_FIELDS,
    "reported_cost_usd",
    "is_demo",
    "batch_id",
)


def _table(names: tuple, rows: list) -> pa.Table | None:
    if not rows:
        return None
    return pa.table({k: _column(k, list(v)) for k, v in zip(names, zip(*rows))})


MESSAGE_COLS = (
    "trace_id",
    "span_id",
    "origin",
    "record_key",
    "time",
    "seq",
    "kind",
    "role",
    "content",
    "content_sha256",
    "tokens",
    "tool_calls",
    "finish_reason",
    "batch_id",
    "model",  # for counting tokens at commit (hash policy); not stored
)


def message_row(tid, sid, origin, key, time_ns, seq, m: content.Message, policy: str, batch_id, model) -> tuple:
    """One call_messages row. Under hash the text travels to the commit (which counts its tokens
    and drops it, events.finish_messages); under drop neither text nor hash is kept."""
    text = m.text
    return (
        tid,
        sid,
        origin,
        key,
        time_ns or None,
        seq,
        m.kind,
        m.role,
        text if policy != "drop" else None,
        content.digest(text) if text and policy != "drop" else None,
        None,
        content.tool_calls_json(m.tool_calls, policy),
        m.finish_reason,
        batch_id,
        model,
    )


def build_tables(
    groups,
    extractor: attribution.Extractor,
    rejects: dict | None = None,
    policy: str = "keep",
    messages: list | None = None,
):
    """Column tables for spans, attribution_dims and calls (unique keys, first occurrence wins).

    `groups` is a list of (batch_id, spans); each span row carries its batch's id. A bare list of
    spans is accepted too (batch_id NULL). This loop runs once per span on the ingest path, so it
    builds one tuple per row and transposes at the end rather than appending column by column.
    A span whose call carries a value no call can have (conv_common.InvalidValue) is not stored:
    its reason goes to `rejects[batch_id]` when a dict is given.

    Under the `hash` and `drop` content policies (content.py) the spans' content attributes and
    the calls' text are left out; under `hash`, each call's messages go to `messages` as
    call_messages rows (with their text, for the commit to count and drop).
    """
    keep = policy == "keep"
    if groups and isinstance(groups[0], Span):
        groups = [(None, groups)]
    seen: set[tuple[str, str]] = set()
    seen_add = seen.add
    span_rows: list[tuple] = []
    dim_rows: list[tuple] = []
    call_rows: list[tuple] = []
    add_span, add_dim, add_call = span_rows.append, dim_rows.append, call_rows.append
    res_cache: dict[int, tuple] = {}
    dumps = _dumps
    span_dims = extractor.span
    dims_row = attribution.dims_row
    # Most spans carry none of the rule keys: one set test skips the rules loop for them.
    rule_keys = frozenset(r.key for r in extractor.span_rules)
    map_span = conventions.map_span
    dup_in_batch = 0
    map_errors = 0
    last_res, cached = None, None
    for batch_id, spans in groups:
        for s in spans:
            tid, sid = s.trace_id, s.span_id
            key = (tid, sid)
            if key in seen:
                dup_in_batch += 1
                continue
            try:
                call = map_span(s)
            except InvalidValue as exc:
                if rejects is not None:
                    rejects.setdefault(batch_id, []).append(f"span {sid}: {exc}")
                continue
            except Exception as exc:  # a mapping bug must not block the batch: keep the raw span
                call = None
                map_errors += 1
                if map_errors == 1:
                    log.warning("convention mapping failed on span %s/%s: %r", tid, sid, exc)
            seen_add(key)
            res = s.resource
            if res is not last_res:  # consecutive spans share their resource's dict
                cached = res_cache.get(id(res))
                if cached is None or cached[4] is not res:
                    found = extractor.resource(res)
                    service = res.get("service.name")
                    cached = res_cache[id(res)] = (
                        dumps(res),
                        dims_row(found) if found else None,
                        _is_demo(res),
                        service if service is None or type(service) is str else str(service),
                        res,
                    )
                last_res = res
            res_json, res_dims, demo, service, _ = cached
            attrs = s.attributes
            span_events = s.events
            if not keep:  # no text reaches the tables (the mapping above read the originals)
                attrs = content.scrub_attributes(attrs, policy)
                span_events = content.scrub_events(span_events, policy)
            start, end = s.start_ns, s.end_ns
            dur = (end - start) / 1e6 if end and start else None
            parent = s.parent_span_id
            add_span(
                (
                    tid,
                    sid,
                    parent,
                    s.name,
                    s.kind,
                    start or None,
                    end or None,
                    dur,
                    s.status_code,
                    s.status_message,
                    service,
                    s.scope_name,
                    s.scope_version,
                    res_json,
                    dumps(attrs),
                    dumps(span_events) if span_events else None,
                    demo,
                    batch_id,
                )
            )
            if not rule_keys.isdisjoint(attrs):
                found = span_dims(attrs)
                if found:
                    add_dim((tid, sid, "span", *dims_row(found), batch_id))
            if call is None:
                continue
            if res_dims is not None:  # read only for the call span itself
                add_dim((tid, sid, "resource", *res_dims, batch_id))
            cost = call.reported_cost_usd
            if not keep:
                if messages is not None and policy == "hash":
                    model = call.response_model or call.request_model
                    for seq, m in enumerate(content.span_messages(s.attributes, s.events)):
                        messages.append(
                            message_row(tid, sid, "span", f"span:{sid}", start, seq, m, policy, batch_id, model)
                        )
                call.input_text = call.output_text = None
            add_call(
                (
                    tid,
                    sid,
                    parent,
                    start or None,
                    dur,
                    call.provider,
                    call.operation,
                    call.request_model,
                    call.response_model,
                    call.input_tokens,
                    call.output_tokens,
                    call.cache_read_tokens,
                    call.cache_write_tokens,
                    call.reasoning_tokens,
                    call.usage_source,
                    call.convention,
                    call.status,
                    call.input_text,
                    call.output_text,
                    str(cost) if cost is not None else None,
                    demo,
                    batch_id,
                )
            )
    return _table(_SPAN_COLS, span_rows), _table(_DIM_COLS, dim_rows), _table(_CALL_COLS, call_rows), dup_in_batch
