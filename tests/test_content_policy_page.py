"""The Ingest page: the content policy setting (persisted in DuckDB; the environment wins and the
page says so) and the count of log records received and dropped."""

from __future__ import annotations

from apptest_helpers import ok, page
from genai_payloads import call_ids, logs_request

from llmledger.store.db import connect
from llmledger.telemetry import content, loader, otlp


def test_content_policy_is_saved_from_the_page(db_path, monkeypatch):
    monkeypatch.delenv("LLMLEDGER_CONTENT", raising=False)
    at = ok(page("ingest.py").run())
    radio = at.radio(key="ingest_content_policy")
    assert radio.value == "keep"
    radio.set_value("hash").run()
    at.button(key="ingest_content_save").click().run()
    ok(at)
    assert any("Content policy saved: hash" in s.value for s in at.success)
    con = connect(db_path)
    try:
        assert content.policy(con) == "hash"
    finally:
        con.close()


def test_environment_wins_and_the_page_says_so(db_path, monkeypatch):
    monkeypatch.setenv("LLMLEDGER_CONTENT", "drop")
    at = ok(page("ingest.py").run())
    assert any("LLMLEDGER_CONTENT=drop is set" in i.value for i in at.info)
    assert any("In force now: **drop**" in c.value for c in at.caption)
    monkeypatch.setenv("LLMLEDGER_CONTENT", "shred")
    at = page("ingest.py").run()
    assert not at.exception
    assert any("is not a content policy" in e.value for e in at.error)


def test_dropped_log_records_are_counted_on_the_page(db_path, monkeypatch):
    monkeypatch.delenv("LLMLEDGER_CONTENT", raising=False)
    con = connect(db_path)
    loader.load(con, otlp.decode_file_bytes("l.pb", logs_request(call_ids(2, 31), other_logs=4)), "l", "test")
    con.close()
    at = ok(page("ingest.py").run())
    text = " ".join(c.value for c in at.caption)
    assert "10 log records received: 6 GenAI events stored" in text
    assert "4 other records (not GenAI events of a call) counted and dropped" in text
