"""The Ingest page's quarantine section: the table of batches the loader set aside, and what its
Retry and Drop buttons do. Streamlit glue only; the file work is llmledger.telemetry.quarantine."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from llmledger import config
from llmledger.telemetry import quarantine
from llmledger.ui import common

COLUMNS = ["name", "size_bytes", "spans", "quarantined_at", "reason"]


def spool_dir() -> Path:
    """The spool the embedded receiver uses, or the one it would use for this database."""
    found = getattr(common.service(), "spool_dir", None)
    return Path(found) if found else config.spool_dir(config.db_path())


def quarantined_frame() -> pd.DataFrame:
    """One row per quarantined batch; reasons stay plain text (they quote client input)."""
    rows = [
        {
            "name": q.name,
            "size_bytes": q.size_bytes,
            "spans": q.spans,
            "quarantined_at": q.quarantined_at,
            "reason": q.reason,
        }
        for q in quarantine.list_quarantined(spool_dir())
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def columns() -> dict:
    return {
        "name": st.column_config.TextColumn("Batch"),
        "size_bytes": st.column_config.NumberColumn("Size (bytes)", format="localized"),
        "spans": st.column_config.NumberColumn("Spans", help="Empty when the file cannot be decoded or is over 1 MiB"),
        "quarantined_at": st.column_config.DatetimeColumn("Quarantined at (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "reason": st.column_config.TextColumn("Reason", width="large"),
    }


def retry(names: list[str]) -> str:
    """Put batches back for loading: through the running service when there is one (it queues
    them), else move them and load the spool on the page's own connection."""
    service = common.service()
    if hasattr(service, "retry_quarantined"):
        n = service.retry_quarantined(names)
        return f"Moved {n} batch(es) back to the spool; the receiver's loader is loading them."
    from llmledger.telemetry.service import load_spool

    moved = quarantine.retry(spool_dir(), names)
    res = load_spool(common.resources()["con"], spool_dir())
    return (
        f"Moved {len(moved)} batch(es) back to the spool and loaded {res['loaded_batches']} "
        f"({res['loaded_spans']:,} new spans); {res['quarantined']} quarantined again."
    )


def drop(names: list[str]) -> str:
    n = quarantine.drop(spool_dir(), names)
    return f"Dropped {n} quarantined batch(es)."
