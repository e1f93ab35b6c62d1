"""Budget status at a moment, and the threshold crossings it records as alert events.

`status(con, as_of)` computes every budget's spend for the period containing `as_of` (for "each"
budgets: every member's), its p50 forecast at period end with the p10-p90 band, and when it is
forecast to run out. `check(con, as_of)` turns crossed thresholds into events, exactly once per
(rule, threshold, period, member): the unique key in `alert_events` decides, so repeated checks,
restarts and concurrent evaluators add nothing. Each event is committed together with its delivery
rows (the outbox); notify.deliver_due sends them afterwards, and then each new event's explanation
is computed and stored (record.py).

Thresholds are percent of the amount, on actual spend or on the p50 forecast of the period-end
total. Whole-scope budgets are forecast by forecast.forecast_period_end (weekly seasonal model, run
rate with little history); "each" budgets' members by the linear run rate (forecast.run_rate_period_end),
which keeps a check over thousands of members to one grouped query. Rolling windows are not
forecast; a rolling threshold fires at most once per window length (its event's period is the
window length from the hour it crossed).

The work is split: figures.py (what a status holds), scans.py (the grouped scans), budget_forecasts.py
(forecasts inside an evaluation), running.py (running totals after loads), record.py (events,
outbox rows, explanations).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from llmledger.alerts import budgets as bmod
from llmledger.alerts import notify, periods, reads, record, running
from llmledger.alerts.budget_forecasts import _cache, forecast_figures, member_forecasts, whole_forecasts
from llmledger.alerts.budgets import StoredBudget
from llmledger.alerts.figures import HISTORY_DAYS, TOP_FORECAST, TOP_MEMBERS, BudgetStatus, Figures, utc
from llmledger.alerts.record import MAX_EXPLAINED, explain
from llmledger.alerts.scans import _ctx, _scans, each_totals, member_figures, whole_totals

log = logging.getLogger(__name__)

__all__ = [
    "HISTORY_DAYS",
    "MAX_EXPLAINED",
    "TOP_FORECAST",
    "TOP_MEMBERS",
    "BudgetStatus",
    "Figures",
    "_cache",
    "_scans",
    "check",
    "explain",
    "from_running",
    "history",
    "status",
]


def status(
    con, as_of: datetime | None = None, forecasts: str = "all", stored: list[StoredBudget] | None = None
) -> list[BudgetStatus]:
    """Every enabled budget's figures for the period containing `as_of` (default now).
    `forecasts`: 'all' (whole-scope calendar budgets get a seasonal forecast), 'needed' (only
    budgets with forecast thresholds: what a check needs), 'none'."""
    return _status(con, as_of, forecasts, stored, marked=False)[0]


def _status(
    con, as_of: datetime | None, forecasts: str, stored: list[StoredBudget] | None, marked: bool = True
) -> tuple[list[BudgetStatus], str | None, dict | None]:
    """status(), with the memo table scanned and the load watermark of the snapshot the totals
    were read in (None when the memo was not in step with the calls: nothing to seed from; and
    without `marked`: status() seeds nothing, and the watermark's reads, the recent loads' calls
    priced among them, took 50 ms of every Budgets page run over 1M calls)."""
    as_of = utc(as_of)
    stored = [s for s in (stored if stored is not None else bmod.load_all(con)) if s.budget.enabled]
    if not stored:
        return [], None, None
    table = reads.source(con)
    cur = con.cursor()
    marker = None
    try:
        # One read transaction: every scan below and the watermark see the same calls.
        cur.execute("BEGIN")
        marker = running.snapshot_marker(cur, table) if marked else None
        out = {
            s.rule_id: BudgetStatus(s.rule_id, s.budget, periods.window(s.budget.period, s.budget.tz, as_of), as_of)
            for s in stored
        }
        whole = [out[s.rule_id] for s in stored if not s.budget.each]
        whole_totals(cur, table, whole, as_of)
        want = [
            s
            for s in whole
            if not s.window.rolling
            and (
                forecasts == "all" or (forecasts == "needed" and any(t.kind == "forecast" for t in s.budget.thresholds))
            )
        ]
        whole_forecasts(con, cur, table, want, as_of)
        each_totals(cur, table, [out[s.rule_id] for s in stored if s.budget.each], as_of)
        if forecasts == "all":
            for s in stored:
                if s.budget.each and not out[s.rule_id].window.rolling:
                    member_forecasts(cur, table, out[s.rule_id], as_of)
    finally:
        _ctx.pop(id(cur), None)
        try:
            cur.execute("COMMIT")
        except Exception:  # noqa: BLE001 - a failed scan already ended the transaction
            pass
        cur.close()
    return [out[s.rule_id] for s in stored], table, marker


def from_running(stored: list[StoredBudget], as_of: datetime, adv: dict) -> list[BudgetStatus]:
    """Budget statuses from running totals (running.advance): what status(forecasts='needed')
    gives, without scanning the calls."""
    out = []
    for sb in stored:
        b = sb.budget
        if not b.enabled:
            continue
        s = BudgetStatus(sb.rule_id, b, periods.window(b.period, b.tz, as_of), as_of)
        a = adv["aggs"][adv["by_rule"][sb.rule_id]]
        if b.each:
            member_figures(s, running.frame(a.members), as_of)
        else:
            nano, tokens, calls, unpriced = (int(x) for x in a.whole)
            spent = round(nano / running.NANO, 9) if b.unit == "usd" else float(tokens)
            s.whole = Figures("", spent, calls, unpriced, float(b.amount))
            got = adv["forecast"].get(sb.rule_id)
            if got is not None:
                series, p_start, p_last = got
                local_as_of = as_of.astimezone(ZoneInfo(b.tz)).replace(tzinfo=None)
                f = s.whole
                f.p10, f.p50, f.p90, f.method, f.runs_out = forecast_figures(
                    sb.rule_id, series, p_start, p_last, local_as_of, spent, f.amount
                )  # the figures only: s.forecast (the burn-up path) stays None in a check
        out.append(s)
    return out


def check(
    con,
    as_of: datetime | None = None,
    deliver: bool = True,
    base_backoff: float = notify.BACKOFF_S,
    stored: list[StoredBudget] | None = None,
    incremental: bool = False,
    explain: bool = True,
) -> dict[str, Any]:
    """Evaluate every budget at `as_of` (default now), record new crossings as events with their
    deliveries (one transaction), resolve events whose period ended, then deliver what is due.
    `incremental`: after loads, add the calls loaded since the last check to running totals
    (running.py) when that gives what a full scan gives; otherwise (and always when False)
    scan fully and seed the running totals from that scan. New events are committed with a pending
    explanation, delivered, then explained (`explain=False`: by the caller, later).
    Returns {"new_events": [...], "resolved": n, "deliveries": {...}, "seconds": {...}, "mode"}."""
    t0, c0 = time.perf_counter(), time.process_time()
    as_of = utc(as_of)
    stored = stored if stored is not None else bmod.load_all_cached(con)
    statuses, mode = None, "full"
    if incremental:
        table, sheet = reads.memo_of_active(con)
        adv = running.advance(con, table, sheet, stored, as_of)
        if adv is not None:
            statuses, mode = from_running(stored, as_of, adv), "incremental"
    if statuses is None:
        statuses, table, marker = _status(con, as_of, "needed", stored)
        if table is not None:
            running.seed(con, table, stored, statuses, as_of, marker)
    t_eval, c_eval = time.perf_counter() - t0, time.process_time() - c0
    candidates = []
    for s in statuses:
        rows = getattr(s, "_all_members", None) if s.budget.each else [s.whole]
        for f in rows or []:
            for t in record.crossings(s, f):
                candidates.append((s, f, t))
    from llmledger.alerts import monitors

    watch = monitors.candidates(con, as_of)
    new_events, todo = record.record(con, statuses, candidates, watch, as_of)
    resolved = record.resolve_ended(con, as_of)
    t_record = time.perf_counter() - t0 - t_eval
    deliveries = {}
    if deliver:
        delay = float(os.environ.get(notify.ENV_DELIVERY_DELAY, "0") or 0)
        if delay and new_events:
            print(f"llmledger: {len(new_events)} event(s) committed; delivering in {delay:g} s", flush=True)
            time.sleep(delay)
        deliveries = notify.deliver_due(con, base_backoff=base_backoff)
    t_deliver = time.perf_counter() - t0 - t_eval - t_record
    # Explanations after delivery: the memo brought up to date and a scan of two periods per event
    # must not delay the notification.
    # `explain=False` (the background evaluator): left to record.explain_pending on another thread.
    explained = record.explain_pending(con, todo, new_events) if explain else 0
    return {
        "as_of": as_of.isoformat(),
        "budgets": len(statuses),
        "new_events": new_events,
        "resolved": resolved,
        "deliveries": deliveries,
        "explained": explained,
        "seconds": {
            "evaluate": t_eval,
            "record": t_record,
            "deliver": t_deliver,
            "explain": time.perf_counter() - t0 - t_eval - t_record - t_deliver,
            "total": time.perf_counter() - t0,
        },
        # CPU seconds of this process (every thread, DuckDB's too): steadier than wall time on a busy machine.
        "cpu_seconds": {"evaluate": c_eval, "total": time.process_time() - c0},
        "mode": mode,
    }


def history(con, s: BudgetStatus, n: int = 6, member: str | None = None) -> pd.DataFrame:
    """Spent in the `n` periods before the current one and in the current one so far (calendar
    budgets; a rolling budget gets the `n` windows of its length before as_of)."""
    b = s.budget
    if s.window.rolling:
        length = s.window.end - s.window.start
        wins = [(s.as_of - length * (k + 1), s.as_of - length * k) for k in range(n, -1, -1)]
        labels = [f"to {e:%m-%d %H:%M}" for _, e in wins]
    else:
        past = periods.history(b.period, b.tz, s.as_of, n)
        wins = [(w.start, w.end) for w in past] + [(s.window.start, min(s.window.end, s.as_of))]
        zone = ZoneInfo(b.tz)
        fmt = {"day": "%m-%d", "week": "wk %m-%d", "month": "%Y-%m", "quarter": "%Y-%m"}[b.period]
        labels = [w[0].astimezone(zone).strftime(fmt) for w in wins]
        labels[-1] += " (so far)"
    table = reads.source(con)
    cur = con.cursor()
    try:
        got = reads.period_totals(cur, table, b.scope, b.unit, wins, (b.each, member) if member else None)
    finally:
        cur.close()
    return pd.DataFrame(
        {
            "label": labels,
            "start": [w[0] for w in wins],
            "end": [w[1] for w in wins],
            "spent": [g["spent"] for g in got],
            "calls": [g["calls"] for g in got],
            "unpriced": [g["unpriced"] for g in got],
        }
    )
