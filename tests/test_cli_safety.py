"""`sql` is truly read-only, and `serve-otlp` on a busy port leaves nothing behind (issue 11).

Real DuckDB files under tmp_path; the CLI runs as a subprocess, or in-process through main() where
hypothesis needs hundreds of runs."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import socket
import sys
from pathlib import Path

import pytest
from helpers import SAMPLES, cli, free_port, one_line_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.cli import main


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    """A ledger with the sample traces, alone in its folder (so new files there are noticed)."""
    db = tmp_path_factory.mktemp("ledger") / "ledger.duckdb"
    assert main(["ingest", str(SAMPLES), "--db", str(db)]) == 0
    return db


def snapshot(db: Path) -> tuple[str, list[str]]:
    return hashlib.sha256(db.read_bytes()).hexdigest(), sorted(p.name for p in db.parent.iterdir())


def run_sql(db: Path, query: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["sql", "--db", str(db), "--json", "--", query])
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ sql: what is refused
@pytest.mark.parametrize(
    "query, says",
    [
        ("COPY (SELECT 42) TO '{dir}/x.csv'", "refused: COPY statement"),
        ("COPY spans TO '{dir}/spans.parquet' (FORMAT parquet)", "refused: COPY statement"),
        ("EXPORT DATABASE '{dir}/export'", "refused: EXPORT statement"),
        ("ATTACH '{dir}/other.duckdb' AS other", "refused: ATTACH statement"),
        ("INSTALL httpfs", "refused: INSTALL/LOAD statement"),
        ("LOAD httpfs", "refused: INSTALL/LOAD statement"),
        ("SET enable_external_access = true", "refused: SET/RESET/USE statement"),
        ("INSERT INTO spans (trace_id) VALUES ('x')", "refused: INSERT statement"),
        ("CREATE TABLE t AS SELECT 1", "refused: CREATE statement"),
        ("CREATE TEMP TABLE t AS SELECT 1", "refused: CREATE statement"),
        ("DROP TABLE spans", "refused: DROP statement"),
        ("DELETE FROM spans", "refused: DELETE statement"),
        ("SELECT 1; COPY (SELECT 1) TO '{dir}/y.csv'", "refused: 2 statements"),
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{dir}/z.csv'", "refused: the query reaches outside the ledger"),
        ("SELECT * FROM read_csv('{dir}/secret.csv')", "refused: the query reaches outside the ledger"),
        ("SELECT * FROM '{dir}/secret.csv'", "refused: the query reaches outside the ledger"),
        ("SELECT content FROM read_text('/etc/hostname')", "refused: the query reaches outside the ledger"),
        ("SELECT * FROM glob('{dir}/*')", "refused: the query reaches outside the ledger"),
        ("SELECT * FROM read_json('http://127.0.0.1:9/x.json')", "refused: the query reaches outside the ledger"),
        ("PRAGMA enable_profiling", "refused: `sql` cannot change settings"),
    ],
)
def test_sql_refuses_writes_and_outside_access(ledger, query, says):
    # A file beside the ledger that a query must not read (read_csv of an arbitrary file).
    (ledger.parent / "secret.csv").write_text("user,password\nalice,hunter2\n")
    before = snapshot(ledger)
    code, out, err = run_sql(ledger, query.format(dir=ledger.parent))
    assert (code, out) == (1, "") and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: {says}"), err
    assert snapshot(ledger) == before  # same bytes, and no new file in the folder (no x.csv, export/, ...)
    assert "hunter2" not in err


def test_sql_copy_to_refused_by_the_real_cli(db_path, tmp_path):
    """The issue's reproduction, as a subprocess: COPY ... TO used to write the file."""
    assert cli("ingest", SAMPLES, db=db_path).returncode == 0
    line = one_line_error(cli("sql", f"COPY (SELECT 42) TO '{tmp_path}/x.csv'", db=db_path))
    assert "refused: COPY statement" in line
    assert not (tmp_path / "x.csv").exists()


def test_sql_still_answers_read_queries(ledger):
    before = snapshot(ledger)
    p = cli("sql", "SELECT count(*) AS n, count(DISTINCT convention) > 0 AS any FROM llm_calls", "--json", db=ledger)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"columns": ["n", "any"], "rows": [[5, True]]}
    for query in (
        "WITH c AS (SELECT * FROM llm_calls) SELECT count(*) FROM c",
        "FROM spans SELECT count(*)",
        "SHOW TABLES",
        "DESCRIBE llm_calls",
        "SUMMARIZE spans",
        "EXPLAIN SELECT * FROM spans",
        "PRAGMA show_tables",
        "CALL pragma_version()",
        "PIVOT (SELECT 1 AS k) ON k IN (1)",
    ):
        code, out, err = run_sql(ledger, query)
        assert code == 0 and err == "", (query, err)
        assert json.loads(out)["rows"], query
    assert snapshot(ledger) == before


def test_sql_held_by_dashboard_still_says_so(db_path):
    """Unchanged behaviour: a writer in another process holds the file (tests/test_cli.py checks the
    text; this checks the sandboxing did not get in the way of that message)."""
    import subprocess

    from helpers import subprocess_env

    assert cli("ingest", SAMPLES, db=db_path).returncode == 0
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
        line = one_line_error(cli("sql", "SELECT 1", db=db_path, timeout=60))
        assert "held by another process" in line
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


# ------------------------------------------------------------------ sql: property-based
KEYWORDS = [
    "SELECT",
    "FROM",
    "WITH",
    "COPY",
    "TO",
    "EXPORT DATABASE",
    "IMPORT DATABASE",
    "ATTACH",
    "DETACH",
    "INSTALL",
    "LOAD",
    "SET",
    "RESET",
    "PRAGMA",
    "CALL",
    "EXPLAIN",
    "ANALYZE",
    "INSERT INTO",
    "UPDATE",
    "DELETE FROM",
    "CREATE",
    "TEMP",
    "TABLE",
    "VIEW",
    "MACRO",
    "SECRET",
    "DROP",
    "ALTER",
    "VACUUM",
    "CHECKPOINT",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "USE",
    "SHOW",
    "DESCRIBE",
    "SUMMARIZE",
    "PIVOT",
    "ON",
    "IN",
    "AS",
    "VALUES",
    "UNION",
    "WHERE",
    "LIMIT",
    "(",
    ")",
    ",",
    ";",
    "*",
    "=",
    "--",
    "/*",
    "*/",
    "'",
    '"',
    "$$",
    "\\",
    "\n",
    "spans",
    "llm_calls",
    "calls",
    "_migrations",
    "ingest_log",
    "1",
    "42",
    "NULL",
    "'x'",
    "enable_external_access",
    "lock_configuration",
    "true",
    "false",
    "read_csv",
    "read_text",
    "read_blob",
    "read_parquet",
    "read_json",
    "glob",
    "sniff_csv",
    "query_table",
    "getvariable",
    "(FORMAT csv)",
    "(FORMAT parquet)",
    "ledger",
    "memory",
    "temp",
    "system",
    "'http://127.0.0.1:9/x'",
    "'s3://bucket/x'",
    "'/etc/passwd'",
    "'~/.duckdb'",
    "'{dir}'",
    "'{dir}/out.csv'",
    "'{dir}/evil.duckdb'",
    "'{dir}/ledger.duckdb'",
    "'{dir}/ledger.duckdb.wal'",
]

statements = st.one_of(
    st.text(max_size=80),  # anything at all, including NUL and lone surrogates' neighbours
    st.lists(st.sampled_from(KEYWORDS), min_size=1, max_size=12).map(" ".join),
    st.builds(
        lambda verb, rest: f"{verb} {rest}",
        st.sampled_from(
            [
                "COPY (SELECT 42) TO",
                "COPY spans TO",
                "ATTACH",
                "EXPORT DATABASE",
                "SELECT * FROM read_csv(",
                "SELECT * FROM",
                "INSTALL",
                "LOAD",
                "SET",
                "EXPLAIN ANALYZE COPY (SELECT 1) TO",
                "CREATE TABLE x AS SELECT * FROM",
            ]
        ),
        st.sampled_from(KEYWORDS),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=statements)
def test_sql_any_input_is_a_result_or_one_line_and_changes_nothing(ledger, query):
    before = snapshot(ledger)
    query = query.replace("{dir}", str(ledger.parent))
    try:
        code, out, err = run_sql(ledger, query)
    except SystemExit as exc:  # argparse only; `--` keeps the query positional, so not expected
        pytest.fail(f"argparse exit {exc.code} for {query!r}")
    if code == 0:
        doc = json.loads(out)
        assert set(doc) == {"columns", "rows"} and err == ""
    else:
        assert code == 1 and out == ""
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (query, err)
    assert snapshot(ledger) == before, query


# ------------------------------------------------------------------ serve-otlp on a busy port
def test_serve_otlp_busy_port_creates_nothing(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        db = tmp_path / "fresh" / "new.duckdb"
        line = one_line_error(cli("serve-otlp", "--db", db, "--port", port, db=tmp_path / "unused.duckdb", timeout=60))
    assert f"cannot listen on 127.0.0.1:{port}" in line
    assert not db.exists() and not Path(str(db) + ".spool").exists() and not db.parent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_serve_otlp_port_check_leaves_a_free_port_usable(tmp_path):
    """The probe does not keep the port: the receiver binds it right after."""
    from llmledger.telemetry.cli import check_port_free

    port = free_port()
    check_port_free("127.0.0.1", port)
    check_port_free("127.0.0.1", 0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
