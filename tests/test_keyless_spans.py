"""Idempotency without a primary key on spans and calls (m008): a ledger made before the
migration keeps its rows and their order, and every way a span can come twice still stores it once.
"""

from __future__ import annotations

import json
import threading

import duckdb

from llmledger.store import db as store_db
from llmledger.telemetry import loader, otlp

T0 = 1_700_000_000_000_000_000


def payload(first: int, n: int, trace: int | None = None) -> otlp.Decoded:
    spans = [
        {
            "traceId": f"{(trace if trace is not None else i) + 1:032x}",
            "spanId": f"{i + 1:016x}",
            "name": "chat",
            "startTimeUnixNano": str(T0 + i),
            "endTimeUnixNano": str(T0 + i + 10**8),
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": 10}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 2}},
            ],
        }
        for i in range(first, first + n)
    ]
    return otlp.decode_json(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))


def counts(con) -> tuple:
    cur = con.cursor()
    return cur.execute(
        "SELECT (SELECT count(*) FROM spans), (SELECT count(DISTINCT (trace_id, span_id)) FROM spans),"
        " (SELECT count(*) FROM calls), (SELECT count(DISTINCT (trace_id, span_id)) FROM calls)"
    ).fetchall()[0]


def test_a_ledger_from_before_m008_keeps_its_rows_and_loses_its_keys_and_index(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    everything = store_db.all_migrations
    monkeypatch.setattr(
        store_db, "all_migrations", lambda: [m for m in everything() if m[0] != "m008_keyless_spans_calls"]
    )
    con = store_db.connect(path)
    loader.load(con, payload(0, 50), "b1", "test")
    loader.load(con, payload(50, 50), "b2", "test")
    keyed = con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name IN ('spans', 'calls') "
        "AND constraint_type = 'PRIMARY KEY'"
    ).fetchall()[0][0]
    before = con.execute("SELECT trace_id, span_id, load_seq FROM spans").fetchall()
    con.close()
    assert keyed == 2
    monkeypatch.setattr(store_db, "all_migrations", everything)
    con = store_db.connect(path)
    assert (
        con.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE table_name IN ('spans', 'calls') "
            "AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()[0][0]
        == 0
    )
    assert con.execute("SELECT trace_id, span_id, load_seq FROM spans").fetchall() == before  # same order
    assert (
        con.execute("SELECT count(*) FROM duckdb_indexes() WHERE table_name IN ('spans', 'calls')").fetchall()[0][0]
        == 0
    )
    assert con.execute("SELECT count(*) FROM llm_calls").fetchall()[0][0] == 100
    # The same spans again, under new batch ids (a client retry): nothing new.
    r = loader.load(con, payload(0, 100), "b3", "test")
    assert (r.spans_new, r.duplicates) == (0, 100)
    assert counts(con) == (100, 100, 100, 100)
    con.close()


def test_every_way_a_span_comes_twice_stores_it_once(con):
    loader.load(con, payload(0, 20), "first", "test")
    assert loader.load(con, payload(0, 20), "first", "test").already_loaded  # the same batch
    assert loader.load(con, payload(10, 20), "overlap", "test").spans_new == 10  # half new
    # A late span of an old trace, sent twice in one group of two files.
    late_a, late_b = payload(500, 1, trace=3), payload(500, 1, trace=3)
    pa_ = loader.prepare([loader.Batch(late_a, "late-a", "test")], [])
    pb_ = loader.prepare([loader.Batch(late_b, "late-b", "test")], [])
    r = loader.commit_prepared(con, [pa_, pb_])
    assert (r.spans_new, r.duplicates) == (1, 1)
    assert counts(con) == (31, 31, 31, 31)


def test_concurrent_loads_of_the_same_spans_store_them_once(con):
    errors = []

    def load(i):
        try:
            loader.load(con, payload(0, 200), f"racer-{i}", "test")
        except duckdb.Error as exc:  # a write-write conflict is retried by the service; here, any
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert counts(con) == (200, 200, 200, 200)
