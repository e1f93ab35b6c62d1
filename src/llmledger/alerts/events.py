"""Alert events after they fire: list (with their effective state), acknowledge, snooze, resolve.

States: firing -> acknowledged (who, note) | snoozed until a time (back to firing after it, and
while it lasts new events of the same budget and member are recorded but not sent) | resolved
(by hand, or by the evaluator when the event's period has ended).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from llmledger.errors import LedgerError

STATES = ("firing", "acknowledged", "snoozed", "resolved")
SEVERITIES = ("info", "warning", "critical")


class AlertError(LedgerError):
    title = "Alert error"


EFFECTIVE_STATE = "CASE WHEN state = 'snoozed' AND snoozed_until <= ? THEN 'firing' ELSE state END"
LIST_SQL = f"""
SELECT event_id, {EFFECTIVE_STATE} AS state, severity, rule_name, member, threshold, title,
       period_start, period_end, fired_at, as_of, state_by, state_note, state_at, snoozed_until,
       figures, explanation,
       (SELECT count(*) FROM alert_deliveries d WHERE d.event_id = e.event_id AND d.status = 'delivered') AS delivered,
       (SELECT count(*) FROM alert_deliveries d WHERE d.event_id = e.event_id AND d.status = 'failed') AS failed,
       (SELECT count(*) FROM alert_deliveries d WHERE d.event_id = e.event_id AND d.status = 'pending') AS pending
FROM alert_events e
WHERE {{where}}
ORDER BY fired_at DESC, event_id DESC
LIMIT ?
"""


def _check_state(state: str) -> None:
    if state not in STATES:
        raise AlertError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")


def list_events(
    con,
    state: str | None = None,
    severity: str | None = None,
    rule: str | None = None,
    member: str | None = None,
    period_from: datetime | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Events, newest first, filtered by effective state, severity, budget and member."""
    now = datetime.now(UTC)
    clauses, params = ["TRUE"], []
    if state:
        _check_state(state)
        clauses.append(f"{EFFECTIVE_STATE} = ?")
        params += [now, state]
    if severity:
        if severity not in SEVERITIES:
            raise AlertError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
        clauses.append("severity = ?")
        params.append(severity)
    if rule:
        clauses.append("rule_name = ?")
        params.append(rule)
    if member is not None:
        clauses.append("member = ?")
        params.append(member)
    if period_from is not None:
        clauses.append("period_end > ?")
        params.append(period_from)
    cur = con.cursor()
    try:
        df = cur.execute(LIST_SQL.format(where=" AND ".join(clauses)), [now, *params, limit]).df()
    finally:
        cur.close()
    for col in ("figures", "explanation"):
        df[col] = [json.loads(v) if isinstance(v, str) else v for v in df[col]]
    return df


def count(con, state: str) -> int:
    """How many events are in `state` (effective: a snooze that ended counts as firing), all of them:
    the inbox's label reads this on every run of the Budgets page, where listing them (with their
    figures, explanations and deliveries, at most 500) took 0.2 s once a thousand had fired."""
    _check_state(state)
    cur = con.cursor()
    try:
        sql = f"SELECT count(*) FROM alert_events WHERE {EFFECTIVE_STATE} = ?"
        return int(cur.execute(sql, [datetime.now(UTC), state]).fetchall()[0][0])
    finally:
        cur.close()


def get(con, event_id: int) -> dict[str, Any]:
    cur = con.cursor()
    try:
        df = cur.execute(LIST_SQL.format(where="event_id = ?"), [datetime.now(UTC), int(event_id), 1]).df()
    finally:
        cur.close()
    if df.empty:
        raise AlertError(f"no alert with id {event_id}")
    row = df.iloc[0].to_dict()
    for col in ("figures", "explanation"):
        row[col] = json.loads(row[col]) if isinstance(row[col], str) else row[col]
    return row


def link_window(figures: dict[str, Any]) -> tuple[datetime, datetime]:
    """The window [start, end) in UTC that an alert's links open: its budget's period (a rolling
    window's span) up to the moment it was evaluated, the calls its "spent at firing" counts."""
    lo = _utc(datetime.fromisoformat(figures["window_start"]))
    as_of = _utc(datetime.fromisoformat(figures["as_of"]))
    end = figures.get("window_end")
    hi = min(_utc(datetime.fromisoformat(end)), as_of) if end else as_of
    return lo, max(hi, lo)


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _set(con, event_id: int, state: str, by: str, note: str, until: datetime | None = None) -> dict[str, Any]:
    get(con, event_id)  # exists
    if not str(note or "").strip() and state != "resolved":
        raise AlertError("a note is required (what was checked, what will be done)")
    cur = con.cursor()
    try:
        cur.execute(
            "UPDATE alert_events SET state = ?, state_by = ?, state_note = ?, state_at = now(), "
            "snoozed_until = ? WHERE event_id = ?",
            [state, (by or "someone").strip()[:120], str(note or "").strip()[:2000], until, int(event_id)],
        )
    finally:
        cur.close()
    return get(con, event_id)


def acknowledge(con, event_id: int, note: str, by: str = "cli") -> dict[str, Any]:
    return _set(con, event_id, "acknowledged", by, note)


def snooze(con, event_id: int, until: datetime, note: str, by: str = "cli") -> dict[str, Any]:
    until = until.replace(tzinfo=UTC) if until.tzinfo is None else until
    if until <= datetime.now(UTC):
        raise AlertError("snooze until a time in the future")
    return _set(con, event_id, "snoozed", by, note, until)


def resolve(con, event_id: int, note: str = "", by: str = "cli") -> dict[str, Any]:
    return _set(con, event_id, "resolved", by, note)
