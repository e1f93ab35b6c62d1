"""Deliver alert events through apprise (Slack, email, json:// webhooks, ...) from the outbox.

An event's delivery rows (`alert_deliveries`, one per destination) are committed with the event
(evaluate.py). `deliver_due` sends those that are due: a success marks the row delivered; a
failure is logged and retried with exponential backoff (BACKOFF_S doubling up to MAX_BACKOFF_S)
until MAX_ATTEMPTS, after which the row is 'failed' and shows so on the Budgets page. Every attempt
is a row in `alert_delivery_log`. A destination that is down never blocks ingestion: delivery runs
on the evaluator's thread (runner.py) or in the CLI, never on the receiver's.

Delivery is at least once: a crash after a destination accepted a message but before the row was
marked delivered sends it again on restart; a crash anywhere before sending sends it once.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from llmledger.errors import LedgerError

BACKOFF_S = 30.0
MAX_BACKOFF_S = 3600.0
MAX_ATTEMPTS = 8
#: Environment variable (tests, operators): seconds to wait after committing events and before
#: delivering them, so a test can kill the process between the two.
ENV_DELIVERY_DELAY = "LLMLEDGER_ALERTS_DELIVERY_DELAY_S"


class NotifyError(LedgerError):
    title = "Notification error"


def check_url(url: str) -> None:
    """Raise NotifyError unless apprise understands `url`."""
    import apprise

    if not apprise.Apprise().add(url):
        raise NotifyError(f"apprise does not understand the notification URL {redact(url)!r}")


def redact(url: str) -> str:
    """A URL as shown on the page and in logs: passwords and tokens after the scheme hidden."""
    return re.sub(r"(://[^:/@]+:)[^@/]+@", r"\1***@", url)


def send(url: str, title: str, body: str) -> tuple[bool, str | None, float]:
    """One attempt through apprise: (ok, error text, seconds)."""
    import apprise

    t0 = time.perf_counter()
    a = apprise.Apprise()
    if not a.add(url):
        return False, "apprise does not understand this URL", time.perf_counter() - t0
    with apprise.LogCapture(level=apprise.logging.WARNING) as logs:
        try:
            ok = bool(a.notify(title=title, body=body))
        except Exception as exc:  # a plugin's bug is this destination's failure, nothing more
            ok, logs_text = False, f"{type(exc).__name__}: {exc}"
        else:
            logs_text = logs.getvalue()
    error = None
    if not ok:
        lines = [re.sub(r"^\S+ \S+ - \w+ - ", "", ln).strip() for ln in logs_text.splitlines() if ln.strip()]
        error = "; ".join(lines[-3:]) or "delivery failed"
    return ok, error, time.perf_counter() - t0


def message(event: dict[str, Any]) -> tuple[str, str]:
    """Title and plain-text body of an event's notification."""
    f = event["figures"]
    lines = [event["title"], ""]
    lines.append(f"Budget: {event['rule_name']}  ({f.get('scope', '')})")
    if event.get("member"):
        lines.append(f"Member: {event['member']}")
    lines.append(f"Period: {f.get('period_label', '')}")
    lines.append(f"Spent: {f.get('spent_text', '')} of {f.get('amount_text', '')} ({f.get('pct', 0):.0f}%)")
    if f.get("forecast_text"):
        lines.append(f"Forecast at period end (p50): {f['forecast_text']}")
    if f.get("unpriced_calls"):
        lines.append(f"Unpriced calls (not in the sum): {f['unpriced_calls']:,}")
    explanation = event.get("explanation") or {}
    contrib = explanation.get("top", [])
    if explanation.get("pending"):
        lines.append("")
        lines.append("Top contributors to the change: being computed; open the alert on the Budgets page.")
    if contrib:
        lines.append("")
        lines.append("Top contributors to the change vs the previous period:")
        for c in contrib[:5]:
            lines.append(f"  {c['dim']} {c['value']}: {c['delta_text']}")
    return f"[{event['severity']}] {event['title']}", "\n".join(lines)


DUE_SQL = """
SELECT d.delivery_id, d.event_id, d.url, d.attempts, e.rule_name, e.member, e.severity, e.title,
       e.figures, e.explanation
FROM alert_deliveries d JOIN alert_events e USING (event_id)
WHERE d.status = 'pending' AND d.next_attempt_at <= ?
ORDER BY d.delivery_id
"""
LOG_SQL = "INSERT INTO alert_delivery_log (delivery_id, event_id, url, attempt, ok, error, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)"
DONE_SQL = "UPDATE alert_deliveries SET status = 'delivered', attempts = ?, delivered_at = now(), last_error = NULL WHERE delivery_id = ?"
RETRY_SQL = (
    "UPDATE alert_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ? WHERE delivery_id = ?"
)
NEXT_DUE_SQL = "SELECT min(next_attempt_at) FROM alert_deliveries WHERE status = 'pending'"


def backoff(attempts: int, base: float = BACKOFF_S) -> float:
    return min(base * (2 ** max(attempts - 1, 0)), MAX_BACKOFF_S)


def deliver_due(
    con, now: datetime | None = None, base_backoff: float = BACKOFF_S, max_attempts: int = MAX_ATTEMPTS
) -> dict[str, int]:
    """Send every pending delivery that is due, once each. Returns counts."""
    now = now or datetime.now(UTC)
    cur = con.cursor()
    out = {"delivered": 0, "failed": 0, "retrying": 0}
    try:
        rows = cur.execute(DUE_SQL, [now]).fetchall()
        for did, eid, url, attempts, rule, member, severity, title, figures, explanation in rows:
            event = {
                "rule_name": rule,
                "member": member,
                "severity": severity,
                "title": title,
                "figures": json.loads(figures),
                "explanation": json.loads(explanation),
            }
            subject, body = message(event)
            ok, error, seconds = send(url, subject, body)
            attempt = attempts + 1
            cur.execute("BEGIN")
            cur.execute(LOG_SQL, [did, eid, url, attempt, ok, error, seconds])
            if ok:
                cur.execute(DONE_SQL, [attempt, did])
                out["delivered"] += 1
            else:
                gave_up = attempt >= max_attempts
                nxt = datetime.now(UTC) + timedelta(seconds=backoff(attempt, base_backoff))
                cur.execute(RETRY_SQL, ["failed" if gave_up else "pending", attempt, nxt, error, did])
                out["failed" if gave_up else "retrying"] += 1
            cur.execute("COMMIT")
    finally:
        cur.close()
    return out


def next_due(con) -> datetime | None:
    cur = con.cursor()
    try:
        return cur.execute(NEXT_DUE_SQL).fetchone()[0]
    finally:
        cur.close()


def send_test(con, url: str, rule_name: str = "test") -> dict[str, Any]:
    """The page's "send test" button: one message now, logged like a delivery (delivery_id 0)."""
    check_url(url)
    ok, error, seconds = send(
        url,
        f"[test] LLM Ledger alert test for {rule_name}",
        f"This is a test notification for budget {rule_name!r} from LLM Ledger.",
    )
    cur = con.cursor()
    try:
        cur.execute(LOG_SQL, [0, 0, url, 1, ok, error, seconds])
    finally:
        cur.close()
    return {"ok": ok, "error": error, "seconds": seconds, "url": redact(url)}


DELIVERIES_SQL = """
SELECT d.delivery_id, d.event_id, e.rule_name, e.title, d.url, d.status, d.attempts, d.next_attempt_at,
       d.last_error, d.delivered_at
FROM alert_deliveries d JOIN alert_events e USING (event_id)
ORDER BY d.delivery_id DESC LIMIT ?
"""


def deliveries(con, limit: int = 200):
    cur = con.cursor()
    try:
        df = cur.execute(DELIVERIES_SQL, [limit]).df()
    finally:
        cur.close()
    df["url"] = [redact(u) for u in df["url"]]
    return df
