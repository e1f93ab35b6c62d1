"""File import into a real DuckDB: every format, folders, broken files, chunking, idempotency."""

from __future__ import annotations

import gzip
import json
import random
import shutil
from pathlib import Path

import pytest

from llmledger.errors import LedgerError
from llmledger.telemetry import ingest
from llmledger.telemetry.ingest import ingest_blobs, ingest_paths

SAMPLES = Path(__file__).parent / "data" / "otlp"


def keys(n: int, seed: int) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    return [(f"{rnd.getrandbits(128) | 1:032x}", f"{rnd.getrandbits(64) | 1:016x}") for _ in range(n)]


def request_dict(n: int, seed: int) -> dict:
    spans = [
        {
            "traceId": tid,
            "spanId": sid,
            "name": "chat",
            "kind": 3,
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000001000000000",
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "11"}},
                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "3"}},
            ],
        }
        for tid, sid in keys(n, seed)
    ]
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "files"}}]},
                "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}],
            }
        ]
    }


def pb_bytes(n: int, seed: int) -> bytes:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    d = request_dict(n, seed)
    for rs in d["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:  # the generic protobuf JSON mapping wants base64 ids
                import base64

                s["traceId"] = base64.b64encode(bytes.fromhex(s["traceId"])).decode()
                s["spanId"] = base64.b64encode(bytes.fromhex(s["spanId"])).decode()
    return json_format.ParseDict(d, ExportTraceServiceRequest()).SerializeToString()


def jsonl_bytes(requests: int, spans_each: int, seed: int) -> bytes:
    """What the Collector's file exporter writes: one ExportTraceServiceRequest per line."""
    return b"".join(json.dumps(request_dict(spans_each, seed * 1000 + i)).encode() + b"\n" for i in range(requests))


def count(con, sql: str) -> int:
    return con.cursor().execute(sql).fetchall()[0][0]


def test_every_format_and_gzip(con, tmp_path):
    files = {
        "a.json": json.dumps(request_dict(3, 1)).encode(),
        "b.json.gz": gzip.compress(json.dumps(request_dict(4, 2)).encode()),
        "c.jsonl": jsonl_bytes(3, 2, 3),
        "d.jsonl.gz": gzip.compress(jsonl_bytes(2, 5, 4)),
        "e.pb": pb_bytes(6, 5),
        "f.pb.gz": gzip.compress(pb_bytes(7, 6)),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    r = ingest_paths(con, [tmp_path / n for n in files])
    total = 3 + 4 + 6 + 10 + 6 + 7
    assert (r.spans_read, r.spans_new, r.duplicates, r.rejects, r.files_read) == (total, total, 0, [], 6)
    assert r.calls_new == total
    assert count(con, "SELECT count(*) FROM llm_calls WHERE input_tokens = 11 AND output_tokens = 3") == total
    assert count(con, "SELECT count(DISTINCT batch_id) FROM spans") == 6


def test_folder_is_walked_recursively_and_reimport_adds_nothing(con, tmp_path):
    root = tmp_path / "traces"
    shutil.copytree(SAMPLES, root)
    (root / "deeper" / "still").mkdir(parents=True)
    (root / "deeper" / "still" / "x.pb").write_bytes(pb_bytes(5, 9))
    (root / "README.md").write_text("not telemetry: skipped when walking a folder")
    first = ingest_paths(con, [root])
    assert first.rejects == [] and first.files_read == 7
    assert first.spans_new == 9 + 5 and first.calls_new >= 5
    calls = count(con, "SELECT count(*) FROM llm_calls")
    again = ingest_paths(con, [root])
    assert (again.spans_new, again.calls_new, again.duplicates) == (0, 0, first.spans_new)
    assert count(con, "SELECT count(*) FROM spans") == first.spans_new
    assert count(con, "SELECT count(*) FROM llm_calls") == calls
    # The same content under another name is the same import too.
    shutil.copy(root / "deeper" / "still" / "x.pb", tmp_path / "renamed.pb")
    assert ingest_paths(con, [tmp_path / "renamed.pb"]).duplicates == 5


def test_broken_files_become_rejects_and_the_rest_loads(con, tmp_path):
    good = tmp_path / "good.json"
    good.write_bytes(json.dumps(request_dict(4, 20)).encode())
    text = json.dumps(request_dict(4, 21))
    broken = {
        "truncated.json": text[: len(text) // 2].encode(),
        "random.pb": random.Random(7).randbytes(4096),
        "badgzip.json.gz": b"\x1f\x8b\x08\x00 definitely not deflate",
        "notes.txt": b"hello",
        "empty.pb": b"\x00\x00\x00",
    }
    for name, data in broken.items():
        (tmp_path / name).write_bytes(data)
    r = ingest_paths(con, [good] + [tmp_path / n for n in broken])
    assert r.spans_new == 4 and r.files_read == 1 and r.files_failed == len(broken)
    by_file = {msg.split(":", 1)[0].rsplit("/", 1)[-1]: msg for msg in r.rejects}
    assert set(by_file) == set(broken)
    assert "not valid JSON" in by_file["truncated.json"]
    assert "protobuf" in by_file["random.pb"]
    assert "gzip" in by_file["badgzip.json.gz"]
    assert "unknown file type" in by_file["notes.txt"]


def test_bad_lines_and_spans_inside_a_good_file(con, tmp_path):
    lines = jsonl_bytes(2, 3, 30).splitlines()
    bad_span = request_dict(2, 31)
    bad_span["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "zz"
    data = b"\n".join([lines[0], b"{oops", json.dumps(bad_span).encode(), b'{"not": "otlp"}', lines[1]]) + b"\n"
    (tmp_path / "mixed.jsonl").write_bytes(data)
    r = ingest_paths(con, [tmp_path / "mixed.jsonl"])
    assert r.spans_new == 3 + 1 + 3
    assert len(r.rejects) == 3
    assert any("line 2" in x and "not valid JSON" in x for x in r.rejects)
    assert any("line 3" in x and "spanId" in x for x in r.rejects)
    assert any("line 4" in x and "resourceSpans" in x for x in r.rejects)
    assert all(x.startswith(str(tmp_path / "mixed.jsonl")) for x in r.rejects)


def test_large_jsonl_loads_in_chunks_and_resumes(con, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "CHUNK_BYTES", 20_000)  # force many chunks from a small file
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl_bytes(60, 10, 40)))
    seen = []
    r = ingest_paths(con, [path], progress=lambda done, total, msg: seen.append((done, total, msg)))
    assert r.spans_new == 600 and r.rejects == []
    chunks = count(con, "SELECT count(*) FROM ingest_log WHERE batch_id LIKE 'file:%'")
    assert chunks > 5
    assert count(con, "SELECT count(DISTINCT batch_id) FROM spans") == chunks
    # progress: called per chunk, monotonic, ends at the total
    assert len(seen) >= chunks
    dones = [d for d, _, _ in seen]
    assert dones == sorted(dones) and seen[-1][0] == seen[-1][1] == path.stat().st_size
    # An interrupted import resumes: forget the last chunks, re-import, only they load again.
    con.cursor().execute(
        "DELETE FROM ingest_log WHERE batch_id IN (SELECT batch_id FROM ingest_log ORDER BY loaded_at DESC LIMIT 2)"
    )
    again = ingest_paths(con, [path])
    assert again.spans_new == 0 and again.duplicates == 600
    assert count(con, "SELECT count(*) FROM spans") == 600


def test_big_single_request_is_loaded_in_span_chunks(con, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "CHUNK_SPANS", 7)
    (tmp_path / "one.pb").write_bytes(pb_bytes(30, 50))
    r = ingest_paths(con, [tmp_path / "one.pb"])
    assert r.spans_new == 30
    assert count(con, "SELECT count(*) FROM ingest_log") == 5


def test_blobs_from_an_upload(con):
    blobs = [
        ("up.json", json.dumps(request_dict(2, 60)).encode()),
        ("up.pb.gz", gzip.compress(pb_bytes(3, 61))),
        ("junk.json", b"[1, 2"),
    ]
    seen = []
    r = ingest_blobs(con, blobs, source="upload", progress=lambda *a: seen.append(a))
    assert r.spans_new == 5 and len(r.rejects) == 1 and r.rejects[0].startswith("junk.json:")
    assert seen and seen[-1][0] == seen[-1][1] == sum(len(b) for _, b in blobs)
    sources = {row[0] for row in con.cursor().execute("SELECT source FROM ingest_log").fetchall()}
    assert sources == {"upload:up.json", "upload:up.pb.gz"}
    assert ingest_blobs(con, blobs, source="upload").duplicates == 5


def test_missing_path_is_an_error_before_anything_loads(con, tmp_path):
    (tmp_path / "a.json").write_bytes(json.dumps(request_dict(1, 70)).encode())
    with pytest.raises(LedgerError, match="nope.json: no such file"):
        ingest_paths(con, [tmp_path / "a.json", tmp_path / "nope.json"])
    assert count(con, "SELECT count(*) FROM spans") == 0


def test_worker_processes_give_the_same_result(tmp_path, monkeypatch):
    """The same import decoded in 2 spawned worker processes and inline: identical outcome."""
    from llmledger.store.db import connect

    monkeypatch.setattr(ingest, "CHUNK_BYTES", 30_000)
    monkeypatch.setattr(ingest, "IMPORT_GROUP_SPANS", 100)
    files = tmp_path / "in"
    files.mkdir()
    (files / "a.jsonl").write_bytes(jsonl_bytes(40, 10, 80))
    (files / "b.pb.gz").write_bytes(gzip.compress(pb_bytes(120, 81)))
    (files / "c.json").write_bytes(b'{"resourceSpans": [')
    (files / "d.pb").write_bytes(pb_bytes(120, 81))  # same spans as b: duplicates
    outcomes = []
    for workers in (1, 2):
        con = connect(tmp_path / f"w{workers}.duckdb")
        try:
            r = ingest_paths(con, [files], workers=workers)
            rows = con.cursor().execute("SELECT trace_id, span_id, batch_id FROM spans ORDER BY ALL").fetchall()
            calls = count(con, "SELECT count(*) FROM llm_calls")
            again = ingest_paths(con, [files], workers=workers)
        finally:
            con.close()
        outcomes.append(
            (
                r.spans_read,
                r.spans_new,
                r.duplicates,
                r.calls_new,
                sorted(r.rejects),
                r.files_read,
                r.files_failed,
                rows,
                calls,
                again.spans_new,
                again.duplicates,
            )
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == 400 + 120 and outcomes[0][2] == 120 and outcomes[0][6] == 1


def test_unguarded_script_falls_back_to_in_process(tmp_path):
    """A caller's script without `if __name__ == "__main__"` cannot host spawned workers; the
    import must still finish (in-process) instead of failing."""
    import subprocess
    import sys

    from helpers import subprocess_env

    (tmp_path / "a.jsonl").write_bytes(jsonl_bytes(6, 5, 90))
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sys\n"
        "from llmledger.store.db import connect\n"
        "from llmledger.telemetry.ingest import ingest_paths\n"
        f"con = connect({str(tmp_path / 'u.duckdb')!r})\n"
        f"r = ingest_paths(con, [{str(tmp_path / 'a.jsonl')!r}], workers=2)\n"
        "print('loaded', r.spans_new, len(r.rejects))\n"
    )
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "loaded 30 0" in p.stdout
