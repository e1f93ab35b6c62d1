"""Quarantined spool batches: the file operations, and `python -m llmledger quarantine`.

A real spool in tmp_path (Spool.append, then Spool.quarantine as the loader does), real OTLP
bodies, and the real CLI in a subprocess against a real DuckDB file."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from datetime import timezone
from pathlib import Path

import pytest
from helpers import cli, one_line_error, request_json, subprocess_env

from llmledger.errors import LedgerError
from llmledger.telemetry import quarantine
from llmledger.telemetry.spool import Spool

GARBAGE = b"\x0a\xff\xff\xff not protobuf"


def quarantined(spool: Spool, body: bytes, encoding: str, reason: str, gzipped: bool = False) -> str:
    entry = spool.append(body, encoding, gzipped)
    spool.quarantine(entry, reason)
    return entry.name


@pytest.fixture
def spool(db_path) -> Spool:
    """The spool `quarantine` looks at for db_path (`<db>.spool`)."""
    return Spool(Path(str(db_path) + ".spool"))


# ------------------------------------------------------------------ the module
def test_list_nothing_when_no_spool_or_no_failures(tmp_path):
    assert quarantine.list_quarantined(tmp_path / "missing.spool") == []
    Spool(tmp_path / "s.spool")
    assert quarantine.list_quarantined(tmp_path / "s.spool") == []


def test_list_shows_name_size_reason_time_and_spans(spool):
    waiting = spool.append(request_json(2, 1), "json")  # still pending: not listed
    good = quarantined(
        spool, gzip.compress(request_json(3, 2)), "json", "loading failed 5 times: disk full", gzipped=True
    )
    bad = quarantined(spool, GARBAGE, "protobuf", "cannot decode spooled request: <script>alert(1)</script>")
    items = quarantine.list_quarantined(spool.dir)
    assert [q.name for q in items] == sorted([good, bad])
    by_name = {q.name: q for q in items}
    assert by_name[good].spans == 3 and by_name[bad].spans is None
    assert by_name[bad].reason == "cannot decode spooled request: <script>alert(1)</script>"
    assert by_name[bad].size_bytes == len(GARBAGE)
    assert by_name[good].path == spool.failed_dir / good
    assert by_name[good].quarantined_at.tzinfo is timezone.utc
    assert json.loads(json.dumps(by_name[good].as_dict()))["spans"] == 3
    assert waiting.path.exists()


def test_retry_moves_back_for_the_loader_and_drops_the_reason(spool):
    a = quarantined(spool, request_json(3, 1), "json", "database busy")
    b = quarantined(spool, request_json(2, 2), "json", "database busy")
    moved = quarantine.retry(spool.dir, [a])
    assert moved == [spool.dir / a]
    assert [e.name for e in Spool(spool.dir).pending()] == [a]
    assert not (spool.failed_dir / a).exists() and not (spool.failed_dir / (a + ".reason")).exists()
    assert [q.name for q in quarantine.list_quarantined(spool.dir)] == [b]
    assert quarantine.retry(spool.dir) == [spool.dir / b]  # None: all
    assert quarantine.list_quarantined(spool.dir) == [] and os.listdir(spool.failed_dir) == []


def test_drop_deletes_files_and_reasons(spool):
    names = [quarantined(spool, GARBAGE, "protobuf", f"bad {k}") for k in range(3)]
    assert quarantine.drop(spool.dir, names[:1]) == 1
    assert [q.name for q in quarantine.list_quarantined(spool.dir)] == names[1:]
    assert quarantine.drop(spool.dir) == 2
    assert os.listdir(spool.failed_dir) == []
    assert quarantine.drop(spool.dir) == 0


def test_unknown_names_are_named_and_nothing_moves(spool):
    a = quarantined(spool, GARBAGE, "protobuf", "bad")
    with pytest.raises(LedgerError, match="not quarantined .*: nope.pb, other.json"):
        quarantine.retry(spool.dir, [a, "nope.pb", "other.json"])
    with pytest.raises(LedgerError, match="nope.pb"):
        quarantine.drop(spool.dir, ["nope.pb"])
    with pytest.raises(LedgerError, match="not quarantined"):
        quarantine.drop(spool.dir, [a + ".reason"])  # a reason file is not a batch
    assert [q.name for q in quarantine.list_quarantined(spool.dir)] == [a]


@pytest.mark.parametrize(
    "name", ["../ledger.duckdb", "failed/x.pb", "/etc/passwd", "..", ".", "", "a\\b.pb", "x/../../y"]
)
def test_names_with_paths_are_refused(spool, tmp_path, name):
    a = quarantined(spool, GARBAGE, "protobuf", "bad")
    (tmp_path / "ledger.duckdb").write_bytes(b"precious")
    with pytest.raises(LedgerError, match="not a batch name"):
        quarantine.drop(spool.dir, [name])
    with pytest.raises(LedgerError, match="not a batch name"):
        quarantine.retry(spool.dir, [name, a])
    assert (tmp_path / "ledger.duckdb").read_bytes() == b"precious"
    assert [q.name for q in quarantine.list_quarantined(spool.dir)] == [a]


# ------------------------------------------------------------------ the CLI
def count(db: Path, sql: str) -> int:
    p = cli("sql", sql, "--json", db=db)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["rows"][0][0]


def test_cli_list_json_and_text(db_path, spool):
    p = cli("quarantine", "list", "--json", db=db_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"spool_dir": str(spool.dir), "quarantined": []}
    assert "no quarantined batches" in cli("quarantine", "list", db=db_path).stdout
    name = quarantined(spool, GARBAGE, "protobuf", "cannot decode spooled request: truncated\nsecond line")
    doc = json.loads(cli("quarantine", "list", "--json", db=db_path).stdout)
    (item,) = doc["quarantined"]
    assert (item["name"], item["size_bytes"], item["spans"]) == (name, len(GARBAGE), None)
    assert item["reason"] == "cannot decode spooled request: truncated\nsecond line"
    text = cli("quarantine", "list", db=db_path).stdout
    assert name in text and "truncated second line" in text  # one line per batch
    assert not db_path.exists()  # listing never creates the database


def test_cli_retry_loads_once_even_when_retried_twice(db_path, spool):
    body = request_json(3, 7)
    name = quarantined(spool, body, "json", "loading failed 5 times: IOException: disk full")
    p = cli("quarantine", "retry", name, "--json", db=db_path)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["retried"] == [name] and doc["held"] is False
    assert (doc["loaded"]["loaded_batches"], doc["loaded"]["loaded_spans"], doc["loaded"]["quarantined"]) == (1, 3, 0)
    assert quarantine.list_quarantined(spool.dir) == [] and Spool(spool.dir).pending() == []
    # The same batch quarantined again (say, a copy kept by hand) and retried: nothing new.
    spool.failed_dir.mkdir(exist_ok=True)
    (spool.failed_dir / name).write_bytes(body)
    p = cli("quarantine", "retry", "--all", "--json", db=db_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["loaded"]["loaded_spans"] == 0
    assert count(db_path, "SELECT count(*) FROM spans") == 3
    assert count(db_path, "SELECT count(*) FROM llm_calls") == 3
    assert count(db_path, "SELECT count(DISTINCT (trace_id, span_id)) FROM spans") == 3
    p = cli("quarantine", "retry", "--all", db=db_path)  # nothing left: fine, says so
    assert p.returncode == 0 and "nothing is quarantined" in p.stdout


def test_cli_retry_of_a_still_broken_batch_quarantines_it_again(db_path, spool):
    name = quarantined(spool, GARBAGE, "protobuf", "cannot decode")
    p = cli("quarantine", "retry", "--all", "--json", db=db_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["loaded"]["quarantined"] == 1
    assert [q.name for q in quarantine.list_quarantined(spool.dir)] == [name]
    assert Spool(spool.dir).pending() == []


def test_cli_drop(db_path, spool):
    names = [quarantined(spool, GARBAGE, "protobuf", "bad") for _ in range(3)]
    p = cli("quarantine", "drop", names[0], "--json", db=db_path)
    assert p.returncode == 0 and json.loads(p.stdout) == {"dropped": 1}
    assert "dropped 2" in cli("quarantine", "drop", "--all", db=db_path).stdout
    assert quarantine.list_quarantined(spool.dir) == []
    assert not db_path.exists()  # dropping never needs the database


@pytest.mark.parametrize(
    "args, says",
    [
        (("retry",), "needs batch names or --all"),
        (("drop",), "needs batch names or --all"),
        (("drop", "x.pb", "--all"), "not both"),
        (("list", "x.pb"), "takes no names"),
        (("drop", "nope.pb"), "not quarantined"),
        (("retry", "../ledger.duckdb"), "not a batch name"),
    ],
)
def test_cli_bad_input_is_one_line(db_path, spool, args, says):
    quarantined(spool, GARBAGE, "protobuf", "bad")
    assert says in one_line_error(cli("quarantine", *args, db=db_path))
    assert len(quarantine.list_quarantined(spool.dir)) == 1


def test_cli_retry_while_the_database_is_held_only_moves_the_files(db_path, spool):
    from llmledger.store.db import connect

    connect(db_path).close()
    name = quarantined(spool, request_json(2, 3), "json", "database busy")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()",
            str(db_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        p = cli("quarantine", "retry", name, db=db_path, timeout=60)
        assert p.returncode == 0, p.stderr
        assert "held by another process" in p.stdout and "next spool rescan" in p.stdout
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert [e.name for e in Spool(spool.dir).pending()] == [name]
    assert quarantine.list_quarantined(spool.dir) == []


def test_spool_dir_env_is_honoured(db_path, tmp_path):
    other = Spool(tmp_path / "elsewhere")
    name = quarantined(other, GARBAGE, "protobuf", "bad")
    p = cli("quarantine", "list", "--json", db=db_path, LLMLEDGER_SPOOL_DIR=other.dir)
    assert [q["name"] for q in json.loads(p.stdout)["quarantined"]] == [name]
    shutil.rmtree(other.dir)
