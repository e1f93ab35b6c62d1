"""Budget periods: calendar days, ISO weeks, months and quarters in a time zone, or rolling
windows ending at the moment evaluated ("rolling-24h": the last 24 hours).

Every bound is an aware UTC datetime; a calendar period is [start, end) between local midnights,
so a day in Europe/Paris is 23, 24 or 25 hours long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

CALENDAR = ("day", "week", "month", "quarter")
_ROLLING = re.compile(r"^rolling-(\d{1,4})([hd])$")
MAX_ROLLING_HOURS = 24 * 92


@dataclass(frozen=True)
class Window:
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive: the period's end (a rolling window ends at the moment evaluated)
    rolling: bool = False

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def rolling_hours(period: str) -> int | None:
    """Hours of a rolling period ("rolling-24h" -> 24, "rolling-7d" -> 168), None for a calendar one."""
    m = _ROLLING.match(period)
    if not m:
        return None
    n = int(m[1]) * (24 if m[2] == "d" else 1)
    return n


def is_valid(period: str) -> bool:
    if period in CALENDAR:
        return True
    hours = rolling_hours(period)
    return hours is not None and 1 <= hours <= MAX_ROLLING_HOURS


def _local_start(period: str, local: datetime) -> date:
    d = local.date()
    if period == "day":
        return d
    if period == "week":
        return d - timedelta(days=d.weekday())
    if period == "month":
        return d.replace(day=1)
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)  # quarter


def _next_start(period: str, d: date) -> date:
    if period == "day":
        return d + timedelta(days=1)
    if period == "week":
        return d + timedelta(days=7)
    months = 1 if period == "month" else 3
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def _utc(d: date, tz: ZoneInfo) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC)


_windows: dict[tuple, Window] = {}


def window(period: str, tz: str, as_of: datetime) -> Window:
    """The period containing `as_of` (a rolling window: the one ending at `as_of`). Memoised per
    (period, zone, moment): a check asks for the same few windows of every budget."""
    as_of = as_of.astimezone(UTC)
    key = (period, tz, as_of)
    got = _windows.get(key)
    if got is None:
        if len(_windows) >= 4096:
            _windows.clear()
        got = _windows[key] = _window(period, tz, as_of)
    return got


def _window(period: str, tz: str, as_of: datetime) -> Window:
    hours = rolling_hours(period)
    if hours is not None:
        return Window(as_of - timedelta(hours=hours), as_of, rolling=True)
    zone = ZoneInfo(tz)
    start = _local_start(period, as_of.astimezone(zone))
    return Window(_utc(start, zone), _utc(_next_start(period, start), zone))


def previous(period: str, tz: str, w: Window) -> Window:
    """The period before `w` (a rolling window: the same length just before it)."""
    if w.rolling:
        length = w.end - w.start
        return Window(w.start - length, w.start, rolling=True)
    return window(period, tz, w.start - timedelta(seconds=1))


def history(period: str, tz: str, as_of: datetime, n: int) -> list[Window]:
    """The `n` periods before the one containing `as_of`, oldest first (calendar periods only)."""
    out, w = [], window(period, tz, as_of)
    for _ in range(n):
        w = previous(period, tz, w)
        out.append(w)
    return out[::-1]


def local_date(ts: datetime, tz: str) -> date:
    return ts.astimezone(ZoneInfo(tz)).date()


def day_start(ts: datetime, tz: str) -> datetime:
    """Local midnight (UTC) of the day containing `ts` in `tz`."""
    d = local_date(ts, tz)
    return _utc(d, ZoneInfo(tz))
