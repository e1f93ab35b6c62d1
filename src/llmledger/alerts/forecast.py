"""Spend to the end of a budget period, with a P10/P50/P90 band on the period-end total.

With two weeks of history or more, an exponential-smoothing state-space model (statsmodels'
`ETSModel`: additive errors and weekly seasonality, ETS(A,N,A); from eight weeks on ETS(A,Ad,A), with
a damped trend) is fitted to the last FIT_DAYS complete days before `as_of`.
Its future is simulated PATHS times with errors drawn from its own residuals (a residual
bootstrap), each simulated day clipped at $0. Every path is summed to the period end and added to
what is already spent, so the band is a band on the period-end *total*, not a band per day;
pointwise quantiles of the cumulative paths give the burn-up band.

Simulations take the fitted model as exact, so the band is then widened twice: for the estimation
error of the level and weekday effects (`_widen`), and against the model's own misses
(`_calibrate`): its forecasts of the same horizon from past weekly origins (fitted parameters kept,
each origin seeing only the days before it) missed by some relative errors; each side of the band
is stretched until it is at least as wide as those misses on that side (their 10th and 90th
percentiles, and their root mean square). A series whose totals run above the model's forecasts
(a yearly pattern a weekly model cannot see, as in the US births) thus gets a wider upper side
rather than a symmetric band that misses high. bench/bench_forecast.py measures what this gives.

With less history, a flat history, or a model that will not fit, the forecast is the linear run
rate (the mean day so far times the days left, as LiteLLM's budget projection does), with a band
from the day-to-day spread of the history (days taken as independent). `Forecast.method` says which
was used.

Days are calendar days in the clock of `daily`'s index; an aware `as_of` is taken in UTC. The day
of `as_of` is partly elapsed: its spend so far counts as spent, and the share of it still to come
is forecast (the modelled day times the fraction of the day left).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

#: Complete days of history needed before the seasonal model is used (two weeks of each weekday).
MIN_SEASONAL_DAYS = 14
#: From this many complete days the model also gets a (damped) trend. On the backtests a trend from
#: five weeks on extrapolated launch ramps in the demo (its 90-day months went from 6.8% to 17.4%
#: MAPE), and choosing by AICc was worse on three of six series than a trend from eight weeks on.
MIN_TREND_DAYS = 56
#: The model is fitted to at most this many of the latest days: enough for the weekly shape and
#: the current level and trend, and it keeps one forecast well under a second.
FIT_DAYS = 16 * 7
#: Model strictly positive histories in logs (multiplicative weekly pattern and noise). Off: on
#: the backtests (bench/bench_forecast.py) it was no more accurate (MAPE within 0.2 points), and
#: after a level shift the bootstrapped shift residual, exponentiated, skews the P50 upwards.
LOG_WHEN_POSITIVE = False
#: Calibrate the band against the model's own errors from up to ORIGINS past weekly origins (at
#: least MIN_ORIGINS of them).
CALIBRATE = True
ORIGINS = 12
#: Calibrate each side of the band to split-conformal levels of the past errors (see _error_bounds).
CONFORMAL = True
MIN_ORIGINS = 4
#: Simulated futures per forecast.
PATHS = 1000
#: z of the 10th/90th percentile of a normal distribution (the run-rate band).
Z90 = 1.2815515655446004

METHOD_ETS = "ets-weekly"
METHOD_ETS_TREND = "ets-weekly-damped-trend"
METHOD_RUN_RATE = "run-rate"
METHOD_CLOSED = "actual"  # the period is over: the total is what was spent


@dataclass(frozen=True)
class Forecast:
    """USD totals at the period end (spend so far included) and the burn-up path behind them."""

    p10: float
    p50: float
    p90: float
    method: str
    spent: float
    #: date, p10, p50, p90: cumulative spend from the period start to its end. Days already over
    #: carry the actual cumulative spend in all three columns.
    daily: pd.DataFrame = field(repr=False)
    #: Complete days of history the forecast was made from, and why a fallback was taken.
    history_days: int = 0
    note: str = ""

    def runs_out(self, amount: float) -> date | None:
        """The first day the P50 cumulative path reaches `amount`, or None if it never does."""
        hit = self.daily.loc[self.daily["p50"] >= float(amount), "date"]
        return hit.iloc[0] if len(hit) else None


def run_rate_period_end(spent_so_far: float, elapsed_days: float, total_days: float) -> float:
    """LiteLLM's linear projection: spend so far / days elapsed x days in the period."""
    if total_days <= 0:
        raise ValueError("a period must last more than 0 days")
    if elapsed_days <= 0:
        return float(spent_so_far)
    return float(spent_so_far) / float(elapsed_days) * float(total_days)


def forecast_period_end(
    daily: pd.Series, period_start: date, period_end: date, as_of: datetime, paths: int = PATHS, seed: int = 0
) -> Forecast:
    """Forecast the period-end total of `daily` (USD per day, indexed by date, gaps meaning $0)
    for the period [period_start, period_end] (both inclusive), knowing the history up to `as_of`."""
    if period_end < period_start:
        raise ValueError(f"period ends ({period_end}) before it starts ({period_start})")
    as_of = _naive_utc(as_of)
    today = as_of.date()
    day_left = 1.0 - (as_of - datetime.combine(today, datetime.min.time())) / timedelta(days=1)
    days = _as_days(daily, today)

    period = pd.date_range(period_start, period_end, freq="D")
    in_period = days.reindex(period, fill_value=0.0)
    seen = in_period.index.date <= today
    spent = float(in_period[seen].sum())
    actual_path = in_period[seen].cumsum()

    if today > period_end:
        return _forecast(actual_path, np.empty((0, 1)), spent, METHOD_CLOSED, len(days), "")

    # Complete days before today are the history; today's partial spend is already in `spent`.
    history = days[days.index.date < today]
    first_future = max(today, period_start)
    horizon = (period_end - today).days + 1  # today .. period end
    skip = (first_future - today).days  # forecast days before the period starts are not counted
    method, note = _choose(history)
    sims = None
    if method != METHOD_RUN_RATE:
        try:
            fitted = history[-FIT_DAYS:]
            sims, method = _simulate_ets(fitted, horizon, method == METHOD_ETS_TREND, paths, seed)
            sims = _widen(sims, len(fitted))
        except Exception as exc:  # a model that will not fit must not stop a budget check
            method, note = METHOD_RUN_RATE, f"seasonal model failed ({type(exc).__name__}); run rate used"
    if sims is None:
        sims = _simulate_run_rate(history, in_period[seen], horizon, paths, seed)
    sims = np.clip(sims, 0.0, None)
    sims[0] *= day_left  # only the rest of today is still to come
    return _forecast(actual_path, sims[skip:], spent, method, len(history), note, first_future)


# ------------------------------------------------------------------ helpers
def _naive_utc(ts: datetime) -> datetime:
    ts = pd.Timestamp(ts).to_pydatetime()
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def _as_days(daily: pd.Series, today: date) -> pd.Series:
    """A float series on a gap-free daily DatetimeIndex from the first day given to today."""
    s = pd.Series(
        pd.to_numeric(pd.Series(daily).to_numpy(), errors="coerce"),
        index=pd.to_datetime(pd.Index(daily.index)),
        dtype=float,
    ).fillna(0.0)
    if getattr(s.index, "tz", None) is not None:
        s.index = s.index.tz_convert("UTC").tz_localize(None)
    s = s.groupby(s.index.normalize()).sum()
    s = s[s.index.date <= today]
    if s.empty:
        return pd.Series(dtype=float, index=pd.DatetimeIndex([], freq="D"))
    full = pd.date_range(s.index.min(), pd.Timestamp(today), freq="D")
    return s.reindex(full, fill_value=0.0)


def _choose(history: pd.Series) -> tuple[str, str]:
    n = len(history)
    if n < MIN_SEASONAL_DAYS:
        return METHOD_RUN_RATE, f"{n} complete day(s) of history; the weekly model needs {MIN_SEASONAL_DAYS}"
    recent = history[-FIT_DAYS:]
    if float(recent.std()) <= 1e-9 * max(1.0, abs(float(recent.mean()))):
        return METHOD_RUN_RATE, "flat history: nothing seasonal to model"
    return (METHOD_ETS_TREND if n >= MIN_TREND_DAYS else METHOD_ETS), ""


def _simulate_ets(history: pd.Series, horizon: int, trend: bool, paths: int, seed: int) -> tuple[np.ndarray, str]:
    """horizon x paths simulated daily spends from ETS(A, N, A) with period 7, or ETS(A, Ad, A)
    when `trend`; and the method name of the model used."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = history.to_numpy(dtype=float)
    scale = max(float(np.abs(y).mean()), 1e-12)  # fit on a unit scale: cents and millions alike
    # In logs (LOG_WHEN_POSITIVE), weekends would scale with the level and the noise with it; days
    # at $0 need the plain scale anyway.
    logs = LOG_WHEN_POSITIVE and bool((y > 0).all())
    z = np.log(y / scale) if logs else y / scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; a bad fit shows in the band
        spec = dict(error="add", trend="add" if trend else None, damped_trend=trend, seasonal="add", seasonal_periods=7)
        fit = ETSModel(z, **spec).fit(disp=False)
        method = METHOD_ETS_TREND if trend else METHOD_ETS
        past_errors = _past_errors(z, spec, fit.params, horizon, logs) if CALIBRATE else None
        # Residual bootstrap, drawn here so that a seed gives the same band every time.
        resid = np.asarray(fit.resid, dtype=float)
        resid = resid[np.isfinite(resid)]
        errors = np.random.default_rng(seed).choice(resid, size=(horizon, paths), replace=True)
        sims = fit.simulate(nsimulations=horizon, anchor="end", repetitions=paths, random_errors=errors)
    sims = np.asarray(sims, dtype=float).reshape(horizon, -1)
    sims = (np.exp(np.minimum(sims, 50.0)) if logs else sims) * scale
    if logs:
        method += "-log"
    if past_errors is not None and len(past_errors) >= MIN_ORIGINS:
        sims = _calibrate(sims, past_errors)
    if not np.isfinite(sims).all():
        raise FloatingPointError("non-finite simulation")
    return sims, method


def _past_errors(z: np.ndarray, spec: dict, params, horizon: int, logs: bool) -> np.ndarray:
    """Relative errors of the model's own `horizon`-day totals from past origins (one a week, the
    fitted parameters kept, each origin seeing only the days before it)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    errors = []
    for k in range(ORIGINS):
        t = len(z) - horizon - 7 * k
        if t < MIN_SEASONAL_DAYS:
            break
        fcast = np.asarray(ETSModel(z[:t], **spec).smooth(params).forecast(horizon), dtype=float)
        actual = z[t : t + horizon]
        if logs:
            fcast, actual = np.exp(fcast), np.exp(actual)
        total = float(np.clip(fcast, 0, None).sum())
        if total > 0:
            errors.append(float(actual.sum()) / total - 1.0)
    return np.asarray(errors)


def _calibrate(sims: np.ndarray, past_errors: np.ndarray) -> np.ndarray:
    """Simulated paths take the fitted model as exact. Stretch each side of their spread (paths
    whose total ends below the median, and above it) until the P10 and P90 totals are at least as
    far from the median as the model's own past misses over the same horizon reached on that side
    (their 10th / 90th percentile), and the spread at least their root mean square. Never
    narrower than the model's own band; the median is kept."""
    totals = sims.sum(axis=0)
    median = float(np.median(totals))
    if median <= 0:
        return sims
    below = median - float(np.quantile(totals, 0.1))
    above = float(np.quantile(totals, 0.9)) - median
    spread = float(np.std(totals))
    rms = float(np.sqrt(np.mean(past_errors**2))) * median
    lo_err, hi_err = _error_bounds(past_errors)
    want_below = max(-lo_err * median, 0.0)
    want_above = max(hi_err * median, 0.0)
    sym = rms / spread if spread > 0 else 1.0
    f_below = max(1.0, sym, want_below / below if below > 0 else 1.0)
    f_above = max(1.0, sym, want_above / above if above > 0 else 1.0)
    if f_below == 1.0 and f_above == 1.0:
        return sims
    cumulative = np.cumsum(sims, axis=0)
    mid = np.median(cumulative, axis=1, keepdims=True)
    factor = np.where(totals >= median, f_above, f_below)[None, :]
    return np.diff(mid + (cumulative - mid) * factor, axis=0, prepend=0.0)


def _error_bounds(past_errors: np.ndarray) -> tuple[float, float]:
    """The past relative errors a P10-P90 band must reach on each side. With CONFORMAL, split
    conformal's finite-sample levels: from n past errors, the ceil((n+1) x 0.9)-th smallest above
    and the floor((n+1) x 0.1)-th below (the extremes when n < 9), so that a new error as likely as
    each past one falls beyond a side at most 10% of the time; else the plain 10th and 90th
    percentiles (which a dozen errors underestimate)."""
    e = np.sort(np.asarray(past_errors, dtype=float))
    if not CONFORMAL:
        return float(np.quantile(e, 0.1)), float(np.quantile(e, 0.9))
    n = len(e)
    hi = min(math.ceil((n + 1) * 0.9), n)
    lo = max(math.floor((n + 1) * 0.1), 1)
    return float(e[lo - 1]), float(e[hi - 1])


def _widen(sims: np.ndarray, n_fit: int) -> np.ndarray:
    """Simulated paths know the model's noise but take its estimates as exact. The level and the
    seven weekday effects are each estimated from the fitted days, so an h-day total is off by
    about h*sigma/sqrt(n) from each: its variance grows from h*sigma^2 to h*sigma^2*(1 + 2h/n).
    Stretch each path's cumulative deviation from the median path by that factor."""
    h = np.arange(1, sims.shape[0] + 1)[:, None]
    factor = np.sqrt(1.0 + 2.0 * h / max(n_fit, 1))
    cumulative = np.cumsum(sims, axis=0)
    median = np.median(cumulative, axis=1, keepdims=True)
    widened = median + (cumulative - median) * factor
    return np.diff(widened, axis=0, prepend=0.0)


def _simulate_run_rate(history: pd.Series, period_days: pd.Series, horizon: int, paths: int, seed: int) -> np.ndarray:
    """Daily draws around the mean day, spread as the history's days are (normal, independent)."""
    base = history if len(history) else period_days
    base = base[-28:]  # the recent run rate, as a budget owner reads it
    mean = float(base.mean()) if len(base) else 0.0
    sd = float(base.std(ddof=1)) if len(base) > 1 else 0.0
    if not math.isfinite(sd):
        sd = 0.0
    rng = np.random.default_rng(seed)
    # Normal day totals; the sum over k days then has sd * sqrt(k), the band the docs promise.
    return mean + sd * rng.standard_normal((horizon, paths))


def _forecast(
    actual_path: pd.Series,
    future: np.ndarray,
    spent: float,
    method: str,
    history_days: int,
    note: str,
    first_future: date | None = None,
) -> Forecast:
    past = pd.DataFrame(
        {
            "date": actual_path.index.date,
            "p10": actual_path.to_numpy(),
            "p50": actual_path.to_numpy(),
            "p90": actual_path.to_numpy(),
        }
    )
    if future.shape[0] == 0:
        return Forecast(spent, spent, spent, method, spent, past, history_days, note)
    cumulative = spent + np.cumsum(future, axis=0)
    q10, q50, q90 = np.quantile(cumulative, [0.1, 0.5, 0.9], axis=1)
    dates = pd.date_range(first_future, periods=future.shape[0], freq="D").date
    ahead = pd.DataFrame({"date": dates, "p10": q10, "p50": q50, "p90": q90})
    past = past[past["date"] < first_future]  # today is partly seen, partly forecast: one row
    path = pd.concat([past, ahead], ignore_index=True) if len(past) else ahead
    return Forecast(float(q10[-1]), float(q50[-1]), float(q90[-1]), method, spent, path, history_days, note)
