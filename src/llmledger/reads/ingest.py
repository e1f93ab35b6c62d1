"""The Ingest page's log of loads: files, uploads and receiver batches."""

from __future__ import annotations

import pandas as pd

RECENT_INGESTS_SQL = """
SELECT loaded_at, source, spans_read, spans_new, calls_new, duplicates, rejects
FROM ingest_log ORDER BY loaded_at DESC LIMIT ?
"""


def recent_ingests(con, limit: int = 20) -> pd.DataFrame:
    return con.execute(RECENT_INGESTS_SQL, [int(limit)]).df()
