"""Planning tables: requirement sets, each save an immutable numbered version (JSON body)."""

from __future__ import annotations

import duckdb


def n001_plan_versions(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE plan_versions (
            plan VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            saved_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            note VARCHAR NOT NULL DEFAULT '',
            body JSON NOT NULL,
            PRIMARY KEY (plan, version)
        )
        """
    )


MIGRATIONS = [("n001_plan_versions", n001_plan_versions)]
