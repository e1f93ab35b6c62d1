"""GenAI log events over OTLP/HTTP (`POST /v1/logs`), into the real spool, loader and DuckDB.

The events of a call join it through (trace_id, span_id) whichever arrives first; replays add
nothing; other log records are counted and dropped; file imports read log exports too.
"""

from __future__ import annotations

import gzip
import json

import pytest
import requests
from genai_payloads import call_ids, logs_request, secret_text, spans_request
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from llmledger.store.db import connect
from llmledger.telemetry import loader, otlp
from llmledger.telemetry.ingest import ingest_blobs
from llmledger.telemetry.service import Service

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


@pytest.fixture
def svc(tmp_path):
    con = connect(tmp_path / "ledger.duckdb")
    service = Service(con, db_path=tmp_path / "ledger.duckdb", port=0, host="127.0.0.1").start()
    yield service
    service.stop()
    con.close()


def post(svc, path: str, body: bytes, headers=PB) -> requests.Response:
    return requests.post(f"http://127.0.0.1:{svc.port}{path}", data=body, headers=headers, timeout=30)


def calls(con):
    return con.execute(
        "SELECT trace_id, input_tokens, output_tokens, usage_source, input_text, output_text FROM calls ORDER BY 1"
    ).fetchall()


@pytest.mark.parametrize("order", ["spans-then-logs", "logs-then-spans", "interleaved-replays"])
def test_events_join_their_call_whichever_arrives_first(svc, order):
    keys = call_ids(5, 1)
    spans, logs = spans_request(keys), logs_request(keys, other_logs=2)
    plan = {
        "spans-then-logs": [("/v1/traces", spans), ("/v1/logs", logs)],
        "logs-then-spans": [("/v1/logs", logs), ("/v1/traces", spans)],
        "interleaved-replays": [("/v1/logs", logs), ("/v1/logs", logs), ("/v1/traces", spans), ("/v1/logs", logs)],
    }[order]
    for path, body in plan:
        r = post(svc, path, body)
        assert r.status_code == 200, r.text
        if path == "/v1/logs":
            resp = ExportLogsServiceResponse.FromString(r.content)
            assert resp.partial_success.rejected_log_records == 0
    assert svc.wait_idle(60)
    con = svc.con.cursor()
    rows = calls(con)
    assert len(rows) == 5  # one call each, whatever the order and the replays
    for (tid, sid), (trace, n_in, n_out, source, text_in, text_out) in zip(sorted(keys), rows):
        assert trace == tid
        assert (n_in, n_out, source) == (21 + keys.index((tid, sid)), 9, "reported")  # the span's own usage
        assert text_in == secret_text(tid, "system") + "\n" + secret_text(tid, "user")
        assert text_out == secret_text(tid, "answer")
    # Text once: three messages per call, whatever was replayed.
    assert con.execute("SELECT count(*), count(DISTINCT content) FROM call_messages").fetchone() == (15, 15)
    assert con.execute("SELECT count(*) FROM genai_events").fetchone()[0] == 15
    n_logs_posts = sum(1 for p, _ in plan if p == "/v1/logs")
    assert con.execute("SELECT sum(logs_dropped), sum(events_new) FROM ingest_log").fetchone() == (2 * n_logs_posts, 15)


def test_usage_on_the_event_fills_a_call_without_usage(svc):
    keys = call_ids(3, 2)
    assert post(svc, "/v1/traces", spans_request(keys, usage=False)).status_code == 200
    assert svc.wait_idle(60)
    assert post(svc, "/v1/logs", logs_request(keys, usage_on_event=True, details=True)).status_code == 200
    assert svc.wait_idle(60)
    con = svc.con.cursor()
    for i, (tid, _) in enumerate(keys):
        n_in, n_out, source = con.execute(
            "SELECT input_tokens, output_tokens, usage_source FROM calls WHERE trace_id = ?", [tid]
        ).fetchone()
        assert (n_in, n_out, source) == (31 + i, 11, "reported")
    assert con.execute("SELECT count(*) FROM genai_events WHERE gave_usage").fetchone()[0] == 3
    # The details event's messages: one user message in, one answer out, per call.
    assert con.execute("SELECT kind, count(*) FROM call_messages GROUP BY 1 ORDER BY 1").fetchall() == [
        ("input", 3),
        ("output", 3),
    ]


def test_json_gzip_and_partial_success(svc):
    keys = call_ids(2, 3)
    doc = json.loads(
        json.dumps(
            {
                "resourceLogs": [
                    {
                        "scopeLogs": [
                            {
                                "logRecords": [
                                    {
                                        "traceId": keys[0][0],
                                        "spanId": keys[0][1],
                                        "eventName": "gen_ai.user.message",
                                        "timeUnixNano": "1700000000000000001",
                                        "body": {
                                            "kvlistValue": {
                                                "values": [{"key": "content", "value": {"stringValue": "hi there"}}]
                                            }
                                        },
                                    },
                                    {"traceId": "abc", "spanId": keys[0][1], "body": {"stringValue": "bad id"}},
                                    {"body": {"stringValue": "plain log"}},
                                ]
                            }
                        ]
                    }
                ]
            }
        )
    )
    r = post(svc, "/v1/logs", gzip.compress(json.dumps(doc).encode()), {**JS, "Content-Encoding": "gzip"})
    assert r.status_code == 200
    ps = r.json()["partialSuccess"]
    assert ps["rejectedLogRecords"] == "1" and "traceId" in ps["errorMessage"]
    assert svc.wait_idle(60)
    con = svc.con.cursor()
    assert con.execute("SELECT content FROM call_messages").fetchall() == [("hi there",)]
    assert con.execute("SELECT logs_read, events_new, logs_dropped, rejects FROM ingest_log").fetchone() == (3, 1, 1, 1)


@pytest.mark.parametrize(
    "body, headers, status",
    [
        (b"\xff\x00garbage", PB, 400),
        (b'{"resourceSpans": []}', JS, 400),  # a trace export sent to /v1/logs
        (b"not json", JS, 400),
        (b"{}", {"Content-Type": "text/plain"}, 415),
    ],
)
def test_bad_log_requests_get_a_reason_and_the_server_keeps_serving(svc, body, headers, status):
    r = post(svc, "/v1/logs", body, headers)
    assert r.status_code == status
    assert post(svc, "/v1/logs", logs_request(call_ids(1, 4))).status_code == 200


def test_log_files_import_jsonl_and_pb(tmp_path):
    """The Collector's file exporter writes one {"resourceLogs": [...]} per line; .pb holds an
    ExportLogsServiceRequest. Importing them twice adds nothing."""
    from google.protobuf.json_format import MessageToDict

    keys = call_ids(4, 5)
    con = connect(tmp_path / "l.duckdb")
    req = ExportLogsServiceRequest.FromString(logs_request(keys[:2]))
    line = json.dumps(MessageToDict(req))  # proto3 JSON: hex ids are base64 there, like the Collector's
    blobs = [
        ("logs.jsonl", (line + "\n" + line + "\n").encode()),
        ("export.pb", logs_request(keys[2:])),
        ("traces.pb", spans_request(keys)),
    ]
    first = ingest_blobs(con, blobs, source="test")
    again = ingest_blobs(con, blobs, source="test")
    assert first.calls_new == 4 and again.calls_new == 0
    assert first.events_new == 12 and again.events_new == 0
    assert con.execute("SELECT count(*) FROM call_messages").fetchone()[0] == 12
    assert con.execute("SELECT count(*) FROM calls WHERE input_text LIKE 'SECRET-system%'").fetchone()[0] == 4
    con.close()


def test_protobuf_file_kind_is_detected():
    keys = call_ids(2, 6)
    as_logs = otlp.decode_file_bytes("x.pb", logs_request(keys))
    as_spans = otlp.decode_file_bytes("x.pb", spans_request(keys))
    assert (len(as_logs.logs), len(as_logs.spans)) == (6, 0)
    assert (len(as_spans.logs), len(as_spans.spans)) == (0, 2)


def test_load_is_idempotent_by_record(tmp_path):
    con = connect(tmp_path / "i.duckdb")
    keys = call_ids(2, 7)
    body = logs_request(keys)
    for bid in ("a", "b", "c"):  # three batch ids, same records
        loader.load(con, otlp.decode_file_bytes("x.logs.pb", body), bid, "test")
    assert con.execute("SELECT count(*) FROM genai_events").fetchone()[0] == 6
    assert con.execute("SELECT count(*) FROM call_messages").fetchone()[0] == 6
    con.close()
