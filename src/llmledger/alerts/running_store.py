"""The alerts-owned copy of the running totals: `alert_running` (one row per budget, window start
and member) and the watermark in `alert_running_state`, for a reviewer, `llmledger sql`, and to
see what the evaluator counted; the evaluator itself reads the in-memory totals (running.py).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pandas as pd

from llmledger.alerts.running_rows import NANO
from llmledger.store import background

#: A running.Seed (not imported: running imports this module, and the import graph stays a tree).
Seed = Any

#: The in-memory totals are copied into `alert_running` at every seed and at most this often after.
PERSIST_S = 60.0
#: A copy of at most this many rows is written at once; a larger one on a thread of its own.
SYNC_ROWS = 20_000

UPSERT_STATE_SQL = "INSERT OR REPLACE INTO alert_running_state VALUES (?, ?, now())"


_persisting = threading.Lock()


def persist_later(con, sd: Seed) -> None:
    """persist() on a daemon thread (a check after a load does not wait for the copy); skipped
    while the previous copy is still being written."""
    if not _persisting.acquire(blocking=False):
        return
    sd.persisted_at = time.monotonic()
    rows = sum(
        len(a.members) if a.each and a.members is not None else 1
        for a in (sd.aggs.get(k) for k in sd.by_rule.values())
        if a is not None
    )
    if rows <= SYNC_ROWS:  # small: written now (nothing left running when the ledger closes)
        try:
            persist(con, sd)
        finally:
            _persisting.release()
        return

    def run() -> None:
        try:
            persist(con, sd)
        except Exception:  # noqa: BLE001 - the copy is for reading; the next one retries
            pass
        finally:
            _persisting.release()

    background.spawn(run, "llmledger-running-totals")


def flush(timeout: float = 60.0) -> bool:
    """Wait until no copy into `alert_running` is being written (tests, shutdown)."""
    if _persisting.acquire(timeout=timeout):
        _persisting.release()
        return True
    return False


def persist(con, sd: Seed, stored=None) -> None:
    """Copy the totals into `alert_running` (for a reviewer, `llmledger sql`, and to see what the
    evaluator counted); the evaluator itself reads the in-memory ones."""
    sd.persisted_at = time.monotonic()
    rows = []
    for rule_id, key in sd.by_rule.items():
        a = sd.aggs.get(key)
        if a is None:
            continue
        if a.each and a.members is not None and len(a.members):
            m = a.members
            rows.append(
                pd.DataFrame(
                    {
                        "rule_id": rule_id,
                        "window_start": a.lo,
                        "member": m.index.astype(str),
                        "usd": m["nano"].to_numpy() / NANO,
                        "tokens": m["tokens"].to_numpy(),
                        "calls": m["calls"].to_numpy(),
                        "unpriced": m["unpriced"].to_numpy(),
                    }
                )
            )
        elif not a.each:
            rows.append(
                pd.DataFrame(
                    {
                        "rule_id": [rule_id],
                        "window_start": [a.lo],
                        "member": [""],
                        "usd": [a.whole[0] / NANO],
                        "tokens": [int(a.whole[1])],
                        "calls": [int(a.whole[2])],
                        "unpriced": [int(a.whole[3])],
                    }
                )
            )
    frame = pd.concat(rows, ignore_index=True) if rows else None  # noqa: F841 - read by DuckDB
    cur = con.cursor()
    try:
        cur.execute("BEGIN")
        try:
            cur.execute("DELETE FROM alert_running")
            if frame is not None:
                cur.execute(
                    "INSERT INTO alert_running SELECT rule_id, window_start, member, usd, tokens, calls, unpriced FROM frame"
                )
            cur.execute(
                UPSERT_STATE_SQL,
                [
                    "watermark",
                    json.dumps({"load_seq": sd.seq, "calls": sd.count, "as_of": sd.as_of.isoformat()}),
                ],
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    finally:
        cur.close()
