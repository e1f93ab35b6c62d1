"""Open the DuckDB file and bring its schema up to date.

DuckDB allows one writing process per file. The dashboard process owns it (receiver, loader and
pages share one connection, each query on its own cursor); the CLI opens it only when no dashboard
holds it and says so clearly when one does.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import duckdb

from llmledger import config
from llmledger.errors import DatabaseLocked, StoreError

Migration = Callable[[duckdb.DuckDBPyConnection], None]

_registry_lock = threading.Lock()


def all_migrations() -> list[tuple[str, Migration]]:
    """Core migrations first, then each area's own (named uniquely, applied in this order)."""
    from llmledger.store import migrations as core

    found: list[tuple[str, Migration]] = list(core.MIGRATIONS)
    for module in _area_modules():
        found.extend(getattr(module, "MIGRATIONS", []))
    return found


def _area_modules():
    import importlib

    mods = []
    for name in (
        "llmledger.telemetry.schema",
        "llmledger.pricing.schema",
        "llmledger.planning.schema",
        "llmledger.local.schema",
        "llmledger.alerts.schema",
        "llmledger.simulate.schema",
    ):
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            # Only "this area does not exist (yet)" is tolerated, not a broken import inside it.
            if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
                raise
    return mods


def refresh_views(con: duckdb.DuckDBPyConnection, temporary: bool = False) -> None:
    """Re-create the views derived from code (each area's `VIEWS`), so a ledger made by an older
    release never keeps that release's SQL. Run on every open, after the migrations; on a
    read-only connection they are TEMP views shadowing the stored ones."""
    from llmledger.store import migrations as core

    for module in [core, *_area_modules()]:
        for create in getattr(module, "VIEWS", []):
            create(con, temporary=temporary)


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    with _registry_lock:
        con.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())"
        )
        done = {r[0] for r in con.execute("SELECT name FROM _migrations").fetchall()}
        applied = []
        for name, fn in all_migrations():
            if name in done:
                continue
            con.execute("BEGIN")
            try:
                fn(con)
                con.execute("INSERT INTO _migrations (name) VALUES (?)", [name])
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            applied.append(name)
        return applied


def connect(path: str | Path | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) and migrate the ledger database."""
    path = Path(path) if path else config.db_path()
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise DatabaseLocked(
                f"{path} is held by another process (is the dashboard or `serve-otlp` running?). "
                "Stop it, or point --db / LLMLEDGER_DB at another file."
            ) from exc
        raise StoreError(f"cannot open {path}: {text}") from exc
    except duckdb.Error as exc:
        raise StoreError(f"cannot open {path}: {exc}") from exc
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    if config.duckdb_memory():
        try:
            con.execute("SET GLOBAL memory_limit = ?", [config.duckdb_memory()])
        except duckdb.Error as exc:
            con.close()
            raise StoreError(f"bad {config.ENV_DUCKDB_MEMORY}={config.duckdb_memory()!r}: {exc}") from exc
    # DuckDB 2.0.0: with compressed materialization, BIGINT sums before an ORDER BY came back
    # wrapped (or raised INT128 out of range) on the priced view; correctness first.
    con.execute("SET GLOBAL disabled_optimizers = 'compressed_materialization'")
    if not read_only:
        migrate(con)
    try:
        refresh_views(con, temporary=read_only)
    except duckdb.Error:
        if not read_only:
            raise
        # A read-only ledger older than the views' tables (never migrated): keep what it has.
    return con
