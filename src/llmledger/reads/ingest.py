"""The Ingest page's log of loads (files, uploads and receiver batches), the totals of log
records received, and the content policy in force."""

from __future__ import annotations

import pandas as pd

from llmledger.telemetry import content

RECENT_INGESTS_SQL = """
SELECT loaded_at, source, spans_read, spans_new, calls_new, duplicates, rejects,
       logs_read, events_new, logs_dropped
FROM ingest_log ORDER BY loaded_at DESC LIMIT ?
"""
LOG_TOTALS_SQL = """
SELECT coalesce(sum(logs_read), 0), coalesce(sum(events_new), 0), coalesce(sum(logs_dropped), 0)
FROM ingest_log
"""


def recent_ingests(con, limit: int = 20) -> pd.DataFrame:
    return con.execute(RECENT_INGESTS_SQL, [int(limit)]).df()


def log_totals(con) -> dict:
    """Log records read, GenAI events stored, and other records counted and dropped, ever."""
    read, events, dropped = con.execute(LOG_TOTALS_SQL).fetchone()
    return {"logs_read": int(read), "events_new": int(events), "logs_dropped": int(dropped)}


def content_policy(con) -> dict:
    """The policy in force, the stored setting, and the environment's value (which wins when set;
    `env_error` says why a value there is not a policy)."""
    try:
        env, env_error = content.env_policy(), None
    except content.ContentPolicyError as exc:
        env, env_error = None, exc.msg
    stored = content.stored_policy(con)
    return {
        "policy": env or stored or content.DEFAULT_POLICY,
        "stored": stored or content.DEFAULT_POLICY,
        "env": env,
        "env_error": env_error,
    }


def save_content_policy(con, value: str) -> str:
    return content.save_policy(con, value)
