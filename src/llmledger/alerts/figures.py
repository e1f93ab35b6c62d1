"""What a budget evaluation produces: a budget's figures (spent, forecast band, run-out date) for
the whole scope or one member, and a budget's status for the period containing a moment.

evaluate.status fills these from grouped scans (scans.py, budget_forecasts.py), evaluate.check
from running totals after loads (running.py); the page, the CLI, /metrics and the review export
read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from llmledger.alerts import periods
from llmledger.alerts.budgets import Budget

#: Days of history before the period given to the forecaster (its weekly model wants weeks).
HISTORY_DAYS = 56
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


def utc(as_of: datetime | None) -> datetime:
    if as_of is None:
        return datetime.now(UTC)
    return as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)


#: Members of an "each" budget (the closest to their limit) given the seasonal model on the page,
#: in `budgets status` and /metrics; the others, and every member in a check, keep the run rate.
TOP_FORECAST = 10
