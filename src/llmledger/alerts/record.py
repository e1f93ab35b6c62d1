"""Recording crossings as alert events: exactly once per (rule, threshold, period, member), each
committed with its delivery rows (the outbox) and the figures at firing; explanations after.

`record` inserts the events of one check in one transaction; the unique key in `alert_events`
decides, so repeated checks, restarts and concurrent evaluators add nothing. An event's
explanation (the feature, user and model values that changed spend most against the same elapsed
part of the previous period) needs the priced-calls memo brought up to date and a scan of two
periods, so it is not computed on the way to the notification: the event is committed with
`{"pending": true}` as its explanation, delivered, and `explain_pending` fills it in right after
(also for events a crash left pending).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from llmledger.alerts import budgets as bmod
from llmledger.alerts import periods, reads
from llmledger.alerts.budgets import Budget
from llmledger.alerts.figures import BudgetStatus, Figures

log = logging.getLogger(__name__)

#: At most this many events per check get their contributors computed (a backfill of an "each
#: user" budget can fire thousands at once; the rest say so).
MAX_EXPLAINED = 25
#: The explanation an event is committed with until explain_pending computes it.
PENDING = {"top": [], "pending": True, "note": "Top contributors: being computed (they appear here within seconds)."}
PENDING_SQL = """
SELECT event_id, rule_id, member, as_of FROM alert_events
WHERE threshold NOT LIKE 'monitor:%' AND json_extract_string(explanation, '$.pending') = 'true'
ORDER BY event_id
"""
SET_EXPLANATION_SQL = "UPDATE alert_events SET explanation = ? WHERE event_id = ?"
#: False once this process has seen no pending explanation left (a crash may leave some: the
#: first check of a process looks).
_maybe_pending = True
_pending_lock = threading.Lock()

EXISTING_SQL = """
SELECT rule_id, threshold, period_start, member, period_end FROM alert_events
WHERE rule_id IN (SELECT unnest(?)) AND period_end > ?
"""
INSERT_EVENT_SQL = """
INSERT INTO alert_events (rule_id, rule_name, threshold, period_start, period_end, member, severity, as_of,
                          title, figures, explanation)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
RETURNING event_id
"""
INSERT_DELIVERY_SQL = "INSERT INTO alert_deliveries (event_id, url, status) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
MUTED_SQL = """
SELECT DISTINCT rule_id, member FROM alert_events
WHERE state = 'snoozed' AND snoozed_until > ?
"""
OPEN_ENDED_SQL = "SELECT count(*) FROM alert_events WHERE state <> 'resolved' AND period_end <= ?"
RESOLVE_ENDED_SQL = """
UPDATE alert_events SET state = 'resolved', state_by = 'llmledger', state_note = 'period ended', state_at = now()
WHERE state <> 'resolved' AND period_end <= ?
"""


def crossings(s: BudgetStatus, f: Figures) -> list[bmod.Threshold]:
    out = []
    for t in s.budget.thresholds:
        value = f.spent if t.kind == "actual" else f.p50
        if value is not None and value >= f.amount * t.pct / 100 - 1e-9:
            out.append(t)
    return out


def event_window(s: BudgetStatus) -> tuple[datetime, datetime]:
    if not s.window.rolling:
        return s.window.start, s.window.end
    start = s.as_of.replace(minute=0, second=0, microsecond=0)
    return start, start + (s.window.end - s.window.start)


def _fmt(b: Budget, v: float | None) -> str:
    return "" if v is None else b.amount_text(v)


def _figures(s: BudgetStatus, f: Figures) -> dict[str, Any]:
    b = s.budget
    return {
        "spent": f.spent,
        "amount": f.amount,
        "unit": b.unit,
        "pct": round(f.pct, 2),
        "calls": f.calls,
        "unpriced_calls": f.unpriced,
        "forecast_p10": f.p10,
        "forecast_p50": f.p50,
        "forecast_p90": f.p90,
        "forecast_method": f.method,
        "runs_out": f.runs_out.isoformat() if f.runs_out else None,
        "spent_text": _fmt(b, f.spent),
        "amount_text": _fmt(b, f.amount),
        "forecast_text": _fmt(b, f.p50),
        "scope": b.scope_text(),
        "period": b.period,
        "tz": b.tz,
        "period_label": s.period_label(),
        "window_start": s.window.start.isoformat(),
        "window_end": s.window.end.isoformat(),
        "as_of": s.as_of.isoformat(),
        "sheet": None,
    }


def _title(s: BudgetStatus, f: Figures, t: bmod.Threshold) -> str:
    who = f" for {s.budget.each} {f.member}" if f.member else ""
    if t.kind == "forecast":
        return (
            f"Budget {s.budget.name}{who} is forecast to reach {t.pct:g}% "
            f"({_fmt(s.budget, f.p50)} of {_fmt(s.budget, f.amount)}) by the end of the {s.budget.period}"
        )
    return f"Budget {s.budget.name}{who} passed {t.pct:g}% ({_fmt(s.budget, f.spent)} of {_fmt(s.budget, f.amount)})"


def explain(con, table: str, s: BudgetStatus, member: str) -> dict[str, Any]:
    """Top contributors (feature, user, model) to the change against the same elapsed part of the
    previous period."""
    b = s.budget
    prev = periods.previous(b.period, b.tz, s.window)
    end = min(s.as_of, s.window.end)
    elapsed = end - s.window.start
    before = (prev.start, min(prev.start + elapsed, prev.end))
    cur = con.cursor()
    try:
        top = reads.contributors(
            cur, table, b.scope, (b.each, member) if member else None, b.unit, (s.window.start, end), before
        )
    finally:
        cur.close()
    for c in top:
        sign = "+" if c["delta"] >= 0 else "-"
        c["delta_text"] = (
            f"{sign}{b.amount_text(abs(c['delta']))} ({b.amount_text(c['before'])} -> {b.amount_text(c['now'])})"
        )
    return {"against": {"start": before[0].isoformat(), "end": before[1].isoformat()}, "top": top[:10]}


def _existing(cur, rule_ids: list[int], as_of: datetime) -> dict[str, set]:
    """Keys of events still open for their period (period_end after as_of): calendar periods by
    exact key, rolling windows by (rule, threshold, member)."""
    rows = cur.execute(EXISTING_SQL, [rule_ids, as_of - timedelta(days=400)]).fetchall()
    exact = {(r, t, ps, m) for r, t, ps, m, pe in rows}
    rolling = {(r, t, m) for r, t, ps, m, pe in rows if pe > as_of}
    return {"exact": exact, "rolling": rolling}


def record(
    con, statuses: list[BudgetStatus], candidates: list, watch: list[dict[str, Any]], as_of: datetime
) -> tuple[list[dict[str, Any]], list[tuple[int, BudgetStatus, str]]]:
    """Insert the new crossings (`candidates`: (status, figures, threshold)) and monitor findings
    (`watch`) as events with their deliveries, in one transaction. Returns the new events (as
    `check` prints them) and (event_id, status, member) of those whose explanation is pending."""
    global _maybe_pending
    new_events: list[dict[str, Any]] = []
    todo: list[tuple[int, BudgetStatus, str]] = []
    if not candidates and not watch:
        return new_events, todo
    cur = con.cursor()
    try:
        existing = _existing(cur, [s.rule_id for s in statuses] + [w["rule_id"] for w in watch], as_of)
        fresh = []
        for s, f, t in candidates:
            p_start, p_end = event_window(s)
            if s.window.rolling:
                if (s.rule_id, t.key, f.member) in existing["rolling"]:
                    continue
            elif (s.rule_id, t.key, p_start, f.member) in existing["exact"]:
                continue
            fresh.append((s, f, t, p_start, p_end))
        watch = [w for w in watch if (w["rule_id"], w["threshold"], w["member"]) not in existing["rolling"]]
        if not fresh and not watch:
            return new_events, todo
        muted = {(r, m) for r, m in cur.execute(MUTED_SQL, [datetime.now(UTC)]).fetchall()}
        sheet = reads.active_sheet(con)
        items = []
        for n, (s, f, t, p_start, p_end) in enumerate(fresh):
            figures = _figures(s, f)
            figures["sheet"] = sheet
            if n < MAX_EXPLAINED:
                explanation = dict(PENDING)
            else:
                explanation = {"top": [], "note": f"not computed: more than {MAX_EXPLAINED} events in one check"}
            items.append(
                {
                    "rule_id": s.rule_id,
                    "rule_name": s.budget.name,
                    "threshold": t.key,
                    "period_start": p_start,
                    "period_end": p_end,
                    "member": f.member,
                    "severity": t.severity,
                    "title": _title(s, f, t),
                    "notify": s.budget.notify,
                    "figures": figures,
                    "explanation": explanation,
                    "status": s,
                }
            )
        items += watch  # monitors: one event per member and cool-down
        cur.execute("BEGIN")
        try:
            for it in items:
                got = cur.execute(
                    INSERT_EVENT_SQL,
                    [
                        it["rule_id"],
                        it["rule_name"],
                        it["threshold"],
                        it["period_start"],
                        it["period_end"],
                        it["member"],
                        it["severity"],
                        as_of,
                        it["title"],
                        json.dumps(it["figures"], default=str),
                        json.dumps(it["explanation"], default=str),
                    ],
                ).fetchall()
                if not got:
                    continue  # another evaluator recorded it first
                eid = int(got[0][0])
                state = "muted" if (it["rule_id"], it["member"]) in muted else "pending"
                for url in it["notify"]:
                    cur.execute(INSERT_DELIVERY_SQL, [eid, url, state])
                if it["explanation"].get("pending"):
                    todo.append((eid, it["status"], it["member"]))
                new_events.append(
                    {
                        "event_id": eid,
                        "rule": it["rule_name"],
                        "threshold": it["threshold"],
                        "member": it["member"],
                        "severity": it["severity"],
                        "title": it["title"],
                        "period_start": it["period_start"].isoformat(),
                        "period_end": it["period_end"].isoformat(),
                        "figures": it["figures"],
                        "explanation": it["explanation"],
                    }
                )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    finally:
        cur.close()
    if todo:
        with _pending_lock:
            _maybe_pending = True
    return new_events, todo


def resolve_ended(con, as_of: datetime) -> int:
    """Resolve the open events whose period ended by `as_of`; how many."""
    cur = con.cursor()
    try:
        if not cur.execute(OPEN_ENDED_SQL, [as_of]).fetchone()[0]:
            return 0  # nothing to write (the usual case: no write transaction on every check)
        return len(cur.execute(RESOLVE_ENDED_SQL + " RETURNING event_id", [as_of]).fetchall())
    finally:
        cur.close()


def explain_pending(
    con, todo: list[tuple[int, BudgetStatus, str]], new_events: list[dict[str, Any]] | None = None
) -> int:
    """Compute and store the explanations of `todo` (this check's new events) and of any event a
    crash left pending; the matching `new_events` get theirs. Returns how many were computed."""
    global _maybe_pending
    with _pending_lock:
        look = _maybe_pending
    if not todo and not look:
        return 0
    work = {eid: (s, member) for eid, s, member in todo}
    cur = con.cursor()
    try:
        left = cur.execute(PENDING_SQL).fetchall() if look else []
    finally:
        cur.close()
    stored, skipped = None, 0
    for eid, rule_id, member, as_of in left:
        if eid in work:
            continue
        if len(work) >= MAX_EXPLAINED:
            skipped += 1  # the next check takes them
            continue
        stored = stored if stored is not None else {s.rule_id: s for s in bmod.load_all(con)}
        sb = stored.get(rule_id)
        if sb is None:
            _store(con, eid, {"top": [], "note": "not computed: the budget was removed first"})
            continue
        b = sb.budget
        when = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
        work[eid] = (BudgetStatus(rule_id, b, periods.window(b.period, b.tz, when), when), member)
    if not work:
        with _pending_lock:
            _maybe_pending = False
        return 0
    table = reads.source(con)  # explanations read the memo, brought up to date once
    by_id = {e["event_id"]: e for e in new_events or []}
    done = 0
    for eid, (s, member) in work.items():
        try:
            explanation = explain(con, table, s, member)
        except Exception as exc:  # noqa: BLE001 - the event stands; its explanation says why it is missing
            log.exception("explaining alert %s failed", eid)
            explanation = {"top": [], "note": f"not computed: {type(exc).__name__}: {exc}"}
        _store(con, eid, explanation)
        if eid in by_id:
            by_id[eid]["explanation"] = explanation
        done += 1
    if look and not skipped:
        with _pending_lock:
            _maybe_pending = False
    return done


def _store(con, event_id: int, explanation: dict[str, Any]) -> None:
    cur = con.cursor()
    try:
        cur.execute(SET_EXPLANATION_SQL, [json.dumps(explanation, default=str), int(event_id)])
    finally:
        cur.close()
