"""Budget status at a moment, and the threshold crossings it records as alert events.

`status(con, as_of)` computes every budget's spend for the period containing `as_of` (for "each"
budgets: every member's), its p50 forecast at period end with the p10-p90 band, and when it is
forecast to run out. `check(con, as_of)` turns crossed thresholds into events, exactly once per
(rule, threshold, period, member): the unique key in `alert_events` decides, so repeated checks,
restarts and concurrent evaluators add nothing. Each event is committed together with its delivery
rows (the outbox); notify.deliver_due sends them afterwards.

Thresholds are percent of the amount, on actual spend or on the p50 forecast of the period-end
total. Whole-scope budgets are forecast by forecast.forecast_period_end (weekly seasonal model, run
rate with little history); "each" budgets' members by the linear run rate (forecast.run_rate_period_end),
which keeps a check over thousands of members to one grouped query. Rolling windows are not
forecast; a rolling threshold fires at most once per window length (its event's period is the
window length from the hour it crossed).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from llmledger.alerts import budgets as bmod
from llmledger.alerts import forecast as fc
from llmledger.alerts import notify, periods, reads, running
from llmledger.alerts.budgets import Budget, StoredBudget

log = logging.getLogger(__name__)

#: Days of history before the period given to the forecaster (its weekly model wants weeks).
HISTORY_DAYS = 56
#: At most this many new events per check get their contributors computed (a backfill of an
#: "each user" budget can fire thousands at once; the rest say so).
MAX_EXPLAINED = 25
#: Members of an "each" budget kept in a status (closest to their limit first).
TOP_MEMBERS = 50


@dataclass
class Figures:
    member: str  # '' = the whole scope
    spent: float
    calls: int
    unpriced: int
    amount: float
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None
    method: str = ""
    runs_out: date | None = None

    @property
    def pct(self) -> float:
        return 100.0 * self.spent / self.amount if self.amount else 0.0

    @property
    def forecast_pct(self) -> float | None:
        return None if self.p50 is None else 100.0 * self.p50 / self.amount


@dataclass
class BudgetStatus:
    rule_id: int
    budget: Budget
    window: periods.Window
    as_of: datetime
    whole: Figures | None = None  # whole-scope budgets
    members: list[Figures] = field(default_factory=list)  # "each" budgets, closest to the limit first
    member_count: int = 0
    forecast: Any = None  # fc.Forecast of a whole-scope calendar budget (burn-up band)
    daily: pd.Series | None = None  # spend per local day in the period so far

    @property
    def rows(self) -> list[Figures]:
        return [self.whole] if self.whole is not None else self.members

    @property
    def worst(self) -> Figures | None:
        rows = self.rows
        return max(rows, key=lambda f: max(f.pct, f.forecast_pct or 0)) if rows else None

    def state(self, f: Figures | None = None) -> str:
        """over | forecast over | warning | ok, against the budget's thresholds."""
        f = f or self.worst
        if f is None:
            return "ok"
        if f.spent >= f.amount:
            return "over"
        if f.p50 is not None and f.p50 >= f.amount:
            return "forecast over"
        actual = [t.pct for t in self.budget.thresholds if t.kind == "actual"]
        if actual and f.pct >= min(actual):
            return "warning"
        return "ok"

    def period_label(self) -> str:
        b = self.budget
        if self.window.rolling:
            return f"{b.period} to {self.as_of:%Y-%m-%d %H:%M} UTC"
        zone = ZoneInfo(b.tz)
        s = self.window.start.astimezone(zone)
        e = self.window.end.astimezone(zone) - timedelta(seconds=1)
        return f"{b.period} {s:%Y-%m-%d} to {e:%Y-%m-%d} ({b.tz})"


# ------------------------------------------------------------------ status


def _utc(as_of: datetime | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    return as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)


def status(
    con, as_of: datetime | None = None, forecasts: str = "all", stored: list[StoredBudget] | None = None
) -> list[BudgetStatus]:
    """Every enabled budget's figures for the period containing `as_of` (default now).
    `forecasts`: 'all' (whole-scope calendar budgets get a seasonal forecast), 'needed' (only
    budgets with forecast thresholds: what a check needs), 'none'."""
    return _status(con, as_of, forecasts, stored)[0]


def _status(
    con, as_of: datetime | None, forecasts: str, stored: list[StoredBudget] | None
) -> tuple[list[BudgetStatus], str | None, dict | None]:
    """status(), with the memo table scanned and the load watermark of the snapshot the totals
    were read in (None when the memo was not in step with the calls: nothing to seed from)."""
    as_of = _utc(as_of)
    stored = [s for s in (stored if stored is not None else bmod.load_all(con)) if s.budget.enabled]
    if not stored:
        return [], None, None
    table = reads.source(con)
    cur = con.cursor()
    marker = None
    try:
        # One read transaction: every scan below and the watermark see the same calls.
        cur.execute("BEGIN")
        marker = running.snapshot_marker(cur, table)
        out = {
            s.rule_id: BudgetStatus(s.rule_id, s.budget, periods.window(s.budget.period, s.budget.tz, as_of), as_of)
            for s in stored
        }
        whole = [out[s.rule_id] for s in stored if not s.budget.each]
        _whole(cur, table, whole, as_of)
        want = [
            s
            for s in whole
            if not s.window.rolling
            and (
                forecasts == "all" or (forecasts == "needed" and any(t.kind == "forecast" for t in s.budget.thresholds))
            )
        ]
        _forecasts(con, cur, table, want, as_of)
        _each(cur, table, [out[s.rule_id] for s in stored if s.budget.each], as_of)
        if forecasts == "all":
            for s in stored:
                if s.budget.each and not out[s.rule_id].window.rolling:
                    _member_forecasts(cur, table, out[s.rule_id], as_of)
    finally:
        _ctx.pop(id(cur), None)
        try:
            cur.execute("COMMIT")
        except Exception:  # noqa: BLE001 - a failed scan already ended the transaction
            pass
        cur.close()
    return [out[s.rule_id] for s in stored], table, marker


def _distinct_scopes(statuses: list[BudgetStatus]) -> list:
    return list(dict.fromkeys(s.budget.scope for s in statuses))


def _boundaries(statuses: list[BudgetStatus]) -> list[datetime]:
    return sorted({s.window.start for s in statuses})


def _whole(cur, table: str, statuses: list[BudgetStatus], as_of: datetime) -> None:
    """Every whole-scope budget's total in its window: one scan for the calendar budgets (split at
    a cut, see _split_scan) and one for the rolling ones (their windows move with the clock)."""
    _whole_group(cur, table, [s for s in statuses if not s.window.rolling], as_of, True)
    _whole_group(cur, table, [s for s in statuses if s.window.rolling], as_of, False)


def _whole_group(cur, table: str, statuses: list[BudgetStatus], as_of: datetime, cacheable: bool) -> None:
    if not statuses:
        return
    scopes = _distinct_scopes(statuses)
    bounds = _boundaries(statuses)
    df = _split_scan(
        cur,
        table,
        ("whole", tuple(bounds), tuple(scopes)) if cacheable else None,
        bounds[0],
        as_of,
        lambda a, b: reads.segment_totals(cur, table, [a, *[x for x in bounds if a < x < b]], b, scopes).assign(
            k=lambda d: d["k"] + sum(1 for x in bounds if x <= a) - 1
        ),
        lambda parts: pd.concat(parts, ignore_index=True).groupby("k", as_index=False).sum(numeric_only=True),
    )
    # Totals from segment k on = suffix sums over the segments (rows sorted by k; absent ones are 0).
    n = len(bounds)
    k = df["k"].to_numpy(dtype=np.int64) if len(df) else np.zeros(0, dtype=np.int64)

    def suffix(col: str) -> np.ndarray:
        per = np.zeros(n + 1)
        if len(df):
            np.add.at(per, k, pd.to_numeric(df[col], errors="coerce").fillna(0).to_numpy(dtype=float))
        return np.cumsum(per[::-1])[::-1]

    cache: dict[str, np.ndarray] = {}
    for s in statuses:
        i = scopes.index(s.budget.scope)
        first = bounds.index(s.window.start)
        col = f"usd_{i}" if s.budget.unit == "usd" else f"tokens_{i}"
        for c in (f"usd_{i}", f"tokens_{i}", f"calls_{i}", f"unpriced_{i}"):
            if c not in cache:
                cache[c] = suffix(c)
        # Exact integers (nano-dollars, tokens) for the running totals of later checks.
        s._nano = int(round(float(cache[f"usd_{i}"][first]) * running.NANO))  # suffix() fills NULL sums with 0
        s._tokens = int(round(float(cache[f"tokens_{i}"][first])))
        s.whole = Figures(
            "",
            round(float(cache[col][first]), 9),
            int(round(cache[f"calls_{i}"][first])),
            int(round(cache[f"unpriced_{i}"][first])),
            float(s.budget.amount),
        )


# Complete local days before today hardly change after they end (late spans, a re-attribution),
# so a forecast's history is kept per time zone, scopes, sheet and local day for an hour; only
# today is read on every check.
_history: dict = {}
_history_lock = threading.Lock()
HISTORY_TTL_S = 3600


def _daily(
    con, cur, table: str, tz: str, start: datetime, as_of: datetime, scopes: list, today: pd.DataFrame | None = None
) -> pd.DataFrame:
    today_start = datetime.combine(periods.local_date(as_of, tz), datetime.min.time(), ZoneInfo(tz)).astimezone(UTC)
    key = (tz, tuple(scopes), start, today_start, reads.active_sheet(con))
    with _history_lock:
        hit = _history.get(key)
    if hit is None or time.monotonic() - hit[0] > HISTORY_TTL_S:
        past = reads.daily(cur, table, tz, start, today_start, scopes) if start < today_start else None
        with _history_lock:
            for k in [k for k in _history if k[0] == tz and k[1] == key[1]]:
                _history.pop(k, None)
            _history[key] = (time.monotonic(), past)
    else:
        past = hit[1]
    if today is None:
        today = reads.daily(cur, table, tz, max(start, today_start), as_of, scopes)
    parts = [p for p in (past, today) if p is not None and len(p)]
    return pd.concat(parts, ignore_index=True) if parts else today


def _forecasts(con, cur, table: str, statuses: list[BudgetStatus], as_of: datetime) -> None:
    """Daily spend (per local day, one scan per time zone) and the period-end forecast of each
    whole-scope calendar budget in `statuses`."""
    by_tz: dict[str, list[BudgetStatus]] = {}
    for s in statuses:
        by_tz.setdefault(s.budget.tz, []).append(s)
    todays = _today_rows(cur, table, by_tz, as_of)
    for tz, group in by_tz.items():
        scopes = _distinct_scopes(group)
        zone = ZoneInfo(tz)

        def history_from(s: BudgetStatus) -> date:
            return periods.local_date(s.window.start, tz) - timedelta(days=HISTORY_DAYS)

        # Local midnight (an absolute 56 days before a period start is not one across DST).
        first_day = min(history_from(s) for s in group)
        start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=zone).astimezone(UTC)
        df = _daily(con, cur, table, tz, start, as_of, scopes, todays.get(tz))
        today = periods.local_date(as_of, tz)
        local_as_of = as_of.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
        for s in group:
            i = scopes.index(s.budget.scope)
            # Each budget's own history (not the group's), so a forecast is the same on the page,
            # in the CLI and in a check.
            series = reads.day_series(df, i, s.budget.unit, history_from(s), today)
            p_start = periods.local_date(s.window.start, tz)
            p_last = periods.local_date(s.window.end - timedelta(seconds=1), tz)
            s.daily = series[series.index >= p_start]
            s._series = (series, p_start, p_last)
            f = s.whole
            fcast = _forecast(s.rule_id, series, p_start, p_last, local_as_of, f.spent)
            s.forecast = fcast
            f.p10, f.p50, f.p90, f.method = fcast.p10, fcast.p50, fcast.p90, fcast.method
            f.runs_out = _runs_out(fcast, f.amount, f.spent)


def _today_rows(cur, table: str, by_tz: dict[str, list[BudgetStatus]], as_of: datetime) -> dict[str, pd.DataFrame]:
    """Today so far in each time zone, for every forecast scope: one scan whose segments start at
    each zone's local midnight (instead of one daily query per zone on every check)."""
    if not by_tz:
        return {}
    starts = {
        tz: datetime.combine(periods.local_date(as_of, tz), datetime.min.time(), ZoneInfo(tz)).astimezone(UTC)
        for tz in by_tz
    }
    bounds = sorted(set(starts.values()))
    scopes = list(dict.fromkeys(s.budget.scope for g in by_tz.values() for s in g))
    df = reads.segment_totals(cur, table, bounds, as_of, scopes)
    k = df["k"].to_numpy(dtype=np.int64) if len(df) else np.zeros(0, dtype=np.int64)
    out = {}
    for tz, group in by_tz.items():
        first = bounds.index(starts[tz])
        rows = df[k >= first] if len(df) else df
        row: dict[str, Any] = {"day": periods.local_date(as_of, tz)}
        for j, scope in enumerate(_distinct_scopes(group)):
            i = scopes.index(scope)
            for m in reads.MEASURES:
                row[f"{m}_{j}"] = (
                    float(pd.to_numeric(rows[f"{m}_{i}"], errors="coerce").fillna(0).sum()) if len(rows) else 0.0
                )
        out[tz] = pd.DataFrame([row])
    return out


def _runs_out(fcast, amount: float, spent: float) -> date | None:
    if spent >= amount:
        return None  # already over: the page says "over" rather than a date
    try:
        return fcast.runs_out(amount)
    except Exception:  # noqa: BLE001 - a forecast without a path has no date
        return None


def _each(cur, table: str, statuses: list[BudgetStatus], as_of: datetime) -> None:
    """Members of "each" budgets: one scan per dimension, grouped by member and time segment.
    A member's forecast is the linear run rate; only members near a threshold and the top ones
    become Figures (a budget may have thousands of members)."""
    by_dim: dict[str, list[BudgetStatus]] = {}
    for s in statuses:
        by_dim.setdefault((s.budget.each, s.window.rolling), []).append(s)
    for (each, rolling), group in by_dim.items():
        scopes = _distinct_scopes(group)
        bounds = _boundaries(group)
        wanted = [(scopes.index(s.budget.scope), bounds.index(s.window.start)) for s in group]
        key = None if rolling else ("each", each, tuple(bounds), tuple(scopes), tuple(wanted))
        df = _split_scan(
            cur,
            table,
            key,
            bounds[0],
            as_of,
            lambda a, b: _members_between(cur, table, bounds, a, b, each, scopes, wanted),
            lambda parts: (
                pd.concat(parts, ignore_index=True)
                .groupby(["b", "member"], as_index=False)
                .sum(numeric_only=True)
                .sort_values("b", kind="stable", ignore_index=True)
            ),
        )
        b_col = df["b"].to_numpy()
        cuts = np.searchsorted(b_col, np.arange(len(group) + 1))
        all_members = df["member"].to_numpy()
        for bi, s in enumerate(group):
            lo, hi = cuts[bi], cuts[bi + 1]
            part = df.iloc[lo:hi]
            totals = pd.DataFrame(
                {
                    "nano": np.round(np.nan_to_num(part["usd"].to_numpy(dtype=float)) * running.NANO).astype(np.int64),
                    "tokens": np.round(np.nan_to_num(part["tokens"].to_numpy(dtype=float))).astype(np.int64),
                    "calls": part["calls"].to_numpy().astype(np.int64),
                    "unpriced": part["unpriced"].to_numpy().astype(np.int64),
                },
                index=pd.Index(all_members[lo:hi].astype(str), name="member"),
            )
            s._member_totals = totals  # exact, for the running totals of later checks
            member_figures(s, totals, as_of)


def member_figures(s: BudgetStatus, totals: pd.DataFrame, as_of: datetime) -> None:
    """An "each" budget's Figures from every member's totals (index member; nano, tokens, calls,
    unpriced): the linear run rate as forecast; only members near a threshold and the top ones
    become Figures (a budget may have thousands of members)."""
    if s.budget.unit == "usd":
        spent = np.round(totals["nano"].to_numpy(dtype=float) / running.NANO, 9)
    else:
        spent = totals["tokens"].to_numpy(dtype=float)
    members = totals.index.to_numpy()
    calls, unpriced = totals["calls"].to_numpy(), totals["unpriced"].to_numpy()
    amount = float(s.budget.amount)
    upto = min(s.window.end, as_of)
    elapsed = max((upto - s.window.start).total_seconds() / 86400, 1e-9)
    rate = spent / elapsed
    p50 = None if s.window.rolling else rate * s.window.days
    score = np.maximum(spent, p50 if p50 is not None else 0) / amount
    lowest = min(t.pct for t in s.budget.thresholds) / 100
    order = np.argsort(-score, kind="stable")
    near = order[score[order] >= lowest - 1e-9]
    keep = near if len(near) >= TOP_MEMBERS else order[:TOP_MEMBERS]
    rows = []
    for j in keep:
        f = Figures(str(members[j]), float(spent[j]), int(calls[j]), int(unpriced[j]), amount)
        if p50 is not None:
            f.p50, f.method = float(p50[j]), fc.METHOD_RUN_RATE
            days = amount / rate[j] if rate[j] > 0 else float("inf")
            if f.spent < amount and days < s.window.days:
                f.runs_out = periods.local_date(s.window.start + timedelta(days=days), s.budget.tz)
        rows.append(f)
    s.member_count = len(members)
    s._all_members = rows  # every member near a threshold, for a check
    s.members = rows[:TOP_MEMBERS]


#: Members of an "each" budget (the closest to their limit) given the seasonal model on the page,
#: in `budgets status` and /metrics; the others, and every member in a check, keep the run rate.
TOP_FORECAST = 10


def _member_forecasts(cur, table: str, s: BudgetStatus, as_of: datetime) -> None:
    """The seasonal forecast for the TOP_FORECAST members closest to their limit, from their own
    daily history (one query for all of them); a member with too little history keeps the run rate."""
    b = s.budget
    members = s.members[:TOP_FORECAST]
    if not members:
        return
    tz = b.tz
    zone = ZoneInfo(tz)
    first_day = periods.local_date(s.window.start, tz) - timedelta(days=HISTORY_DAYS)
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=zone).astimezone(UTC)
    df = reads.member_daily(cur, table, tz, start, as_of, b.scope, b.each, b.unit, [f.member for f in members])
    today = periods.local_date(as_of, tz)
    local_as_of = as_of.astimezone(zone).replace(tzinfo=None)
    p_start = periods.local_date(s.window.start, tz)
    p_last = periods.local_date(s.window.end - timedelta(seconds=1), tz)
    idx = pd.date_range(first_day, today, freq="D").date
    for f in members:
        rows = df[df["member"] == f.member]
        series = pd.Series(rows["v"].astype(float).to_numpy(), index=rows["day"].map(reads._as_date))
        series = series.groupby(level=0).sum().reindex(idx, fill_value=0.0)
        active = series.to_numpy() != 0
        if active.any():  # a member's history starts at its first call, not at the window's start
            series = series.iloc[int(active.argmax()) :]
        fcast = _forecast((s.rule_id, f.member), series, p_start, p_last, local_as_of, f.spent)
        if fcast.method == fc.METHOD_RUN_RATE:
            f.method = f"{fc.METHOD_RUN_RATE} ({fcast.note})" if fcast.note else fc.METHOD_RUN_RATE
            continue  # the linear run rate computed for every member stays (the one a check uses)
        f.p10, f.p50, f.p90, f.method = fcast.p10, fcast.p50, fcast.p90, fcast.method
        f.runs_out = _runs_out(fcast, f.amount, f.spent)


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
                fcast = _forecast(sb.rule_id, series, p_start, p_last, local_as_of, spent)
                s.forecast = fcast
                f = s.whole
                f.p10, f.p50, f.p90, f.method = fcast.p10, fcast.p50, fcast.p90, fcast.method
                f.runs_out = _runs_out(fcast, f.amount, f.spent)
        out.append(s)
    return out


def _members_between(cur, table, bounds, a, b, each, scopes, wanted) -> pd.DataFrame:
    """member_totals of the calls in [a, b): segments renumbered from a, budgets' first segments too."""
    inner = [a, *[x for x in bounds if a < x < b]]
    shift = sum(1 for x in bounds if x <= a) - 1
    w = [(i, max(first - shift, 0)) for i, first in wanted]  # a window begun before `a` takes all of it
    return reads.member_totals(cur, table, inner, b, each, scopes, w)


# Incremental scans. Calls are appended as they load and the priced-calls memo re-reads only the
# traces a load touched, from their earliest start on. So each scan is split at a cut (an hour
# before the moment evaluated): the part before the cut is kept and only the part after it is read
# again on each check, unless something older changed: a load touching a trace that started before
# the cut, calls changed or removed without a load, the memo rebuilt (sheet, prices, attribution
# rules), or the cut falling more than CUT_MAX behind.
CUT_BACK = timedelta(hours=1)
CUT_MAX = timedelta(hours=6)
_scans: OrderedDict = OrderedDict()
#: Per status() call (keyed by its cursor): the calls marker, memo token and "since" answers, read once.
_ctx: dict[int, dict] = {}
_scans_lock = threading.Lock()
MARKER_SQL = "SELECT count(*), coalesce(max(load_seq), 0) FROM calls"
SINCE_SQL = """
WITH t AS (SELECT DISTINCT trace_id FROM calls WHERE load_seq > ?)
SELECT min(start_time) FROM calls WHERE trace_id IN (SELECT trace_id FROM t)
"""


def _memo_token(cur, table: str):
    from llmledger.reads import spend_cache

    row = cur.execute(
        f"SELECT price_token, action, built_at FROM {spend_cache.STATE} WHERE memo = ?", [table]
    ).fetchone()
    return row


def _split_scan(cur, table: str, key: tuple | None, start: datetime, as_of: datetime, run, combine) -> pd.DataFrame:
    """run(start, as_of), the part before the cut reused from the last check when still valid
    (key None: not cacheable, one plain run)."""
    if key is None:
        return run(start, as_of)
    ctx = _ctx.setdefault(id(cur), {})
    if "marker" not in ctx:
        ctx["marker"] = cur.execute(MARKER_SQL).fetchone()
        ctx["token"] = _memo_token(cur, table)
    count, seq = ctx["marker"]
    token = ctx["token"]
    full_key = (table, *key)
    with _scans_lock:
        state = _scans.get(full_key)
    ok = (
        state is not None
        and state["token"] is not None
        and token is not None
        and state["token"][0] == token[0]
        and not (token[1] == "rebuild" and token[2] != state["token"][2])
        and state["cut"] <= as_of <= state["cut"] + CUT_MAX
    )
    if ok and (count, seq) != (state["count"], state["seq"]):
        if seq == state["seq"]:
            ok = False  # calls changed without a load
        else:
            if ("since", state["seq"]) not in ctx:
                ctx[("since", state["seq"])] = cur.execute(SINCE_SQL, [state["seq"]]).fetchone()[0]
            since = ctx[("since", state["seq"])]
            ok = since is None or since >= state["cut"]
    if not ok:
        cut = max(start, as_of.replace(minute=0, second=0, microsecond=0) - CUT_BACK)
        before = run(start, cut) if cut > start else None
        state = {"cut": cut, "before": before, "token": token}
    state.update(count=count, seq=seq, token=token)
    with _scans_lock:
        _scans[full_key] = state
        _scans.move_to_end(full_key)
        while len(_scans) > 32:
            _scans.popitem(last=False)
    after = run(state["cut"], max(as_of, state["cut"]))  # an empty range still gives the columns
    parts = [p for p in (state["before"], after) if p is not None and len(p)]
    if not parts:
        return after
    return combine(parts) if len(parts) > 1 else parts[0]


# Forecasts are cached per budget, period, local hour and history: within the hour the share of
# today still to come hardly moves, so a check after every load does not refit the model. The
# cached forecast is shifted by what was spent since (the band is on spend still to come).
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_MAX = 512


def _forecast(rule_id, series: pd.Series, p_start: date, p_last: date, local_as_of: datetime, spent: float):
    history = series[[d < local_as_of.date() for d in series.index]]
    key = (
        rule_id,
        p_start,
        local_as_of.replace(minute=0, second=0, microsecond=0),
        round(float(history.sum()), 6),
        len(history),
    )
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is None:
        hit = fc.forecast_period_end(series, p_start, p_last, local_as_of)
        with _cache_lock:
            _cache[key] = hit
            while len(_cache) > _CACHE_MAX:
                _cache.popitem(last=False)
    delta = spent - hit.spent
    if abs(delta) < 1e-12:
        return hit
    daily = hit.daily.copy()
    future = daily["date"] >= local_as_of.date()
    for col in ("p10", "p50", "p90"):
        daily.loc[future, col] = daily.loc[future, col] + delta
    return fc.Forecast(
        hit.p10 + delta, hit.p50 + delta, hit.p90 + delta, hit.method, spent, daily, hit.history_days, hit.note
    )


# ------------------------------------------------------------------ check: crossings -> events

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
RESOLVE_ENDED_SQL = """
UPDATE alert_events SET state = 'resolved', state_by = 'llmledger', state_note = 'period ended', state_at = now()
WHERE state <> 'resolved' AND period_end <= ?
"""


def _crossings(s: BudgetStatus, f: Figures) -> list[bmod.Threshold]:
    out = []
    for t in s.budget.thresholds:
        value = f.spent if t.kind == "actual" else f.p50
        if value is not None and value >= f.amount * t.pct / 100 - 1e-9:
            out.append(t)
    return out


def _event_window(s: BudgetStatus) -> tuple[datetime, datetime]:
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


def check(
    con,
    as_of: datetime | None = None,
    deliver: bool = True,
    base_backoff: float = notify.BACKOFF_S,
    stored: list[StoredBudget] | None = None,
    incremental: bool = False,
) -> dict[str, Any]:
    """Evaluate every budget at `as_of` (default now), record new crossings as events with their
    deliveries (one transaction), resolve events whose period ended, then deliver what is due.
    `incremental`: after loads, add the calls loaded since the last check to running totals
    (running.py) when that gives what a full scan gives; otherwise (and always when False)
    scan fully and seed the running totals from that scan.
    Returns {"new_events": [...], "resolved": n, "deliveries": {...}, "seconds": {...}, "mode"}."""
    t0, c0 = time.perf_counter(), time.process_time()
    as_of = _utc(as_of)
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
            for t in _crossings(s, f):
                candidates.append((s, f, t))
    new_events: list[dict[str, Any]] = []
    resolved = 0
    from llmledger.alerts import monitors

    watch = monitors.candidates(con, as_of)
    cur = con.cursor()
    try:
        if candidates or watch:
            existing = _existing(cur, [s.rule_id for s in statuses] + [w["rule_id"] for w in watch], as_of)
            muted = {(r, m) for r, m in cur.execute(MUTED_SQL, [datetime.now(UTC)]).fetchall()}
            fresh = []
            for s, f, t in candidates:
                p_start, p_end = _event_window(s)
                if s.window.rolling:
                    if (s.rule_id, t.key, f.member) in existing["rolling"]:
                        continue
                elif (s.rule_id, t.key, p_start, f.member) in existing["exact"]:
                    continue
                fresh.append((s, f, t, p_start, p_end))
            items = []
            sheet = reads.active_sheet(con)
            table = reads.source(con) if fresh else None  # explanations read the memo (new events only)
            for n, (s, f, t, p_start, p_end) in enumerate(fresh):
                if n < MAX_EXPLAINED:
                    explanation = explain(con, table, s, f.member)
                else:
                    explanation = {"top": [], "note": f"not computed: more than {MAX_EXPLAINED} events in one check"}
                figures = _figures(s, f)
                figures["sheet"] = sheet
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
                    }
                )
            # Monitors: one event per member and cool-down.
            items += [w for w in watch if (w["rule_id"], w["threshold"], w["member"]) not in existing["rolling"]]
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
        resolved = len(cur.execute(RESOLVE_ENDED_SQL + " RETURNING event_id", [as_of]).fetchall())
    finally:
        cur.close()
    t_record = time.perf_counter() - t0 - t_eval
    deliveries = {}
    if deliver:
        delay = float(os.environ.get(notify.ENV_DELIVERY_DELAY, "0") or 0)
        if delay and new_events:
            print(f"llmledger: {len(new_events)} event(s) committed; delivering in {delay:g} s", flush=True)
            time.sleep(delay)
        deliveries = notify.deliver_due(con, base_backoff=base_backoff)
    return {
        "as_of": as_of.isoformat(),
        "budgets": len(statuses),
        "new_events": new_events,
        "resolved": resolved,
        "deliveries": deliveries,
        "seconds": {"evaluate": t_eval, "record": t_record, "total": time.perf_counter() - t0},
        # CPU seconds of this process (every thread, DuckDB's too): steadier than wall time on a busy machine.
        "cpu_seconds": {"evaluate": c_eval, "total": time.process_time() - c0},
        "mode": mode,
    }


def _existing(cur, rule_ids: list[int], as_of: datetime) -> dict[str, set]:
    """Keys of events still open for their period (period_end after as_of): calendar periods by
    exact key, rolling windows by (rule, threshold, member)."""
    rows = cur.execute(EXISTING_SQL, [rule_ids, as_of - timedelta(days=400)]).fetchall()
    exact = {(r, t, ps, m) for r, t, ps, m, pe in rows}
    rolling = {(r, t, m) for r, t, ps, m, pe in rows if pe > as_of}
    return {"exact": exact, "rolling": rolling}


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
