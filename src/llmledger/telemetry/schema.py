"""Telemetry's own migrations: the default attribution rules (kept next to the rules themselves,
in attribution.py; the tables are the store's, m003).

Inserted with ON CONFLICT DO NOTHING, so a rule added to DEFAULT_RULES later reaches older
ledgers too, and a rule the user edited keeps the user's version.
"""

from __future__ import annotations

import duckdb

from llmledger.telemetry.attribution import DEFAULT_RULES

INSERT_DEFAULT_RULES_SQL = (
    "INSERT INTO attribution_rules (dim, key, json_field, level, priority) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


def t001_default_attribution_rules(con: duckdb.DuckDBPyConnection) -> None:
    con.executemany(INSERT_DEFAULT_RULES_SQL, [list(r) for r in DEFAULT_RULES])


MIGRATIONS = [("t001_default_attribution_rules", t001_default_attribution_rules)]
