"""Property-based: arbitrary and mutated OTLP log payloads (JSON and protobuf) through the log
decoder, the receivers' check and the loader into a real DuckDB file. Allowed outcomes: stored,
counted and dropped, or rejected with a reason; no exception escapes; the count the receiver
acknowledges is the count the loader sees; a replay adds nothing.

CI runs a fixed, derandomized sample; `LLMLEDGER_FUZZ_EXAMPLES=5000` for a longer run.
"""

from __future__ import annotations

import json
import os

import pytest
from genai_payloads import call_ids, logs_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.errors import PayloadError
from llmledger.store.db import connect
from llmledger.telemetry import intake, loader, logs, otlp

EXAMPLES = int(os.environ.get("LLMLEDGER_FUZZ_EXAMPLES", "100"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize="LLMLEDGER_FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
VALID = logs_request(call_ids(3, 21), usage_on_event=True, other_logs=2)

text = st.sampled_from(
    ["", "gen_ai.user.message", "gen_ai.choice", "gen_ai.client.inference.operation.details", "\x00", "9" * 40]
) | st.text(max_size=30)
scalar = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | text
any_value = st.recursive(
    st.fixed_dictionaries({"stringValue": scalar})
    | st.fixed_dictionaries({"intValue": scalar})
    | st.fixed_dictionaries({"doubleValue": scalar})
    | scalar,
    lambda inner: (
        st.fixed_dictionaries(
            {
                "kvlistValue": st.fixed_dictionaries(
                    {"values": st.lists(st.fixed_dictionaries({"key": text, "value": inner}), max_size=3)}
                )
            }
        )
        | st.fixed_dictionaries({"arrayValue": st.fixed_dictionaries({"values": st.lists(inner, max_size=3)})})
        | st.lists(inner, max_size=3)
    ),
    max_leaves=6,
)
hexish = st.sampled_from(["0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "", "00" * 16, "zz", "abc"]) | text
record = st.fixed_dictionaries(
    {},
    optional={
        "traceId": hexish | scalar,
        "spanId": hexish | scalar,
        "eventName": text | scalar,
        "timeUnixNano": scalar,
        "observedTimeUnixNano": scalar,
        "body": any_value,
        "attributes": st.lists(st.fixed_dictionaries({"key": text | scalar, "value": any_value}), max_size=4) | scalar,
    },
)
doc = st.fixed_dictionaries(
    {
        "resourceLogs": st.lists(
            st.fixed_dictionaries(
                {
                    "scopeLogs": st.lists(
                        st.fixed_dictionaries({"logRecords": st.lists(record, max_size=4) | scalar}), max_size=2
                    )
                    | scalar
                }
            )
            | scalar,
            max_size=3,
        )
        | scalar
    }
)


def accounted(d: otlp.Decoded) -> None:
    assert len(d.logs) + d.logs_dropped <= d.logs_read
    assert d.log_rejects == len(d.rejects)
    assert all(isinstance(r, str) and r for r in d.rejects)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    c = connect(tmp_path_factory.mktemp("fuzz") / "logs.duckdb")
    yield c
    c.close()


_n = iter(range(10**9))


def load_twice(con, decoded: otlp.Decoded) -> None:
    bid = f"fuzz-{next(_n)}"
    first = loader.load(con, decoded, bid, "fuzz")
    assert first.events_new <= len(decoded.logs)
    assert all(isinstance(r, str) and r for r in first.rejects)
    again = loader.load(con, decoded, bid + "-replay", "fuzz")
    assert again.events_new == 0  # the same records under another batch id add nothing


@SETTINGS
@given(doc)
def test_arbitrary_json_is_stored_dropped_or_rejected(con, d):
    body = json.dumps(d, default=str).encode()
    try:
        decoded = otlp.decode_json(body, "logs")
    except PayloadError as exc:
        assert exc.msg
        with pytest.raises(PayloadError):
            intake.check("logs", body, False)
        return
    accounted(decoded)
    assert intake.check("logs", body, False).valid == decoded.logs_read - decoded.log_rejects
    load_twice(con, decoded)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_protobuf_is_stored_dropped_or_rejected(con, edits):
    body = bytearray(VALID)
    for pos, byte, op in edits:
        pos = min(pos, len(body) - 1)
        if op == "set":
            body[pos] = byte
        elif op == "insert":
            body.insert(pos, byte)
        elif len(body) > 1:
            del body[pos]
    body = bytes(body)
    try:
        decoded = logs.decode_protobuf_logs(body)
    except PayloadError as exc:
        assert "not a valid OTLP protobuf ExportLogsServiceRequest" in exc.msg
        with pytest.raises(PayloadError):
            intake.check("logs", body, True)
        return
    accounted(decoded)
    # The receiver's check and the loader's decode agree on what is usable.
    valid = intake.check("logs", body, True).valid
    assert valid == decoded.logs_read - decoded.log_rejects
    load_twice(con, decoded)


def test_valid_sample_keeps_events_and_drops_the_rest(con):
    d = logs.decode_protobuf_logs(VALID)
    assert (len(d.logs), d.logs_dropped, d.log_rejects) == (9, 2, 0)
