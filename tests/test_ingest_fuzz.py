"""Property-based: random and adversarial OTLP (JSON and protobuf) through decode -> prepare ->
load into a real DuckDB file, and through the real receiver. The only outcomes allowed are
"stored" or "rejected with a reason": no exception escapes, every span is accounted for, and a
replay adds nothing.

CI runs a fixed, derandomized sample. A longer run: `make fuzz` (LLMLEDGER_FUZZ_EXAMPLES=5000).
"""

from __future__ import annotations

import itertools
import json
import os

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmledger.errors import PayloadError
from llmledger.telemetry import loader, otlp
from llmledger.telemetry.service import Service

EXAMPLES = int(os.environ.get("LLMLEDGER_FUZZ_EXAMPLES", "120"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize="LLMLEDGER_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

# ------------------------------------------------------------------ strategies
hostile_text = st.sampled_from(
    [
        "",
        " ",
        "<script>alert(1)</script>",
        "0x" + "1" * 30,
        "-" + "0" * 31 + "1",
        "\u0661" * 32,
        "NaN",
        "1e300",
        "9" * 40,
        "\x00",
        "'; DROP TABLE spans; --",
        "ﾟ" * 8,
        "a" * 5000,
    ]
) | st.text(max_size=40)
big_ints = st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30]) | st.integers(
    min_value=-(2**70), max_value=2**70
)
floats = st.floats(allow_nan=True, allow_infinity=True)
scalars = st.none() | st.booleans() | big_ints | floats | hostile_text


def any_value(depth: int = 2):
    leaf = st.one_of(
        st.fixed_dictionaries({"stringValue": hostile_text | big_ints | st.none() | st.just({"x": 1})}),
        st.fixed_dictionaries({"intValue": big_ints | hostile_text | floats}),
        st.fixed_dictionaries({"doubleValue": floats | hostile_text | st.just([1])}),
        st.fixed_dictionaries({"boolValue": scalars}),
        st.fixed_dictionaries({"bytesValue": hostile_text | big_ints}),
        scalars,
        st.just({}),
    )
    if depth == 0:
        return leaf
    inner = any_value(depth - 1)
    return (
        leaf
        | st.fixed_dictionaries({"arrayValue": st.fixed_dictionaries({"values": st.lists(inner, max_size=3)})})
        | st.fixed_dictionaries(
            {
                "kvlistValue": st.fixed_dictionaries(
                    {"values": st.lists(st.fixed_dictionaries({"key": hostile_text, "value": inner}), max_size=3)}
                )
            }
        )
    )


USAGE_KEYS = [
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "llm.token_count.prompt",
    "gen_ai.usage.cost",
    "gen_ai.request.model",
    "gen_ai.operation.name",
    "service.name",
    "gen_ai.system",
    "llm.model_name",
    "openinference.span.kind",
    "app.feature",
    "user.id",
]
attr = st.fixed_dictionaries({"key": st.sampled_from(USAGE_KEYS) | hostile_text | big_ints, "value": any_value()})
attrs = st.lists(attr, max_size=6) | scalars
hex_id = lambda n: st.integers(min_value=0, max_value=2 ** (8 * n) - 1).map(lambda v: f"{v:0{2 * n}x}")  # noqa: E731
ident = lambda n: hex_id(n) | hostile_text | big_ints | st.none()  # noqa: E731
times = big_ints.map(str) | big_ints | floats | hostile_text | st.none()

json_span = st.fixed_dictionaries(
    {
        "traceId": ident(16),
        "spanId": ident(8),
    },
    optional={
        "parentSpanId": ident(8),
        "name": scalars,
        "kind": scalars,
        "startTimeUnixNano": times,
        "endTimeUnixNano": times,
        "status": st.fixed_dictionaries({}, optional={"code": scalars, "message": scalars | attrs}) | scalars,
        "attributes": attrs,
        "events": st.lists(
            st.fixed_dictionaries({}, optional={"name": scalars, "timeUnixNano": times, "attributes": attrs}),
            max_size=2,
        )
        | scalars,
    },
)
json_doc = st.fixed_dictionaries(
    {
        "resourceSpans": st.lists(
            st.fixed_dictionaries(
                {
                    "resource": st.fixed_dictionaries({"attributes": attrs}) | scalars,
                    "scopeSpans": st.lists(
                        st.fixed_dictionaries(
                            {
                                "scope": st.fixed_dictionaries({}, optional={"name": scalars, "version": scalars})
                                | scalars,
                                "spans": st.lists(json_span, max_size=4) | scalars,
                            }
                        ),
                        max_size=2,
                    )
                    | scalars,
                }
            ),
            max_size=2,
        )
        | scalars
    }
)


@st.composite
def pb_body(draw) -> bytes:
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 2))):
        rs = req.resource_spans.add()
        a = rs.resource.attributes.add()
        a.key, a.value.string_value = "service.name", draw(st.text(max_size=10))
        ss = rs.scope_spans.add()
        for _ in range(draw(st.integers(0, 4))):
            s = ss.spans.add()
            s.trace_id = draw(st.binary(min_size=0, max_size=17))
            s.span_id = draw(st.binary(min_size=0, max_size=9))
            s.parent_span_id = draw(st.binary(max_size=9))
            s.name = draw(st.text(max_size=20))
            s.kind = draw(st.integers(-5, 10))
            s.start_time_unix_nano = draw(st.integers(0, 2**64 - 1))
            s.end_time_unix_nano = draw(st.integers(0, 2**64 - 1))
            s.status.code = draw(st.integers(-3, 5))
            s.status.message = draw(st.text(max_size=10))
            for key in draw(st.lists(st.sampled_from(USAGE_KEYS), max_size=5)):
                kv = s.attributes.add()
                kv.key = key
                kind = draw(st.sampled_from(["s", "i", "d", "b", "a", "k", "y"]))
                if kind == "s":
                    kv.value.string_value = draw(st.text(max_size=20))
                elif kind == "i":
                    kv.value.int_value = draw(st.integers(-(2**63), 2**63 - 1))
                elif kind == "d":
                    kv.value.double_value = draw(floats)
                elif kind == "b":
                    kv.value.bool_value = draw(st.booleans())
                elif kind == "a":
                    kv.value.array_value.values.add().double_value = draw(floats)
                elif kind == "k":
                    kv.value.kvlist_value.values.add().key = draw(st.text(max_size=5))
                else:
                    kv.value.bytes_value = draw(st.binary(max_size=8))
    body = req.SerializeToString()
    if draw(st.booleans()):  # and a few flipped bytes
        buf = bytearray(body)
        for _ in range(draw(st.integers(1, 4))):
            if buf:
                i = draw(st.integers(0, len(buf) - 1))
                buf[i] = draw(st.integers(0, 255))
        body = bytes(buf)
    return body


# ------------------------------------------------------------------ the property
_batches = itertools.count()


def _decode_or_reason(fn, body):
    try:
        return fn(body)
    except PayloadError as exc:
        assert exc.msg  # rejected whole, with a reason
        return None


def _stored_or_rejected(con, decoded: otlp.Decoded) -> None:
    batch = f"fuzz:{next(_batches)}"
    result = loader.load(con, decoded, batch, "fuzz")
    sent = len(decoded.spans) + len(decoded.rejects)
    assert result.spans_new + result.duplicates + len(result.rejects) == sent
    assert all(isinstance(r, str) and r for r in result.rejects)
    cur = con.cursor()
    stored = cur.execute("SELECT count(*) FROM spans WHERE batch_id = ?", [batch]).fetchall()[0][0]
    assert stored == result.spans_new
    bad = cur.execute(
        "SELECT count(*) FROM spans WHERE batch_id = ? AND (NOT regexp_full_match(trace_id, '[0-9a-f]{32}') "
        "OR NOT regexp_full_match(span_id, '[0-9a-f]{16}'))",
        [batch],
    ).fetchall()[0][0]
    assert bad == 0
    again = loader.load(con, decoded, batch, "fuzz")  # a replay adds nothing
    assert again.spans_new == 0 and again.already_loaded


@SETTINGS
@given(doc=json_doc)
def test_random_otlp_json_is_stored_or_rejected(con, doc):
    body = json.dumps(doc, default=str).encode()
    decoded = _decode_or_reason(otlp.decode_json, body)
    if decoded is not None:
        assert all(isinstance(r, str) and r for r in decoded.rejects)
        _stored_or_rejected(con, decoded)


@SETTINGS
@given(body=pb_body())
def test_random_otlp_protobuf_is_stored_or_rejected(con, body):
    checked = None
    try:
        checked = otlp.check_protobuf(body)
    except PayloadError:
        pass
    decoded = _decode_or_reason(otlp.decode_protobuf, body)
    assert (checked is None) == (decoded is None)  # the receiver's check and the loader agree
    if decoded is not None:
        assert checked == (len(decoded.spans), decoded.rejects)
        _stored_or_rejected(con, decoded)


@SETTINGS
@given(
    raw=st.binary(max_size=300) | json_doc.map(lambda d: json.dumps(d, default=str).encode()),
    gz=st.booleans(),
    ctype=st.sampled_from(["application/json", "application/x-protobuf"]),
)
def test_the_receiver_answers_every_body_and_keeps_serving(served, raw, gz, ctype):
    import gzip

    svc = served
    body = gzip.compress(raw) if gz else raw
    headers = {"Content-Type": ctype, **({"Content-Encoding": "gzip"} if gz else {})}
    r = requests.post(f"http://127.0.0.1:{svc.port}/v1/traces", data=body, headers=headers, timeout=30)
    assert r.status_code in (200, 400), (r.status_code, r.text)
    assert r.content is not None
    if r.status_code == 400:  # a google.rpc.Status in the request's encoding, with a reason
        if ctype == "application/json":
            assert r.json()["message"]
        else:
            from google.rpc import status_pb2

            assert status_pb2.Status.FromString(r.content).message


@pytest.fixture
def served(con, db_path, tmp_path):
    svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool").start()
    yield svc
    assert svc.wait_idle(120), svc.stats()
    st_ = svc.stats()
    assert st_["loader_alive"] and st_["pending_batches"] == 0
    # Whatever was acknowledged is stored (decoded again by the loader) or logged as rejected.
    logged = con.cursor().execute("SELECT coalesce(sum(spans_read), 0) FROM ingest_log").fetchall()[0][0]
    assert logged >= st_["accepted_spans"]
    svc.stop()
