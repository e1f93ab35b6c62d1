"""The OTLP/HTTP receiver on a loopback port, with its spool and loader, into a real DuckDB.

Every answer is checked against the OTLP/HTTP spec, every bad request is followed by a good one
(the server keeps serving), and the real opentelemetry-sdk exporter talks to it.
"""

from __future__ import annotations

import gzip
import http.client
import json
import random
import threading

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llmledger.telemetry.service import Service
from llmledger.telemetry.spool import Spool

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


# ------------------------------------------------------------------ payloads
def ids(n: int, seed: int) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    return [(f"{rnd.getrandbits(128) | 1:032x}", f"{rnd.getrandbits(64) | 1:016x}") for _ in range(n)]


def pb_request(keys, model: str = "gpt-4o-mini", bad_trace_ids: int = 0) -> bytes:
    """A GenAI chat span per key (protobuf); the first `bad_trace_ids` get a 5-byte trace id."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "checkout"
    ss = rs.scope_spans.add()
    ss.scope.name = "test"
    for i, (tid, sid) in enumerate(keys):
        s = ss.spans.add()
        s.trace_id = bytes.fromhex(tid)[:5] if i < bad_trace_ids else bytes.fromhex(tid)
        s.span_id = bytes.fromhex(sid)
        s.name = f"chat {model}"
        s.kind = 3
        s.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        s.end_time_unix_nano = 1_700_000_000_500_000_000 + i
        for key, val in (
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.request.model", model),
            ("gen_ai.system", "openai"),
        ):
            a = s.attributes.add()
            a.key, a.value.string_value = key, val
        for key, val in (("gen_ai.usage.input_tokens", 100 + i), ("gen_ai.usage.output_tokens", 7)):
            a = s.attributes.add()
            a.key, a.value.int_value = key, val
    return req.SerializeToString()


def json_request(keys, bad_trace_ids: int = 0) -> bytes:
    spans = []
    for i, (tid, sid) in enumerate(keys):
        spans.append(
            {
                "traceId": "not-hex" if i < bad_trace_ids else tid.upper(),  # hex, any case
                "spanId": sid,
                "name": "chat gpt-4o-mini",
                "kind": "SPAN_KIND_CLIENT",  # enum by name
                "startTimeUnixNano": str(1_700_000_000_000_000_000 + i),  # int64 as string
                "endTimeUnixNano": 1_700_000_000_500_000_000 + i,
                "status": {"code": 1},
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(100 + i)}},
                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 7}},
                ],
            }
        )
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
                    "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
                }
            ]
        }
    ).encode()


# ------------------------------------------------------------------ fixtures
@pytest.fixture
def make_service(con, db_path, tmp_path):
    started = []

    def make(**kw) -> Service:
        kw.setdefault("spool_dir", tmp_path / "spool")
        svc = Service(con, db_path=db_path, port=0, **kw)
        svc.start()
        started.append(svc)
        return svc

    yield make
    for svc in started:
        svc.stop()


@pytest.fixture
def svc(make_service) -> Service:
    return make_service()


def url(svc: Service, path: str = "/v1/traces") -> str:
    return f"http://127.0.0.1:{svc.port}{path}"


def count(con, sql: str) -> int:
    return con.cursor().execute(sql).fetchall()[0][0]


def assert_serving(svc: Service, seed: int) -> None:
    r = requests.post(url(svc), data=pb_request(ids(1, seed)), headers=PB, timeout=10)
    assert r.status_code == 200, r.content


# ------------------------------------------------------------------ encodings
def test_protobuf_json_and_gzip_are_accepted_and_loaded(svc, con):
    bodies = [
        (pb_request(ids(3, 1)), PB),
        (json_request(ids(3, 2)), JS),
        (gzip.compress(pb_request(ids(3, 3))), {**PB, "Content-Encoding": "gzip"}),
        (gzip.compress(json_request(ids(3, 4))), {**JS, "Content-Encoding": "gzip"}),
    ]
    for body, headers in bodies:
        r = requests.post(url(svc), data=body, headers=headers, timeout=10)
        assert r.status_code == 200, r.content
        assert r.headers["Content-Type"] == headers["Content-Type"]
        if headers is PB or headers["Content-Type"] == PB["Content-Type"]:
            resp = ExportTraceServiceResponse.FromString(r.content)
            assert not resp.HasField("partial_success")
        else:
            assert r.json() == {}
    assert svc.wait_idle(30)
    assert count(con, "SELECT count(*) FROM spans") == 12
    assert count(con, "SELECT count(*) FROM llm_calls WHERE input_tokens >= 100 AND output_tokens = 7") == 12
    # JSON specifics survived: upper-case hex ids lowered, enum by name, int64 strings.
    row = (
        con.cursor()
        .execute("SELECT kind, status_code, epoch_ns(start_time) FROM spans WHERE trace_id = ?", [ids(3, 2)[0][0]])
        .fetchall()
    )
    assert row == [("CLIENT", "OK", 1_700_000_000_000_000_000)]


def test_partial_success_names_rejected_spans(svc, con):
    r = requests.post(url(svc), data=json_request(ids(4, 10), bad_trace_ids=1), headers=JS, timeout=10)
    assert r.status_code == 200
    ps = r.json()["partialSuccess"]
    assert int(ps["rejectedSpans"]) == 1
    assert "traceId" in ps["errorMessage"]

    r = requests.post(url(svc), data=pb_request(ids(5, 11), bad_trace_ids=2), headers=PB, timeout=10)
    assert r.status_code == 200
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 2
    assert "trace_id must be 16" in resp.partial_success.error_message
    assert svc.wait_idle(30)
    assert count(con, "SELECT count(*) FROM spans") == 3 + 3
    assert svc.stats()["rejected_spans"] == 3


# ------------------------------------------------------------------ bad requests
BAD = [
    ("malformed json", b"{not json", JS, 400),
    ("json without resourceSpans", b'{"hello": 1}', JS, 400),
    ("garbage protobuf", b"\xff\xff\xff\xff\x0f\x00garbage", PB, 400),
    ("bad gzip", b"\x1f\x8bnot really gzip", {**PB, "Content-Encoding": "gzip"}, 400),
    ("text/plain", b"hello", {"Content-Type": "text/plain"}, 415),
    ("no content type", b"hello", {}, 415),
    ("brotli", b"hello", {**PB, "Content-Encoding": "br"}, 415),
]


@pytest.mark.parametrize("what,body,headers,status", BAD, ids=[b[0] for b in BAD])
def test_bad_request_gets_reason_and_server_keeps_serving(svc, what, body, headers, status):
    r = requests.post(url(svc), data=body, headers=headers, timeout=10)
    assert r.status_code == status
    if headers.get("Content-Type") == PB["Content-Type"]:
        st = status_pb2.Status.FromString(r.content)
        assert st.code == 3 and st.message
    else:
        assert r.json()["message"]
    assert_serving(svc, 99)


def test_paths_and_methods(svc):
    assert requests.post(url(svc, "/v1/metrics"), data=b"x", headers=PB, timeout=10).status_code == 404
    assert requests.get(url(svc, "/"), timeout=10).status_code == 404
    r = requests.get(url(svc), timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert requests.put(url(svc), data=b"x", headers=PB, timeout=10).status_code == 405
    assert requests.delete(url(svc), timeout=10).status_code == 405
    assert_serving(svc, 98)


def test_too_large_raw_and_after_gunzip(make_service, con):
    svc = make_service(max_bytes=64 * 1024)
    r = requests.post(url(svc), data=b"\0" * (200 * 1024), headers=PB, timeout=10)
    assert r.status_code == 413 and "exceeds" in status_pb2.Status.FromString(r.content).message
    assert_serving(svc, 1)
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))  # ~50 KB on the wire, 50 MB inflated
    assert len(bomb) < 64 * 1024
    r = requests.post(url(svc), data=bomb, headers={**PB, "Content-Encoding": "gzip"}, timeout=30)
    assert r.status_code == 413
    assert "decompressed" in status_pb2.Status.FromString(r.content).message
    assert_serving(svc, 2)
    # A keep-alive connection survives a refused body: the next request on it still works.
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=10)
    conn.request("POST", "/v1/traces", body=b"\0" * (100 * 1024), headers=PB)
    assert conn.getresponse().read() is not None
    conn.request("POST", "/v1/traces", body=pb_request(ids(1, 3)), headers=PB)
    assert conn.getresponse().status == 200
    conn.close()
    assert svc.wait_idle(30)
    assert count(con, "SELECT count(*) FROM spans") == 3


def test_bearer_token(make_service):
    svc = make_service(token="s3cret")
    body = pb_request(ids(1, 5))
    r = requests.post(url(svc), data=body, headers=PB, timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = requests.post(url(svc), data=body, headers={**PB, "Authorization": "Bearer wrong"}, timeout=10)
    assert r.status_code == 401
    r = requests.post(url(svc), data=body, headers={**PB, "Authorization": "Bearer s3cret"}, timeout=10)
    assert r.status_code == 200


def test_chunked_body(svc, con):
    body = json_request(ids(2, 6))
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=10)
    conn.request("POST", "/v1/traces", body=iter([body[:10], body[10:]]), headers=JS, encode_chunked=True)
    assert conn.getresponse().status == 200
    conn.close()
    assert svc.wait_idle(30)
    assert count(con, "SELECT count(*) FROM spans") == 2


# ------------------------------------------------------------------ exactly once
def test_replayed_requests_add_nothing(svc, con):
    body = pb_request(ids(20, 7))
    for _ in range(3):
        assert requests.post(url(svc), data=body, headers=PB, timeout=10).status_code == 200
    assert svc.wait_idle(30)
    assert count(con, "SELECT count(*) FROM spans") == 20
    assert count(con, "SELECT count(*) FROM llm_calls") == 20
    assert count(con, "SELECT sum(spans_new) FROM ingest_log") == 20
    assert count(con, "SELECT sum(duplicates) FROM ingest_log") == 40


def test_concurrent_senders_each_span_lands_once(svc, con):
    senders, requests_each, spans_each = 6, 12, 40
    failures: list[str] = []

    def send(n: int) -> None:
        with requests.Session() as s:
            for k in range(requests_each):
                body = pb_request(ids(spans_each, 1000 * n + k))
                r = s.post(url(svc), data=body, headers=PB, timeout=30)
                if r.status_code != 200:
                    failures.append(f"{n}/{k}: {r.status_code}")

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert svc.wait_idle(60)
    total = senders * requests_each * spans_each
    assert count(con, "SELECT count(*) FROM spans") == total
    assert count(con, "SELECT count(DISTINCT (trace_id, span_id)) FROM spans") == total
    assert count(con, "SELECT count(*) FROM llm_calls") == total
    assert count(con, "SELECT count(*) FROM ingest_log") == senders * requests_each
    assert list(Spool(svc.spool_dir).pending()) == []


# ------------------------------------------------------------------ durability
def test_leftover_spool_is_loaded_on_start(con, db_path, tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.append(pb_request(ids(4, 20)), "protobuf")
    spool.append(gzip.compress(json_request(ids(3, 21))), "json", gzipped=True)
    (tmp_path / "spool" / "x.pb.tmp").write_bytes(b"never acknowledged")
    bad = spool.append(b"\xff\xff\xff\xff garbage", "protobuf")
    svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool").start()
    try:
        assert svc.wait_idle(30)
        assert count(con, "SELECT count(*) FROM spans") == 7
        assert not (tmp_path / "spool" / "x.pb.tmp").exists()
        assert (spool.failed_dir / bad.name).exists()  # quarantined, not blocking
        assert "cannot decode" in (spool.failed_dir / (bad.name + ".reason")).read_text()
        assert Spool(tmp_path / "spool").pending() == []
    finally:
        svc.stop()


def test_stop_flushes_and_restart_replays_nothing_twice(con, db_path, tmp_path):
    svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool").start()
    for k in range(5):
        requests.post(url(svc), data=pb_request(ids(10, 30 + k)), headers=PB, timeout=10)
    svc.stop()
    assert count(con, "SELECT count(*) FROM spans") == 50
    again = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool").start()
    again.stop()
    assert count(con, "SELECT count(*) FROM spans") == 50


def test_stats_and_on_loaded(svc):
    fired = threading.Event()
    svc.on_loaded.append(lambda: (_ for _ in ()).throw(RuntimeError("listener bug")))
    svc.on_loaded.append(fired.set)
    requests.post(url(svc), data=pb_request(ids(8, 40)), headers=PB, timeout=10)
    assert fired.wait(30)
    assert svc.wait_idle(30)
    st = svc.stats()
    for key in (
        "running",
        "host",
        "port",
        "requests",
        "accepted_spans",
        "rejected_spans",
        "spans_per_s",
        "pending_batches",
        "last_error",
        "last_request_at",
    ):
        assert key in st
    assert st["running"] and st["port"] == svc.port and st["host"] == "127.0.0.1"
    assert st["requests"] == 1 and st["accepted_spans"] == 8 and st["pending_batches"] == 0
    assert st["spans_per_s"] > 0 and st["last_request_at"]


# ------------------------------------------------------------------ the real SDK exporter
@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_real_sdk_exporter(svc, con, compression):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-test", "app.team": "growth"}))
    exporter = OTLPSpanExporter(endpoint=url(svc), compression=Compression(compression), timeout=10)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("sdk-test")
    with tracer.start_as_current_span("workflow") as root:
        root.set_attribute("app.feature", "summarise")
        for i in range(3):
            with tracer.start_as_current_span("chat gpt-4o-mini") as span:
                span.set_attribute("gen_ai.operation.name", "chat")
                span.set_attribute("gen_ai.system", "openai")
                span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
                span.set_attribute("gen_ai.usage.input_tokens", 50 + i)
                span.set_attribute("gen_ai.usage.output_tokens", 5)
    assert provider.force_flush(10_000)
    provider.shutdown()
    assert svc.wait_idle(30)
    assert count(con, "SELECT count(*) FROM spans WHERE service = 'sdk-test'") == 4
    rows = (
        con.cursor()
        .execute("SELECT input_tokens, output_tokens, feature, team, service FROM llm_calls ORDER BY input_tokens")
        .fetchall()
    )
    assert rows == [(50 + i, 5, "summarise", "growth", "sdk-test") for i in range(3)]


def test_large_groups_are_prepared_in_the_worker_process_exactly_once(con, db_path, tmp_path):
    """A backlog of big requests is decoded and mapped in the loader's worker process (the path
    a busy receiver takes); a broken file is still quarantined, and a replay adds nothing."""
    from llmledger.telemetry import service as service_mod

    spool = Spool(tmp_path / "spool")
    bodies = [pb_request(ids(512, 50 + k)) for k in range(5)]
    for body in bodies:
        spool.append(body, "protobuf")
    spool.append(gzip.compress(json_request(ids(512, 60))), "json", gzipped=True)
    bad = spool.append(b"\x0a\xff\xff\xff not protobuf", "protobuf")
    assert 6 * 512 >= service_mod.PROCESS_MIN_SPANS
    svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool").start()
    try:
        assert svc.wait_idle(120)
        assert svc.decode_in_process >= 1  # the worker process did the preparing
        assert count(con, "SELECT count(*) FROM spans") == 6 * 512
        assert count(con, "SELECT count(*) FROM llm_calls") == 6 * 512
        assert count(con, "SELECT sum(input_tokens) FROM llm_calls") == 6 * sum(100 + i for i in range(512))
        assert (spool.failed_dir / bad.name).exists()
        before = svc.decode_in_process
        big = pb_request(ids(512, 50) + ids(512, 51) + ids(512, 52) + ids(512, 53) + ids(512, 70))
        r = requests.post(url(svc), data=big, headers=PB, timeout=30)
        assert r.status_code == 200, r.content
        assert svc.wait_idle(120)
        assert svc.decode_in_process > before
        assert count(con, "SELECT count(*) FROM spans") == 7 * 512  # only ids(512, 70) is new
        assert count(con, "SELECT count(DISTINCT (trace_id, span_id)) FROM spans") == 7 * 512
        assert count(con, "SELECT duplicates FROM ingest_log ORDER BY received_at DESC LIMIT 1") == 4 * 512
        assert Spool(tmp_path / "spool").pending() == []
    finally:
        svc.stop()
