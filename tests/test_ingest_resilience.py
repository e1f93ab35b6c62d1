"""Ingest that never stops: each finding of the attack review, replayed against the real receiver
on a loopback port, with its spool and loader writing a real DuckDB file.

Every case ends the same way: the hostile request is answered as specified, a valid batch sent
afterwards is loaded, and nothing acknowledged is lost or stored twice.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llmledger.telemetry import otlp
from llmledger.telemetry.service import Service
from llmledger.telemetry.spool import Spool

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
T0 = 1_700_000_000_000_000_000


def span(n: int, **over) -> dict:
    s = {
        "traceId": f"{n + 1:032x}",
        "spanId": f"{n + 1:016x}",
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": str(T0 + n),
        "endTimeUnixNano": str(T0 + n + 500_000_000),
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "100"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 7}},
        ],
    }
    s.update(over)
    return s


def request(spans: list[dict], resource: list | None = None) -> bytes:
    res = resource if resource is not None else [{"key": "service.name", "value": {"stringValue": "svc"}}]
    return json.dumps(
        {"resourceSpans": [{"resource": {"attributes": res}, "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}
    ).encode()


def pb_request(n: int, base: int, start: int = T0) -> bytes:
    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        s = ss.spans.add()
        s.trace_id = (base + i + 1).to_bytes(16, "big")
        s.span_id = (base + i + 1).to_bytes(8, "big")
        s.name = "chat"
        s.start_time_unix_nano = start + i
        s.end_time_unix_nano = min(start + i + 1000, 2**64 - 1)
    return req.SerializeToString()


@pytest.fixture
def make_service(con, db_path, tmp_path):
    started = []

    def make(**kw) -> Service:
        kw.setdefault("spool_dir", tmp_path / "spool")
        svc = Service(kw.pop("con", con), db_path=db_path, port=0, **kw)
        svc.start()
        started.append(svc)
        return svc

    yield make
    for svc in started:
        svc.stop(timeout=30)


@pytest.fixture
def svc(make_service) -> Service:
    return make_service()


def post(svc: Service, body: bytes, headers=JS, **kw) -> requests.Response:
    return requests.post(f"http://127.0.0.1:{svc.port}/v1/traces", data=body, headers=headers, timeout=30, **kw)


def rows(con, sql: str):
    return con.cursor().execute(sql).fetchall()


def assert_still_loading(svc: Service, con, n: int) -> None:
    """A valid batch sent now is loaded, whatever came before."""
    before = rows(con, "SELECT count(*) FROM spans")[0][0]
    r = post(svc, request([span(10_000 + n)]))
    assert r.status_code == 200, r.content
    assert svc.wait_idle(60), svc.stats()
    assert rows(con, "SELECT count(*) FROM spans")[0][0] == before + 1
    st = svc.stats()
    assert st["loader_alive"] and st["pending_batches"] == 0


# ------------------------------------------------------------------ finding 1: poison spans
POISON = {
    "service.name as intValue": (request([span(1)], [{"key": "service.name", "value": {"intValue": "5"}}]), 1, 0),
    "status.message not a string": (request([span(2, status={"code": 2, "message": {"x": 1}})]), 1, 0),
    "start time above 2^63": (request([span(3, startTimeUnixNano=str(2**64 - 1))]), 0, 1),
    "token count 1e300": (
        request(
            [
                span(
                    4,
                    attributes=[
                        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                        {"key": "gen_ai.usage.input_tokens", "value": {"doubleValue": 1e300}},
                    ],
                )
            ]
        ),
        0,
        1,
    ),
    "intValue past int64": (request([span(5, attributes=[{"key": "x", "value": {"intValue": str(2**70)}}])]), 0, 1),
    "reported cost infinite": (
        request(
            [
                span(
                    6,
                    attributes=[
                        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                        {"key": "gen_ai.usage.cost", "value": {"doubleValue": "Infinity"}},
                    ],
                )
            ]
        ),
        0,
        1,
    ),
}


@pytest.mark.parametrize("case", list(POISON))
def test_a_poison_span_is_stored_or_rejected_and_loading_goes_on(svc, con, case):
    body, stored, rejected = POISON[case]
    r = post(svc, body)
    assert r.status_code == 200, r.content
    assert svc.wait_idle(60), svc.stats()
    assert rows(con, "SELECT count(*) FROM spans")[0][0] == stored
    # Rejected either at the door (partial success) or by the loader (logged with its reason).
    answered = int(r.json().get("partialSuccess", {}).get("rejectedSpans", 0))
    logged = rows(con, "SELECT coalesce(sum(rejects), 0) FROM ingest_log")[0][0]
    assert answered + logged == rejected
    if rejected:
        reasons = r.json().get("partialSuccess", {}).get("errorMessage", "") + str(
            rows(con, "SELECT list(reject_reasons) FROM ingest_log")[0][0]
        )
        assert "range" in reasons or "int64" in reasons, reasons
    assert svc.stats()["quarantined_batches"] == 0
    assert_still_loading(svc, con, 1)


def test_coerced_values_are_stored_as_text(svc, con):
    post(
        svc, request([span(1, status={"code": 2, "message": 42})], [{"key": "service.name", "value": {"intValue": 5}}])
    )
    assert svc.wait_idle(60)
    assert rows(con, "SELECT service, status_message FROM spans") == [("5", "42")]


def test_protobuf_time_past_int64_is_rejected_at_the_door_and_by_the_loader_alike(svc, con):
    body = pb_request(2, 0) + pb_request(1, 100, start=2**64 - 5)  # concatenated messages merge
    r = post(svc, body, PB)
    assert r.status_code == 200
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 1
    assert "out of range" in resp.partial_success.error_message
    assert svc.wait_idle(60)
    assert rows(con, "SELECT count(*) FROM spans")[0][0] == 2
    assert rows(con, "SELECT sum(rejects) FROM ingest_log")[0][0] == 1
    assert_still_loading(svc, con, 2)


def test_poison_left_in_the_spool_does_not_crash_a_restart(con, db_path, tmp_path, make_service):
    spool = Spool(tmp_path / "spool")
    for body, _, _ in POISON.values():
        spool.append(body, "json")
    spool.append(b"\x00\x01 not otlp at all", "protobuf")  # a file that cannot be decoded
    svc = make_service()
    assert svc.wait_idle(60), svc.stats()
    st = svc.stats()
    assert st["loader_alive"] and st["quarantined_batches"] == 1 and st["quarantine_waiting"] == 1
    assert rows(con, "SELECT count(*) FROM spans")[0][0] == 2
    assert_still_loading(svc, con, 3)


# ------------------------------------------------------------------ finding 2: faults
def test_an_immutable_spool_directory_is_retried_until_it_clears(svc, con):
    subprocess.run(["chattr", "+i", str(svc.spool_dir)], check=True)
    try:
        r = post(svc, request([span(1)]))
        assert r.status_code == 503 and r.headers["Retry-After"]  # cannot spool: retry later
    finally:
        subprocess.run(["chattr", "-i", str(svc.spool_dir)], check=True)
    r = post(svc, request([span(2)]))
    assert r.status_code == 200
    # Now the commit succeeds but the unlink fails: the batch is logged, retried, never doubled.
    subprocess.run(["chattr", "+i", str(svc.spool_dir)], check=True)
    try:
        r = post(svc, request([span(3)]))  # refused (cannot spool) while immutable
        assert r.status_code == 503
        deadline = time.monotonic() + 30
        while svc.stats()["load_failures"] == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        subprocess.run(["chattr", "-i", str(svc.spool_dir)], check=True)
    assert svc.wait_idle(60), svc.stats()
    assert rows(con, "SELECT count(*), count(DISTINCT span_id) FROM spans") == [(1, 1)]
    assert svc.stats()["quarantined_batches"] == 0
    assert_still_loading(svc, con, 4)


def test_a_database_held_by_another_process_is_waited_for(tmp_path):
    from llmledger.store.db import connect

    db_path = tmp_path / "held.duckdb"
    connect(db_path).close()  # migrated, then released
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.readline()",
            str(db_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        svc = Service(
            None,
            db_path=db_path,
            port=0,
            spool_dir=tmp_path / "held.spool",
            connect=lambda: connect(db_path),
            spool_max_bytes=3000,
        ).start()
        codes = [post(svc, request([span(i)])).status_code for i in range(6)]
        assert codes[0] == 200 and 503 in codes  # accepted into the spool until it is full
        full = post(svc, request([span(99)]))
        assert full.status_code == 503 and full.headers["Retry-After"] and "spool is full" in full.text
        time.sleep(1.5)
        assert svc.stats()["loader_alive"] and svc.stats()["quarantined_batches"] == 0
    finally:
        holder.communicate("\n", timeout=30)
    try:
        assert svc.wait_idle(90), svc.stats()
        con = svc.con
        assert rows(con, "SELECT count(*), count(DISTINCT span_id) FROM spans")[0] == (codes.count(200),) * 2
        assert_still_loading(svc, con, 5)
    finally:
        svc.stop()
        svc.con.close()


def test_a_full_disk_is_retried_and_nothing_acknowledged_is_lost(con, tmp_path, make_service):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    try:
        svc = make_service(spool_dir=mnt / "spool")
        big = [{"key": "pad", "value": {"stringValue": "x" * 20_000}}]
        codes = [post(svc, request([span(i, attributes=big)])).status_code for i in range(30)]
        assert 200 in codes and 503 in codes  # ENOSPC is a 503 with Retry-After, never a 500
        assert svc.wait_idle(60), svc.stats()
        assert rows(con, "SELECT count(*), count(DISTINCT span_id) FROM spans")[0] == (codes.count(200),) * 2
        assert_still_loading(svc, con, 6)
        svc.stop()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


# ------------------------------------------------------------------ findings 3, 4, 9: limits
def raw_exchange(svc: Service, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", svc.port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and len(out.split(b"\r\n\r\n", 1)[1]) >= int(
                out.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0]
            ):
                break
        return out


@pytest.mark.parametrize("size", [b"-1", b"+10", b"0x10", b"1_0", b"\xd9\xa1"])
def test_a_chunk_size_that_is_not_plain_hex_is_refused(svc, con, size):
    head = (
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    out = raw_exchange(svc, head + size + b"\r\n" + b"x" * 64)
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    assert b"chunk size" in out
    assert_still_loading(svc, con, 7)


@pytest.mark.parametrize("length", ["-1", "+5", "1_0", " 0x5"])
def test_a_content_length_that_is_not_digits_is_refused(svc, con, length):
    out = raw_exchange(
        svc,
        f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n{{}}".encode(),
    )
    assert out.startswith(b"HTTP/1.1 400"), out[:200]
    assert_still_loading(svc, con, 8)


def test_connections_past_the_cap_are_answered_503_at_once(make_service, con):
    svc = make_service(max_connections=4)
    idle = [socket.create_connection(("127.0.0.1", svc.port)) for _ in range(4)]
    try:
        deadline = time.monotonic() + 10
        while svc.stats()["open_connections"] < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        out = raw_exchange(svc, b"")
        assert out.startswith(b"HTTP/1.1 503") and b"Retry-After" in out and b"too many connections" in out
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + 10
    while svc.stats()["open_connections"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_still_loading(svc, con, 9)


def test_a_request_that_trickles_in_is_cut_at_its_deadline(make_service, con):
    svc = make_service(request_seconds=1.5)
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
    s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    started = time.monotonic()
    closed = False
    while time.monotonic() - started < 10:
        try:
            s.sendall(b"x")
            if s.recv(1, socket.MSG_DONTWAIT) == b"":
                closed = True
                break
        except BlockingIOError:
            pass
        except OSError:
            closed = True
            break
        time.sleep(0.2)
    s.close()
    assert closed, "the server kept a 1-byte-per-200-ms request open past its deadline"
    assert svc.stats()["errors_by_status"].get(408) == 1
    assert_still_loading(svc, con, 10)


def test_gzip_bodies_are_bounded_in_bytes_not_spans(make_service, con, monkeypatch):
    from llmledger.telemetry import service as service_mod

    monkeypatch.setattr(service_mod, "HELD_BYTES", 3 * 1024 * 1024)
    monkeypatch.setattr(service_mod, "GROUP_BYTES", 4 * 1024 * 1024)
    svc = make_service()
    peak_held, peak_group = 0, 0
    original = svc._take

    def watched(block=True):
        nonlocal peak_group
        group = original(block)
        if len(group) > 1:
            peak_group = max(peak_group, sum(q.nbytes for q in group))
        return group

    svc._take = watched
    pad = [{"key": "pad", "value": {"stringValue": "y" * (2 * 1024 * 1024)}}]
    for i in range(8):  # 8 x 2 MiB bodies, a few KB each on the wire
        body = gzip.compress(request([span(i, attributes=pad)]))
        assert len(body) < 20_000
        assert post(svc, body, {**JS, "Content-Encoding": "gzip"}).status_code == 200
        peak_held = max(peak_held, svc.stats()["held_bytes"])
    assert svc.wait_idle(120), svc.stats()
    assert peak_held <= 3 * 1024 * 1024 and peak_group <= 4 * 1024 * 1024
    assert rows(con, "SELECT count(*), min(length(attributes)) FROM spans")[0] == (8, 2 * 1024 * 1024 + 10)


def test_the_inflight_budget_answers_503_rather_than_holding_more(make_service, con):
    svc = make_service(inflight_bytes=1024 * 1024)
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
    s.sendall(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n"
    )  # holds 900 kB of the budget while it trickles
    time.sleep(0.3)
    r = post(svc, request([span(1, attributes=[{"key": "p", "value": {"stringValue": "z" * 300_000}}])]))
    assert r.status_code == 503 and r.headers["Retry-After"] and "memory budget" in r.text
    s.close()
    deadline = time.monotonic() + 10
    while svc.stats()["inflight_bytes"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_still_loading(svc, con, 11)


# ------------------------------------------------------------------ finding 5: gzip
def test_gzip_members_and_trailing_bytes_get_one_verdict_live_and_on_replay(svc, con, tmp_path):
    # Members are concatenated (RFC 1952): two JSON Lines members make a two-line body.
    two = gzip.compress(request([span(1)]) + b"\n") + gzip.compress(request([span(2)]) + b"\n")
    r = post(svc, two, {**JS, "Content-Encoding": "gzip"})
    assert r.status_code == 200 and "partialSuccess" not in r.json()
    assert svc.wait_idle(60)
    assert rows(con, "SELECT count(*) FROM spans")[0][0] == 2  # both members, not only the first
    trailing = gzip.compress(request([span(3)])) + b"garbage"
    r = post(svc, trailing, {**JS, "Content-Encoding": "gzip"})
    assert r.status_code == 400 and "trailing" in r.json()["message"]
    padded = gzip.compress(request([span(4)])) + b"\0" * 16
    assert post(svc, padded, {**JS, "Content-Encoding": "gzip"}).status_code == 200
    # The replay path (a spool or an imported file) reads the same bytes the same way.
    for body, ok in ((two, 2), (padded, 1)):
        assert len(otlp.decode_file_bytes("x.json.gz", body).spans) == ok
    with pytest.raises(otlp.PayloadError, match="trailing"):
        otlp.decode_file_bytes("x.json.gz", trailing)
    assert svc.wait_idle(60)
    assert rows(con, "SELECT count(*) FROM spans")[0][0] == 3


# ------------------------------------------------------------------ finding 6: ids
@pytest.mark.parametrize("bad", ["-" + "0" * 31 + "1", "0x" + "1" * 30, "\u0661" * 32, "+" + "1" * 31, "1_" * 16])
def test_ids_that_are_not_hex_are_rejected(svc, con, bad):
    r = post(svc, request([span(1, traceId=bad)]))
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "traceId" in r.json()["partialSuccess"]["errorMessage"]
    assert_still_loading(svc, con, 12)
    assert rows(con, "SELECT count(*) FROM spans WHERE trace_id NOT SIMILAR TO '[0-9a-f]{32}'")[0][0] == 0


# ------------------------------------------------------------------ the loader itself
def test_a_batch_duckdb_refuses_is_quarantined_and_the_next_one_loads(svc, con, monkeypatch):
    from llmledger.telemetry import loader

    real = loader.commit_prepared

    def refuse_poison(c, prepared):
        if any(r.startswith("poison") for p in prepared for m in p.metas for r in m.rejects):
            raise ValueError("refused value")
        return real(c, prepared)

    # A real refusal is hard to reach now that decoding validates; this one stands for a DuckDB
    # error that only one batch triggers (a conversion error, say).
    monkeypatch.setattr(loader, "commit_prepared", refuse_poison)
    monkeypatch.setattr("llmledger.telemetry.service.MAX_ATTEMPTS", 2)
    orig = otlp.decode_json

    def tagging(raw):
        d = orig(raw)
        if b"poison-span" in bytes(raw):
            d.rejects.append("poison")
        return d

    monkeypatch.setattr(otlp, "decode_json", tagging)
    r = post(svc, request([span(1, name="poison-span")]))
    assert r.status_code == 200
    assert svc.wait_idle(60), svc.stats()
    st = svc.stats()
    assert st["quarantined_batches"] == 1 and st["loader_alive"] and "refused value" in st["last_error"]
    assert_still_loading(svc, con, 13)


def test_serve_otlp_exits_nonzero_when_batches_stay_spooled(tmp_path, port):
    """SIGTERM while the database's disk is full: exit 1 with one line saying what stays spooled;
    once there is room, the next start loads it, once."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        db = mnt / "ledger.duckdb"
        spool = tmp_path / "spool"
        env = {**os.environ, "LLMLEDGER_SPOOL_DIR": str(spool)}
        cmd = [sys.executable, "-m", "llmledger", "serve-otlp", "--db", str(db), "--port", str(port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert "OTLP receiver on" in proc.stdout.readline()
            filler = mnt / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
            pad = [{"key": "pad", "value": {"stringValue": "p" * 200_000}}]
            r = requests.post(
                f"http://127.0.0.1:{port}/v1/traces", data=request([span(1, attributes=pad)]), headers=JS, timeout=10
            )
            assert r.status_code == 200
            time.sleep(2.0)
            proc.terminate()
            out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode == 1, (out, err)
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "1 batch(es) left in the spool" in errors[0], err
        filler.unlink()
        again = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert "OTLP receiver on" in again.stdout.readline()
        again.terminate()
        out, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        assert "1 new spans loaded" in out
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
