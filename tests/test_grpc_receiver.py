"""The OTLP/gRPC receiver on a loopback port, with the real spool, loader and DuckDB.

Clients are real: the opentelemetry-sdk's gRPC span exporter, and grpc stubs from the service
definitions opentelemetry-proto ships. Every refusal is checked for its status code, and each
is followed by a good request (the server keeps serving).
"""

from __future__ import annotations

import gzip

import grpc
import pytest
from genai_payloads import call_ids, logs_request, secret_text, spans_request
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmledger.errors import StoreError
from llmledger.store.db import connect
from llmledger.telemetry.service import Service

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def start(tmp_path, con=True, **kw) -> Service:
    db = tmp_path / "ledger.duckdb"
    c = connect(db) if con else None
    return Service(c, db_path=db, host="127.0.0.1", port=0, grpc_port=0, **kw).start()


@pytest.fixture
def svc(tmp_path):
    service = start(tmp_path)
    yield service
    service.stop()
    service.con.close()


def channel(svc, compression=None) -> grpc.Channel:
    return grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}", compression=compression)


def raw_call(svc, method: str, body: bytes, metadata=()):
    with channel(svc) as ch:
        return ch.unary_unary(method)(body, metadata=metadata, timeout=30)  # bytes in, bytes out


def test_sdk_exporter_over_grpc_with_gzip(svc):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import Compression, OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "grpc-test"}))
    exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{svc.grpc_port}", insecure=True, compression=Compression.Gzip)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for i in range(3):
        with tracer.start_as_current_span("chat gpt-4o-mini") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            span.set_attribute("gen_ai.usage.input_tokens", 10 + i)
            span.set_attribute("gen_ai.usage.output_tokens", 3)
    provider.shutdown()
    assert svc.wait_idle(60)
    rows = svc.con.cursor().execute("SELECT input_tokens, service FROM llm_calls ORDER BY 1").fetchall()
    assert rows == [(10, "grpc-test"), (11, "grpc-test"), (12, "grpc-test")]
    assert svc.stats()["accepted_spans"] == 3


def test_spans_and_logs_over_grpc_join_once(svc):
    keys = call_ids(4, 11)
    with channel(svc, grpc.Compression.Gzip) as ch:
        logs_stub = logs_service_pb2_grpc.LogsServiceStub(ch)
        trace_stub = trace_service_pb2_grpc.TraceServiceStub(ch)
        logs = ExportLogsServiceRequest.FromString(logs_request(keys))
        for _ in range(2):  # a replay adds nothing
            resp = logs_stub.Export(logs, timeout=30)
            assert resp.partial_success.rejected_log_records == 0
        trace_stub.Export(ExportTraceServiceRequest.FromString(spans_request(keys)), timeout=30)
    assert svc.wait_idle(60)
    con = svc.con.cursor()
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 4
    assert con.execute("SELECT count(*) FROM call_messages").fetchone()[0] == 12
    for tid, _ in keys:
        assert con.execute("SELECT output_text FROM calls WHERE trace_id = ?", [tid]).fetchone()[0] == secret_text(
            tid, "answer"
        )
    assert con.execute("SELECT sum(logs_dropped) FROM ingest_log").fetchone()[0] == 2


def test_partial_success_names_the_rejected_spans(svc):
    req = ExportTraceServiceRequest.FromString(spans_request(call_ids(3, 12)))
    req.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x01\x02\x03"
    with channel(svc) as ch:
        resp = trace_service_pb2_grpc.TraceServiceStub(ch).Export(req, timeout=30)
    assert resp.partial_success.rejected_spans == 1
    assert "trace_id must be 16 non-zero bytes" in resp.partial_success.error_message
    assert svc.wait_idle(60)
    assert svc.con.cursor().execute("SELECT count(*) FROM calls").fetchone()[0] == 2


@pytest.mark.parametrize("method", [TRACE_EXPORT, LOGS_EXPORT])
@pytest.mark.parametrize("body", [b"\xff\xff\xff\xff", b"\x0a\x05\x0a\x03\x0a", b"\x08" + b"\xff" * 11])
def test_malformed_messages_are_invalid_argument(svc, method, body):
    with pytest.raises(grpc.RpcError) as err:
        raw_call(svc, method, body)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid OTLP protobuf" in err.value.details()
    assert raw_call(svc, method, b"") == b""  # an empty request is valid and the server keeps serving


def test_bearer_token_from_metadata(tmp_path):
    svc = start(tmp_path, token="s3cret")
    try:
        body = spans_request(call_ids(1, 13))
        for metadata in ((), (("authorization", "Bearer wrong"),), (("authorization", "Basic s3cret"),)):
            with pytest.raises(grpc.RpcError) as err:
                raw_call(svc, TRACE_EXPORT, body, metadata)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        raw_call(svc, TRACE_EXPORT, body, (("authorization", "Bearer s3cret"),))
        assert svc.wait_idle(60)
        assert svc.con.cursor().execute("SELECT count(*) FROM calls").fetchone()[0] == 1
    finally:
        svc.stop()
        svc.con.close()


def test_oversized_messages_are_resource_exhausted(tmp_path):
    svc = start(tmp_path, max_bytes=20_000)
    try:
        big = spans_request(call_ids(200, 14))
        assert len(big) > 20_000
        with pytest.raises(grpc.RpcError) as err:
            raw_call(svc, TRACE_EXPORT, big)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Small on the wire, big once decompressed: the limit holds after gunzip too.
        with channel(svc, grpc.Compression.Gzip) as ch:
            padded = ExportLogsServiceRequest.FromString(logs_request(call_ids(1, 15)))
            padded.resource_logs[0].scope_logs[0].log_records[0].severity_text = "x" * 100_000
            assert len(gzip.compress(padded.SerializeToString())) < 20_000
            with pytest.raises(grpc.RpcError) as err:
                logs_service_pb2_grpc.LogsServiceStub(ch).Export(padded, timeout=30)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        raw_call(svc, TRACE_EXPORT, spans_request(call_ids(2, 16)))  # still serving
    finally:
        svc.stop()
        svc.con.close()


def test_spool_full_is_unavailable_with_a_retry_delay(tmp_path):
    """The loader cannot reach the database (held elsewhere, say), the spool fills: the next
    request is UNAVAILABLE, which exporters retry, with RetryInfo saying when."""
    from google.rpc import error_details_pb2

    def no_db():
        raise StoreError("database held by another process")

    db = tmp_path / "ledger.duckdb"
    svc = Service(None, db_path=db, host="127.0.0.1", port=0, grpc_port=0, connect=no_db, spool_max_bytes=1).start()
    try:
        raw_call(svc, TRACE_EXPORT, spans_request(call_ids(2, 17)))  # the first one always fits
        with pytest.raises(grpc.RpcError) as err:
            raw_call(svc, TRACE_EXPORT, spans_request(call_ids(2, 18)))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "spool is full" in err.value.details()
        info = error_details_pb2.RetryInfo.FromString(dict(err.value.trailing_metadata())["google.rpc.retryinfo-bin"])
        assert info.retry_delay.seconds > 0
    finally:
        svc.stop(timeout=1)


def test_busy_grpc_port_leaves_http_serving(tmp_path, svc):
    other = Service(
        connect(tmp_path / "other.duckdb"), db_path=tmp_path / "other.duckdb", port=0, grpc_port=svc.grpc_port
    ).start()
    try:
        assert other.grpc is None and "cannot listen for OTLP/gRPC" in other.stats()["grpc_error"]
        assert other.receiver is not None and other.port
    finally:
        other.stop()
        other.con.close()
