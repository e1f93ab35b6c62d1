"""Period-end spend forecasts: calibration on seasonal series, and the fallbacks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from llmledger.alerts import forecast as fc
from llmledger.alerts.forecast import Forecast, forecast_period_end, run_rate_period_end

MARCH = (date(2026, 3, 1), date(2026, 3, 31))


def seasonal(seed: int, start="2026-01-01", end="2026-03-31", level=100.0, weekend=-40.0, noise=15.0):
    """A weekday-heavy spend series: level, lower weekends, normal noise."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range(start, end, freq="D")
    y = level + weekend * np.isin(idx.day_of_week, [5, 6]) + rng.normal(0, noise, len(idx))
    return pd.Series(np.clip(y, 0, None), index=idx)


def upto(series: pd.Series, as_of: datetime) -> pd.Series:
    return series[series.index < pd.Timestamp(as_of.date())]


def test_run_rate_is_spend_per_elapsed_day_times_days():
    assert run_rate_period_end(70.0, 7, 31) == pytest.approx(310.0)
    assert run_rate_period_end(12.5, 0, 30) == 12.5  # nothing elapsed: nothing to extrapolate
    with pytest.raises(ValueError):
        run_rate_period_end(1.0, 1, 0)


def test_band_on_the_total_covers_about_80_percent_of_seasonal_months():
    hits, below, above, err, err_run_rate = 0, 0, 0, 0.0, 0.0
    trials = 36
    for seed in range(trials):
        y = seasonal(seed)
        truth = float(y[pd.Timestamp(MARCH[0]) :].sum())
        as_of = datetime(2026, 3, (6, 11, 20)[seed % 3])  # from day 5, 10 or 19: part weeks
        f = forecast_period_end(upto(y, as_of), *MARCH, as_of)
        assert f.method.startswith("ets-weekly") and f.p10 <= f.p50 <= f.p90
        hits += f.p10 <= truth <= f.p90
        below += truth < f.p10
        above += truth > f.p90
        elapsed = (as_of.date() - MARCH[0]).days
        rr = run_rate_period_end(f.spent, elapsed, 31)
        err += abs(f.p50 - truth)
        err_run_rate += abs(rr - truth)
    coverage = hits / trials
    assert 0.65 <= coverage <= 0.97, (coverage, below, above)
    assert below and above or coverage > 0.9  # misses on both sides, not a shifted band
    assert err < 0.7 * err_run_rate  # weekends make the run rate wrong by where the month is


def test_band_is_on_the_period_end_total_and_the_path_ends_there():
    y = seasonal(1)
    as_of = datetime(2026, 3, 15, 18, tzinfo=UTC)  # three quarters of the 15th gone
    f = forecast_period_end(upto(y, as_of) + 0, *MARCH, as_of)
    assert f.spent == pytest.approx(float(y[pd.Timestamp(MARCH[0]) : pd.Timestamp(2026, 3, 14)].sum()))
    d = f.daily
    assert list(d.columns) == ["date", "p10", "p50", "p90"]
    assert d["date"].tolist() == [MARCH[0] + timedelta(days=i) for i in range(31)]
    last = d.iloc[-1]
    assert (last.p10, last.p50, last.p90) == pytest.approx((f.p10, f.p50, f.p90))
    past = d[d["date"] < date(2026, 3, 15)]
    assert (past.p10 == past.p90).all() and past.p50.iloc[-1] == pytest.approx(f.spent)
    assert d["p50"].is_monotonic_increasing and (d.p90 >= d.p10).all()
    # Each day's band widens: a band on cumulative totals, not a band per day.
    widths = (d.p90 - d.p10).to_numpy()[14:]
    assert (np.diff(widths) >= -1e-6).all()
    # Only a quarter of the 15th is still to come.
    today = d[d["date"] == date(2026, 3, 15)].iloc[0]
    assert today.p50 - f.spent < 0.5 * 100
    assert f.runs_out(f.spent / 2) == d.loc[d.p50 >= f.spent / 2, "date"].iloc[0]
    assert f.runs_out(f.p50 * 10) is None


def test_constant_spend_forecasts_exactly_with_no_band():
    idx = pd.date_range("2026-01-01", "2026-03-09", freq="D")
    y = pd.Series(4.0, index=idx)
    f = forecast_period_end(y, *MARCH, datetime(2026, 3, 10))
    assert f.method == fc.METHOD_RUN_RATE and "flat" in f.note
    assert f.spent == pytest.approx(36.0)
    assert f.p10 == f.p50 == f.p90 == pytest.approx(124.0)
    assert f.runs_out(100.0) == date(2026, 3, 25)


def test_short_history_falls_back_to_the_run_rate_with_a_band():
    y = seasonal(2, start="2026-03-01", end="2026-03-31")
    as_of = datetime(2026, 3, 11)
    f = forecast_period_end(upto(y, as_of), *MARCH, as_of)
    assert f.method == fc.METHOD_RUN_RATE and f.history_days == 10 and "10 complete day" in f.note
    rr = run_rate_period_end(f.spent, 10, 31)
    assert f.p50 == pytest.approx(rr, rel=0.02)
    assert f.p10 < f.p50 < f.p90
    # Spread from daily variability over 21 independent days: sd*sqrt(21)*1.28 each side.
    sd = float(upto(y, as_of).std(ddof=1))
    assert (f.p90 - f.p10) / 2 == pytest.approx(fc.Z90 * sd * np.sqrt(21), rel=0.15)


def test_no_history_and_zero_spend():
    empty = forecast_period_end(pd.Series(dtype=float), *MARCH, datetime(2026, 3, 1))
    assert (empty.p10, empty.p50, empty.p90, empty.spent) == (0.0, 0.0, 0.0, 0.0)
    assert len(empty.daily) == 31 and empty.runs_out(0.01) is None
    zeros = pd.Series(0.0, index=pd.date_range("2026-01-01", "2026-03-14"))
    f = forecast_period_end(zeros, *MARCH, datetime(2026, 3, 15))
    assert (f.p10, f.p50, f.p90) == (0.0, 0.0, 0.0) and f.runs_out(1.0) is None


def test_gaps_are_days_without_spend():
    y = seasonal(3)
    as_of = datetime(2026, 3, 15)
    hist = upto(y, as_of)
    sparse = hist[hist.index.day_of_week < 5]  # weekends missing = $0 on weekends
    f = forecast_period_end(sparse, *MARCH, as_of)
    assert f.spent == pytest.approx(float(sparse[pd.Timestamp(MARCH[0]) :].sum()))
    assert f.method.startswith("ets-weekly")
    # Weekends are $0 in this history, so the weekend days to come add (about) nothing.
    d = f.daily.set_index("date")["p50"]
    assert d[date(2026, 3, 22)] - d[date(2026, 3, 20)] < 0.2 * (d[date(2026, 3, 20)] - d[date(2026, 3, 19)]) + 5


def test_level_shift_follows_the_new_level():
    before = seasonal(4, start="2026-01-01", end="2026-02-14", level=100, weekend=-30, noise=8)
    after = seasonal(5, start="2026-02-15", end="2026-03-31", level=200, weekend=-60, noise=8)
    y = pd.concat([before, after])
    as_of = datetime(2026, 3, 15)
    f = forecast_period_end(upto(y, as_of), *MARCH, as_of)
    remaining = f.p50 - f.spent
    truth = float(y[pd.Timestamp(2026, 3, 15) :].sum())
    assert abs(remaining - truth) / truth < 0.1, (remaining, truth)
    assert f.p10 - f.spent < truth < f.p90 - f.spent + 0.05 * truth


def test_period_over_or_not_started():
    y = seasonal(6)
    closed = forecast_period_end(upto(y, datetime(2026, 4, 1)), *MARCH, datetime(2026, 4, 2))
    assert closed.method == fc.METHOD_CLOSED
    assert closed.p10 == closed.p50 == closed.p90 == pytest.approx(float(y[pd.Timestamp(MARCH[0]) :].sum()))
    feb = y[y.index < pd.Timestamp("2026-02-20")]
    ahead = forecast_period_end(feb, *MARCH, datetime(2026, 2, 20))
    assert ahead.spent == 0 and len(ahead.daily) == 31 and ahead.daily["date"].iloc[0] == MARCH[0]
    assert 31 * 70 < ahead.p50 < 31 * 110


def test_forecast_is_a_frozen_dataclass():
    f = forecast_period_end(pd.Series(dtype=float), *MARCH, datetime(2026, 3, 1))
    assert isinstance(f, Forecast)
    with pytest.raises(AttributeError):
        f.p50 = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        forecast_period_end(pd.Series(dtype=float), MARCH[1], MARCH[0], datetime(2026, 3, 1))
