"""Checkpoints taken by the writer that filled the write-ahead log.

DuckDB checkpoints when a commit finds the WAL past `checkpoint_threshold`, but it does not always
do so on the commit that filled it: on a 1M-call ledger every 20k-span load left about 22 MB of WAL
behind, and the checkpoint (0.1-0.9 s) landed on whichever small transaction committed next, usually
the budget check recording an alert on the way to its notification. `checkpoint_if_due` lets the
loader take it right after its own commit instead. When DuckDB refuses (a reader's snapshot still
needs rows changed since it began), it is skipped and the next load, or a later automatic one,
takes it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import duckdb

_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_size(text: str) -> int:
    """'16.0 MiB' (DuckDB's current_setting) -> bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*", text or "")  # not ".", "1.2.3"
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a size: {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def threshold(con) -> int:
    """DuckDB's checkpoint_threshold, in bytes."""
    return parse_size(str(con.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]))


def db_file(con) -> str | None:
    """The file of `con`'s database (None in memory)."""
    sql = "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    return con.execute(sql).fetchone()[0]


def wal_bytes(db_path: Path | str | None) -> int:
    if not db_path:
        return 0
    try:
        return Path(f"{db_path}.wal").stat().st_size
    except OSError:
        return 0


def checkpoint_if_due(con, limit: int | None = None) -> float | None:
    """Checkpoint when `con`'s WAL is past `limit` bytes (default: DuckDB's threshold); the seconds
    it took, or None (not due, an in-memory database, or DuckDB refused it). Runs on a cursor of its
    own: the loader's connection is shared with other threads."""
    cur = con.cursor()
    try:
        path = db_file(cur)
        if not path or wal_bytes(path) < (threshold(cur) if limit is None else limit):
            return None
        t0 = time.perf_counter()
        try:
            cur.execute("CHECKPOINT")
        except duckdb.TransactionException:
            return None  # another transaction still needs what changed: a later commit checkpoints
        return time.perf_counter() - t0
    finally:
        cur.close()
