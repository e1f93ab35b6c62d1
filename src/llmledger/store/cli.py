"""`sql`: run one read-only query."""

from __future__ import annotations

import duckdb

from llmledger.cli import add_common
from llmledger.errors import LedgerError
from llmledger.store.db import connect


def register(sub) -> None:
    p = sub.add_parser("sql", help="run a read-only SQL query against the ledger")
    p.add_argument("query", help='e.g. "SELECT feature, sum(cost_usd) FROM llm_calls GROUP BY 1"')
    add_common(p)
    p.set_defaults(func=run_sql)


def run_sql(args):
    from llmledger.store.db import config

    path = args.db or config.db_path()
    if not __import__("os").path.exists(path):
        raise LedgerError(f"database {path} does not exist (ingest something first)")
    # Read-only connection: a write statement fails inside DuckDB, not by string matching.
    con = connect(path, read_only=True)
    try:
        rel = con.execute(args.query)
        cols = [d[0] for d in rel.description] if rel.description else []
        rows = rel.fetchall()
    except duckdb.Error as exc:
        raise LedgerError(f"query failed: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()
    data = {"columns": cols, "rows": [list(r) for r in rows]}
    widths = [max([len(str(c))] + [len(str(r[i])) for r in rows[:200]]) for i, c in enumerate(cols)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(str(v).ljust(w) for v, w in zip(r, widths)) for r in rows]
    return data, "\n".join(lines)
