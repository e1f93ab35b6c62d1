"""Which calls a read looks at: the dimensions, a filter over them, and the labels shown for a
NULL value and for the groups past the top N.

Only structure the code itself chooses (a dimension's column expression from `DIMENSIONS`) is
formatted into SQL; values are always bound as parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Iterable, Mapping, Sequence

from llmledger.errors import StoreError

#: Shown (and selectable in filters) for a call whose dimension value is NULL.
UNATTRIBUTED = "(unattributed)"
#: Groups beyond the top N of a time series or breakdown are summed into this one.
OTHER = "(other)"

#: Groupable / filterable dimensions: label -> SQL expression over `llm_calls`.
DIMENSIONS: dict[str, str] = {
    "feature": "feature",
    "team": "team",
    "user": "user_id",
    "service": "service",
    "environment": "environment",
    "model": "coalesce(request_model, response_model)",
    "provider": "provider",
    "convention": "convention",
}

#: Tokens of a call, NULL counted as 0 (for sums and rankings).
TOKENS = "coalesce(input_tokens, 0) + coalesce(output_tokens, 0)"


def dim_expr(dim: str) -> str:
    """The SQL expression of a dimension label, or a StoreError naming the known ones."""
    try:
        return DIMENSIONS[dim]
    except KeyError:
        raise StoreError(f"unknown dimension {dim!r}; expected one of {', '.join(DIMENSIONS)}") from None


@dataclass(frozen=True)
class CallFilter:
    """Which calls a page looks at. Plain, hashable values only (it keys st.cache_data)."""

    start: date | None = None  # inclusive, UTC day
    end: date | None = None  # inclusive, UTC day
    values: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())  # (dimension, selected values)
    #: Exact instants (UTC) that replace the day bounds on their side: calls from `start_at` on and
    #: before `end_at`. `start`/`end` are then the UTC days they fall in (charts bucket by days).
    start_at: datetime | None = None
    end_at: datetime | None = None

    @classmethod
    def build(
        cls,
        start: date | None = None,
        end: date | None = None,
        values: dict[str, Iterable[str]] | None = None,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
    ) -> "CallFilter":
        picked = tuple(sorted((d, tuple(sorted(v))) for d, v in (values or {}).items() if v))
        for dim, _ in picked:
            dim_expr(dim)
        start_at, end_at = _as_utc(start_at), _as_utc(end_at)
        if start_at is not None:
            start = start_at.date()
        if end_at is not None:
            end = last_day(end_at)
        return cls(start, end, picked, start_at, end_at)

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """[lo, hi) as UTC timestamps (None = open): the exact instants where given, else whole days."""
        lo, hi = period_bounds(self.start, self.end)
        return (self.start_at or lo), (self.end_at or hi)

    def where(self) -> tuple[str, list[Any]]:
        """SQL predicate over llm_calls columns and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        lo, hi = self.bounds()
        if lo:
            clauses.append("start_time >= ?")
            params.append(lo)
        if hi:
            clauses.append("start_time < ?")
            params.append(hi)
        for dim, selected in self.values:
            expr = dim_expr(dim)
            real = [v for v in selected if v != UNATTRIBUTED]
            parts = []
            if real:
                parts.append(f"{expr} IN ({', '.join('?' * len(real))})")
                params.extend(real)
            if UNATTRIBUTED in selected:
                parts.append(f"{expr} IS NULL")
            clauses.append("(" + " OR ".join(parts) + ")")
        return (" AND ".join(clauses) or "TRUE"), params


def period_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """UTC day range [start 00:00, end+1 00:00) as timestamps (None = open)."""
    lo = datetime.combine(start, time(), UTC) if start else None
    hi = datetime.combine(end + timedelta(days=1), time(), UTC) if end else None
    return lo, hi


def _as_utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def last_day(end_at: datetime) -> date:
    """The UTC day holding the last moment before the exclusive end `end_at`."""
    return (_as_utc(end_at) - timedelta(microseconds=1)).date()


def when_text(t: datetime) -> str:
    """An instant as a link writes it: UTC, to the minute (seconds and microseconds only when not
    zero), ending in `Z`."""
    t = _as_utc(t)
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ" if t.second else "%Y-%m-%dT%H:%MZ")


# ------------------------------------------------------------------ what a viewer picked

#: Date presets, by their name in links. Each ends at the latest call, not at today, so a ledger of
#: old sample files still opens on its last weeks rather than on an empty window.
PRESETS: dict[str, str] = {
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "last_90_days": "Last 90 days",
    "this_month": "This month",
    "last_month": "Last month",
    "all": "All data",
    "custom": "Custom dates",
}
CUSTOM = "custom"
#: A recent window: a month of data draws daily bars, and old files do not stretch the charts.
DEFAULT_PRESET = "last_30_days"
#: The URL query keys the filters use: preset, start, end (a UTC day YYYY-MM-DD, or an exact time
#: such as 2026-11-03T14:00Z or 2026-11-03T15:00+01:00; an end time is exclusive) and one key per
#: dimension, repeated for several values (`?feature=chat&feature=search`).
DATE_KEYS = ("preset", "start", "end")
QUERY_KEYS = DATE_KEYS + tuple(DIMENSIONS)
#: More values than this for one dimension in a link are cut (a URL is no place for thousands).
MAX_VALUES_PER_DIMENSION = 200


def _month_start(d: date) -> date:
    return d.replace(day=1)


def preset_range(preset: str, bounds: tuple[date, date]) -> tuple[date, date]:
    """The UTC days a preset covers, relative to the data's `bounds` (first and last day with a
    call), cut to those bounds when they overlap."""
    first, latest = bounds
    if preset == "all":
        return first, latest
    if preset.startswith("last_") and preset.endswith("_days"):
        lo, hi = latest - timedelta(days=int(preset[5:-5]) - 1), latest
    elif preset == "this_month":
        lo, hi = _month_start(latest), latest
    elif preset == "last_month":
        hi = _month_start(latest) - timedelta(days=1)
        lo = _month_start(hi)
    else:
        raise StoreError(f"unknown date preset {preset!r}; expected one of {', '.join(PRESETS)}")
    if lo <= latest and hi >= first:  # overlap: show only the days that can hold data
        lo, hi = max(lo, first), min(hi, latest)
    return lo, hi


@dataclass(frozen=True)
class FilterChoice:
    """What a viewer picked: a date preset (or custom dates) and dimension values. One per browser
    session, shared by Calls, Spend and Reprice, and written into the URL so a link restores it."""

    preset: str = DEFAULT_PRESET
    start: date | None = None  # custom dates only; None = from the first call
    end: date | None = None  # custom dates only; None = to the latest call
    values: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Custom only: exact instants (UTC) from a link (`start=2026-11-03T14:00Z`), calls from
    #: `start_at` on and before `end_at`; `start`/`end` then hold the UTC days they fall in.
    start_at: datetime | None = None
    end_at: datetime | None = None

    @classmethod
    def custom(
        cls,
        start: date | datetime | None,
        end: date | datetime | None,
        values=(),
    ) -> "FilterChoice":
        """Custom dates; a datetime on either side is an exact instant (an end instant is exclusive).
        A start after the end is swapped with it; a start equal to the end leaves the end open."""
        if start is not None and end is not None:
            lo_i, hi_i = _instant(start, False), _instant(end, True)
            if lo_i > hi_i:
                start, end = end, start
            elif lo_i == hi_i:
                end = None
        start_at = _as_utc(start) if isinstance(start, datetime) else None
        end_at = _as_utc(end) if isinstance(end, datetime) else None
        lo = start_at.date() if start_at else start
        hi = last_day(end_at) if end_at else end
        return cls(CUSTOM, lo, hi, tuple(values), start_at, end_at)

    @property
    def exact(self) -> bool:
        """True when a side is an exact instant rather than a whole UTC day."""
        return self.start_at is not None or self.end_at is not None

    def dates(self, bounds: tuple[date, date]) -> tuple[date, date]:
        if self.preset != CUSTOM:
            return preset_range(self.preset, bounds)
        lo, hi = self.start or bounds[0], self.end or bounds[1]
        return (lo, hi) if lo <= hi else (hi, lo)

    def selected(self, dim: str) -> tuple[str, ...]:
        return dict(self.values).get(dim, ())

    def with_values(self, values: dict[str, Iterable[str]]) -> "FilterChoice":
        picked = tuple(sorted((d, tuple(v)) for d, v in values.items() if d in DIMENSIONS and v))
        return FilterChoice(self.preset, self.start, self.end, picked, self.start_at, self.end_at)

    def call_filter(self, bounds: tuple[date, date] | None, dimensions: bool = True) -> CallFilter:
        start, end = self.dates(bounds) if bounds else (None, None)
        return CallFilter.build(start, end, dict(self.values) if dimensions else None, self.start_at, self.end_at)

    def to_query(self, dimensions: bool = True) -> dict[str, list[str]]:
        """The URL query of this choice (only its keys: other parameters are left alone)."""
        q: dict[str, list[str]] = {}
        if self.preset != CUSTOM:
            q["preset"] = [self.preset]
        else:
            if self.start_at:
                q["start"] = [when_text(self.start_at)]
            elif self.start:
                q["start"] = [self.start.isoformat()]
            if self.end_at:
                q["end"] = [when_text(self.end_at)]
            elif self.end:
                q["end"] = [self.end.isoformat()]
            if not q:
                q["preset"] = ["all"]
        if dimensions:
            for dim, vals in self.values:
                if vals:
                    q[dim] = list(vals)
        return q

    def known(self, options: dict[str, list[str]]) -> tuple["FilterChoice", list[str]]:
        """Keep only values the ledger has (a link may name a feature with no calls here); notes
        say what was dropped."""
        notes, kept = [], {}
        for dim, vals in self.values:
            ok = [v for v in vals if v in options.get(dim, ())]
            gone = [v for v in vals if v not in options.get(dim, ())]
            if gone:
                shown = ", ".join(repr(v[:60]) for v in gone[:3]) + (
                    f" and {len(gone) - 3} more" if len(gone) > 3 else ""
                )
                notes.append(
                    f"{dim} {shown}: no calls have {'it' if len(gone) == 1 else 'them'}, so it is not filtered on"
                )
            if ok:
                kept[dim] = ok
        return self.with_values(kept), notes


#: A time with an offset whose `+` a query string turned into a space (`...T14:00 01:00`).
_SPACE_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}(?::?\d{2})?)$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
WHEN_FORMS = (
    "a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM[:SS], UTC unless it ends in Z or an offset such as +01:00)"
)


def parse_when(raw: str) -> date | datetime:
    """A start/end value from a link: a UTC day (YYYY-MM-DD) or an instant (ISO 8601: date, `T`,
    hours and minutes, optional seconds; UTC when no offset is given; `Z` or `+01:00` accepted), as
    a date or a UTC datetime. Raises ValueError with the reason."""
    text = raw.strip()
    m = _SPACE_OFFSET.match(text)
    if m:
        text = f"{m.group(1)}+{m.group(2)}"
    if _DAY.match(text):
        try:
            value: date | datetime = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"is not {WHEN_FORMS}") from None
        year = value.year
    else:
        if "T" not in text and " " not in text:
            raise ValueError(f"is not {WHEN_FORMS}")
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"is not {WHEN_FORMS}") from None
        year = t.year
        value = _as_utc(t)
    if not 1970 <= year <= 2999:
        raise ValueError("is outside the years 1970 to 2999")
    return value


def _parse_day(key: str, raw: str, notes: list[str]) -> date | datetime | None:
    try:
        return parse_when(raw)
    except ValueError as exc:
        notes.append(f"{key}={raw[:40]!r} {exc}, so it is ignored")
        return None


def _instant(v: date | datetime, is_end: bool) -> datetime:
    """Where a parsed start/end value puts its bound (an end day includes that whole day)."""
    if isinstance(v, datetime):
        return v
    return datetime.combine(v + timedelta(days=1) if is_end else v, time(), UTC)


def _shown(v: date | datetime) -> str:
    return when_text(v).replace("T", " ").replace("Z", " UTC") if isinstance(v, datetime) else v.isoformat()


def parse_query(params: Mapping[str, Sequence[str]]) -> tuple[FilterChoice | None, list[str]]:
    """A filter choice from URL query parameters (key -> its values, as `st.query_params`
    holds them), and notes on what was ignored and why. None when no filter key is present.

    Never raises: a bad date or an unknown preset is left out with a note, so a hand-edited or
    truncated link still opens. start/end (either may be missing) win over a preset."""
    notes: list[str] = []
    present = {k: [str(v) for v in params[k]] for k in QUERY_KEYS if k in params}
    if not present:
        return None, notes
    start = _parse_day("start", present["start"][-1], notes) if present.get("start") else None
    end = _parse_day("end", present["end"][-1], notes) if present.get("end") else None
    values: dict[str, list[str]] = {}
    for dim in DIMENSIONS:
        vals = list(dict.fromkeys(v for v in present.get(dim, []) if v))
        if len(vals) > MAX_VALUES_PER_DIMENSION:
            notes.append(f"{dim}: only the first {MAX_VALUES_PER_DIMENSION} of {len(vals)} values are used")
            vals = vals[:MAX_VALUES_PER_DIMENSION]
        if vals:
            values[dim] = vals
    if start or end:
        if start and end and _instant(start, False) >= _instant(end, True):
            notes.append(
                f"start {_shown(start)} is after end {_shown(end)}: the two are swapped"
                if _instant(start, False) > _instant(end, True)
                else f"start {_shown(start)} is the end {_shown(end)}: the end is ignored"
            )
        if present.get("preset"):
            notes.append("the link has both dates and a preset: the dates are used")
        return FilterChoice.custom(start, end).with_values(values), notes
    preset = present["preset"][-1].strip() if present.get("preset") else DEFAULT_PRESET
    if preset not in PRESETS or preset == CUSTOM:
        notes.append(
            f"preset={preset[:40]!r} is not one of {', '.join(p for p in PRESETS if p != CUSTOM)}, "
            f"so {PRESETS[DEFAULT_PRESET].lower()} is shown"
        )
        preset = DEFAULT_PRESET
    return FilterChoice(preset).with_values(values), notes
