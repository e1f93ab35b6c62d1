"""Which calls a read looks at: the dimensions, a filter over them, and the labels shown for a
NULL value and for the groups past the top N.

Only structure the code itself chooses (a dimension's column expression from `DIMENSIONS`) is
formatted into SQL; values are always bound as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Iterable

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

    @classmethod
    def build(
        cls, start: date | None = None, end: date | None = None, values: dict[str, Iterable[str]] | None = None
    ) -> "CallFilter":
        picked = tuple(sorted((d, tuple(sorted(v))) for d, v in (values or {}).items() if v))
        for dim, _ in picked:
            dim_expr(dim)
        return cls(start, end, picked)

    def where(self) -> tuple[str, list[Any]]:
        """SQL predicate over llm_calls columns and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        lo, hi = period_bounds(self.start, self.end)
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
