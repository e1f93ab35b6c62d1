"""`sql`: run one read-only query."""

from __future__ import annotations

import duckdb

from llmledger.cli_common import add_common
from llmledger.errors import LedgerError
from llmledger.store.db import connect


def register(sub) -> None:
    p = sub.add_parser("sql", help="run a read-only SQL query against the ledger")
    p.add_argument("query", help='e.g. "SELECT feature, sum(cost_usd) FROM llm_calls GROUP BY 1"')
    add_common(p)
    p.set_defaults(func=run_sql)


#: Statement kinds `sql` runs (SELECT covers WITH, FROM-first, VALUES, TABLE, SHOW, DESCRIBE and
#: SUMMARIZE). Anything else (COPY, EXPORT, ATTACH, INSTALL/LOAD, SET, CREATE, INSERT, ...) is refused
#: before it runs; DuckDB's read-only mode and disabled external access are the backstop.
ALLOWED_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "PRAGMA", "CALL"})
ALLOWED_TEXT = "SELECT, WITH, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN, PRAGMA or CALL"
#: Applied to the read-only connection before the user's query, then locked: no file or URL other
#: than the database itself can be read or written, no extension installed or loaded, no setting
#: changed back by the query.
SANDBOX_SETTINGS = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET lock_configuration = true",
)
#: How a refused statement kind is named in the one-line reason.
LABELS = {
    "LOAD": "INSTALL/LOAD",
    "SET": "SET/RESET/USE",
    "VARIABLE_SET": "SET VARIABLE",
    "TRANSACTION": "BEGIN/COMMIT/ROLLBACK",
    "MULTI": "multi-part (PIVOT without IN: list the values, PIVOT t ON c IN (...))",
}


def run_sql(args):
    from llmledger.store.db import config

    path = args.db or config.db_path()
    if not __import__("os").path.exists(path):
        raise LedgerError(f"database {path} does not exist (ingest something first)")
    con = open_sandboxed(path)
    try:
        check_statement(con, args.query)
        rel = con.execute(args.query)
        cols = [d[0] for d in rel.description] if rel.description else []
        rows = rel.fetchall()
    except duckdb.PermissionException as exc:
        raise LedgerError(
            f"refused: the query reaches outside the ledger (files, URLs, extensions, secrets are "
            f"off for `sql`): {_first_line(exc)}"
        ) from exc
    except duckdb.Error as exc:
        text = _first_line(exc)
        if "configuration has been locked" in text:
            raise LedgerError(f"refused: `sql` cannot change settings: {text}") from exc
        raise LedgerError(f"query failed: {text}") from exc
    finally:
        con.close()
    data = {"columns": cols, "rows": [list(r) for r in rows]}
    widths = [max([len(str(c))] + [len(str(r[i])) for r in rows[:200]]) for i, c in enumerate(cols)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)) for r in rows]
    return data, "\n".join(lines)


def open_sandboxed(path) -> duckdb.DuckDBPyConnection:
    """A read-only connection (DuckDB refuses every write to the file) that also cannot reach any
    other file, URL or extension. Says so clearly when a dashboard holds the database."""
    con = connect(path, read_only=True)
    try:
        for statement in SANDBOX_SETTINGS:
            con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


def check_statement(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Exactly one statement, of a kind that only reads; otherwise a one-line refusal naming it."""
    statements = con.extract_statements(query)  # a syntax error raises here, before anything runs
    if not statements:
        raise LedgerError("no SQL statement given")
    if len(statements) > 1:
        raise LedgerError(f"refused: {len(statements)} statements (`sql` runs exactly one {ALLOWED_TEXT} query)")
    try:
        kind = statements[0].type.name
    except ValueError:  # a statement kind this duckdb's Python API cannot even name (UPDATE EXTENSIONS)
        kind = (statements[0].query.split() or ["unknown"])[0].upper()
    if kind not in ALLOWED_STATEMENTS:
        raise LedgerError(f"refused: {LABELS.get(kind, kind)} statement (`sql` is read-only: one {ALLOWED_TEXT} query)")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
