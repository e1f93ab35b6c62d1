"""The Ingest page's "Quarantined batches" section under AppTest, on a real spool and DuckDB.

conftest sets LLMLEDGER_RECEIVER=0, so the page has no service: Retry moves the files back and
loads the spool on the page's own connection."""

from __future__ import annotations

from pathlib import Path

from apptest_helpers import ok, page
from helpers import db_count, request_json

from llmledger.telemetry import quarantine
from llmledger.telemetry.spool import Spool

GARBAGE = b"\x0a\xff\xff\xff not protobuf"


def quarantined(spool: Spool, body: bytes, encoding: str, reason: str) -> str:
    entry = spool.append(body, encoding)
    spool.quarantine(entry, reason)
    return entry.name


def table(at):
    return next(d.value for d in at.dataframe if list(d.value.columns[:2]) == ["name", "size_bytes"])


def test_empty_state(db_path):
    at = ok(page("ingest.py").run())
    assert any(c.value == "No quarantined batches." for c in at.caption)
    assert not any(d.value.columns[:1].tolist() == ["name"] for d in at.dataframe)


def test_lists_and_drops_a_quarantined_batch(db_path):
    spool = Spool(Path(str(db_path) + ".spool"))
    reason = "cannot decode spooled request: **bold** <b>html</b> $x$"
    bad = quarantined(spool, GARBAGE, "protobuf", reason)
    keep = quarantined(spool, GARBAGE + b"2", "protobuf", "other")
    at = ok(page("ingest.py").run())
    rows = table(at)
    assert rows["name"].tolist() == sorted([bad, keep])
    assert rows.set_index("name").loc[bad, "reason"] == reason  # literal text, not markdown
    assert at.button(key="ingest_quarantine_drop").disabled
    at.multiselect(key="ingest_quarantine_pick").set_value([bad])
    ok(at.run())
    at.button(key="ingest_quarantine_drop").click()
    ok(at.run())
    assert [q.name for q in quarantine.list_quarantined(spool.dir)] == [keep]
    assert table(at)["name"].tolist() == [keep]
    assert any("Dropped 1" in s.value for s in at.success)
    at.multiselect(key="ingest_quarantine_pick").set_value([keep])
    ok(at.run())
    at.button(key="ingest_quarantine_drop").click()
    ok(at.run())
    assert quarantine.list_quarantined(spool.dir) == []
    assert any(c.value == "No quarantined batches." for c in at.caption)


def test_retry_loads_a_now_valid_batch(db_path):
    spool = Spool(Path(str(db_path) + ".spool"))
    name = quarantined(spool, request_json(4, 9), "json", "loading failed 5 times: disk full")
    at = ok(page("ingest.py").run())
    at.multiselect(key="ingest_quarantine_pick").set_value([name])
    ok(at.run())
    at.button(key="ingest_quarantine_retry").click()
    ok(at.run())
    assert quarantine.list_quarantined(spool.dir) == [] and Spool(spool.dir).pending() == []
    assert db_count(db_path, "SELECT count(*) FROM spans") == 4
    assert any("loaded 1" in s.value for s in at.success)
