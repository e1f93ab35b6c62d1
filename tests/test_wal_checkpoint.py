"""The loader takes the checkpoint its loads made due (store/wal.py), on a real DuckDB file fed
through the real receiver, so the WAL a load leaves is not checkpointed by the next small
transaction (an alert being recorded on its way to a notification)."""

from __future__ import annotations

import pytest
import requests
from hypothesis import example, given
from hypothesis import strategies as st
from test_ingest_resilience import request, span

from llmledger.store import wal
from llmledger.telemetry import loader, otlp
from llmledger.telemetry.service import Service

JS = {"Content-Type": "application/json"}


def genai(n: int, base: int) -> bytes:
    """An OTLP/JSON request of `n` GenAI chat spans (one trace each), trace ids from `base`."""
    return request([span(base + i) for i in range(n)])


def post(svc: Service, body: bytes) -> None:
    r = requests.post(f"http://127.0.0.1:{svc.port}/v1/traces", data=body, headers=JS, timeout=30)
    assert r.status_code == 200, r.text


def calls(con) -> int:
    return con.cursor().execute("SELECT count(*) FROM spans").fetchone()[0]


@pytest.mark.parametrize(
    "text, size",
    [
        ("16.0 MiB", 16 * 1024**2),
        ("256.0 KiB", 256 * 1024),
        ("1.5 GiB", int(1.5 * 1024**3)),
        ("16 MiB", 16 * 1024**2),
        (".5 KiB", 512),
        ("1000 bytes", None),
        (".", None),
        ("1.2.3 MiB", None),
        ("", None),
    ],
)
def test_parse_size(text, size):
    if size is None:
        with pytest.raises(ValueError, match="not a size"):
            wal.parse_size(text)
    else:
        assert wal.parse_size(text) == size


@given(st.text(max_size=20))
@example(".")  # found by this test in CI (2026-12-03): float('.') raised its own message
@example("1.2.3 MiB")
@example(".5 KiB")
def test_parse_size_any_text_is_a_size_or_refused(text):
    try:
        n = wal.parse_size(text)
    except ValueError as exc:
        assert "not a size" in str(exc)
    else:
        assert n >= 0


SMALL = 64 * 1024


def test_a_load_leaves_its_wal_behind_without_the_loader_checkpoint(con, db_path):
    """The control: with DuckDB's own threshold out of reach, a load's WAL stays until someone
    checkpoints; `checkpoint_if_due` does when it is past its limit, and not again after."""
    con.execute("SET checkpoint_threshold = '1GiB'")
    batch = loader.Batch(otlp.decode_json(genai(3000, 0)), "b-0", "test")
    loader.commit_prepared(con, [loader.prepare([batch], [])])
    assert wal.wal_bytes(db_path) > SMALL
    assert wal.checkpoint_if_due(con) is None  # under DuckDB's threshold: not due
    assert wal.checkpoint_if_due(con, SMALL) is not None
    assert wal.wal_bytes(db_path) < SMALL
    assert wal.checkpoint_if_due(con, SMALL) is None  # not due any more
    assert calls(con) == 3000


def test_the_loader_checkpoints_after_its_commit(con, db_path, tmp_path):
    con.execute("SET checkpoint_threshold = '1GiB'")  # DuckDB never checkpoints by itself here
    svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool", checkpoint_bytes=SMALL).start()
    try:
        for k in range(3):
            post(svc, genai(2000, k * 2000))
            assert svc.wait_idle(60)
            assert svc.stats()["checkpoints"] == k + 1
            assert wal.wal_bytes(db_path) < SMALL
        assert calls(con) == 6000
        assert svc.stats()["last_checkpoint_s"] > 0
    finally:
        svc.stop(timeout=30)


def test_an_open_transaction_skips_the_checkpoint_and_loses_nothing(con, db_path, tmp_path):
    """A reader inside a transaction whose snapshot still needs rows updated since makes DuckDB
    refuse the checkpoint: the load stands, the service keeps serving, and the next load after
    the reader is done takes the checkpoint."""
    con.execute("SET checkpoint_threshold = '1GiB'")
    con.execute("CREATE TABLE kept (x INTEGER)")
    con.execute("INSERT INTO kept SELECT range FROM range(1000)")
    svc = Service(con, db_path=db_path, port=0, spool_dir=tmp_path / "spool", checkpoint_bytes=SMALL).start()
    reader = con.cursor()
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM calls").fetchall()
        con.cursor().execute("UPDATE kept SET x = x + 1")
        post(svc, genai(2000, 0))
        assert svc.wait_idle(60)
        assert svc.stats()["checkpoints"] == 0
        assert wal.wal_bytes(db_path) > SMALL
        assert reader.execute("SELECT count(*) FROM calls").fetchone()[0] == 0  # its snapshot
        reader.execute("COMMIT")
        post(svc, genai(2000, 2000))
        assert svc.wait_idle(60)
        assert svc.stats()["checkpoints"] == 1
        assert wal.wal_bytes(db_path) < SMALL
        assert calls(con) == 4000
        assert svc.stats()["last_error"] is None
    finally:
        reader.close()
        svc.stop(timeout=30)
