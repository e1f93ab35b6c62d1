"""Forecasts inside an evaluation: every whole-scope calendar budget's period-end forecast from its
daily history (one scan per time zone; complete days kept for an hour), and the seasonal model for
the members of an "each" budget closest to their limit. Fits are cached per budget, period, local
hour and history (forecast.py does the modelling).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from llmledger.alerts import forecast as fc
from llmledger.alerts import periods, reads
from llmledger.alerts.figures import HISTORY_DAYS, TOP_FORECAST, BudgetStatus
from llmledger.alerts.scans import distinct_scopes

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


def whole_forecasts(con, cur, table: str, statuses: list[BudgetStatus], as_of: datetime) -> None:
    """Daily spend (per local day, one scan per time zone) and the period-end forecast of each
    whole-scope calendar budget in `statuses`."""
    by_tz: dict[str, list[BudgetStatus]] = {}
    for s in statuses:
        by_tz.setdefault(s.budget.tz, []).append(s)
    todays = _today_rows(cur, table, by_tz, as_of)
    for tz, group in by_tz.items():
        scopes = distinct_scopes(group)
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
            fcast = cached_forecast(s.rule_id, series, p_start, p_last, local_as_of, f.spent)
            s.forecast = fcast
            f.p10, f.p50, f.p90, f.method = fcast.p10, fcast.p50, fcast.p90, fcast.method
            f.runs_out = runs_out(fcast, f.amount, f.spent)


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
        for j, scope in enumerate(distinct_scopes(group)):
            i = scopes.index(scope)
            for m in reads.MEASURES:
                row[f"{m}_{j}"] = (
                    float(pd.to_numeric(rows[f"{m}_{i}"], errors="coerce").fillna(0).sum()) if len(rows) else 0.0
                )
        out[tz] = pd.DataFrame([row])
    return out


def runs_out(fcast, amount: float, spent: float) -> date | None:
    if spent >= amount:
        return None  # already over: the page says "over" rather than a date
    try:
        return fcast.runs_out(amount)
    except Exception:  # noqa: BLE001 - a forecast without a path has no date
        return None


def member_forecasts(cur, table: str, s: BudgetStatus, as_of: datetime) -> None:
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
        fcast = cached_forecast((s.rule_id, f.member), series, p_start, p_last, local_as_of, f.spent)
        if fcast.method == fc.METHOD_RUN_RATE:
            f.method = f"{fc.METHOD_RUN_RATE} ({fcast.note})" if fcast.note else fc.METHOD_RUN_RATE
            continue  # the linear run rate computed for every member stays (the one a check uses)
        f.p10, f.p50, f.p90, f.method = fcast.p10, fcast.p50, fcast.p90, fcast.method
        f.runs_out = runs_out(fcast, f.amount, f.spent)


# Forecasts are cached per budget, period, local hour and history: within the hour the share of
# today still to come hardly moves, so a check after every load does not refit the model. The
# cached forecast is shifted by what was spent since (the band is on spend still to come).
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_MAX = 512


def _history_key(series: pd.Series, day: date) -> tuple[float, int]:
    """(sum, days) of `series` before `day`, remembered per series object (a check after every
    load hands the same seeded series again)."""
    got = _hist.get(id(series))
    if got is not None and got[0] is series and got[1] == day:
        return got[2], got[3]
    before = np.fromiter((d < day for d in series.index), dtype=bool, count=len(series))
    out = (round(float(series.to_numpy(dtype=float)[before].sum()), 6), int(before.sum()))
    if len(_hist) > 1024:
        _hist.clear()
    _hist[id(series)] = (series, day, *out)
    return out


_hist: dict = {}


def _fit(rule_id, series: pd.Series, p_start: date, p_last: date, local_as_of: datetime) -> fc.Forecast:
    key = (
        rule_id,
        p_start,
        local_as_of.replace(minute=0, second=0, microsecond=0),
        *_history_key(series, local_as_of.date()),
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
    return hit


def cached_forecast(rule_id, series: pd.Series, p_start: date, p_last: date, local_as_of: datetime, spent: float):
    """The forecast of `series` for the period, fitted at most once per local hour and history; the
    band and path shifted by what was spent since the fit (the band is on spend still to come)."""
    hit = _fit(rule_id, series, p_start, p_last, local_as_of)
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


_paths: dict = {}


def forecast_figures(
    rule_id, series: pd.Series, p_start: date, p_last: date, local_as_of: datetime, spent: float, amount: float
) -> tuple[float, float, float, str, date | None]:
    """(p10, p50, p90, method, runs out) as cached_forecast and runs_out give them, without building
    the shifted burn-up path (a check after a load needs only the figures)."""
    hit = _fit(rule_id, series, p_start, p_last, local_as_of)
    delta = spent - hit.spent
    if abs(delta) < 1e-12:
        delta = 0.0
    out = None
    if spent < amount:
        got = _paths.get(id(hit))
        if got is None or got[0] is not hit:
            if len(_paths) > _CACHE_MAX:
                _paths.clear()
            got = (hit, hit.daily["date"].to_numpy(), hit.daily["p50"].to_numpy(dtype=float))
            _paths[id(hit)] = got
        _, dates, p50 = got
        today = local_as_of.date()
        future = np.fromiter((d >= today for d in dates), dtype=bool, count=len(dates))
        reached = np.flatnonzero(p50 + delta * future >= float(amount))
        out = dates[reached[0]] if len(reached) else None
    return hit.p10 + delta, hit.p50 + delta, hit.p90 + delta, hit.method, out
