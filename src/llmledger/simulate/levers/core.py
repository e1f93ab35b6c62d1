"""What every lever shares: the calls frame it reads, the per-model prices it uses, its result.

A lever is a pure function over a DataFrame of calls (one row per LLM call) and a price table; it
returns a LeverResult. Nothing here touches DuckDB or Streamlit: reads/levers.py builds the frame
from the ledger, the CLI and the page print and draw the result.

Calls frame columns (`check_calls` names what is missing or wrong):
    required  time (datetime, or seconds as a number), model (str), input_tokens, output_tokens
              (whole numbers >= 0), cost_usd (the call's actual cost; NaN where unpriced)
    optional  feature, session_id, trace_id, span_id, status ('ok' | 'error'),
              cache_read_tokens, cache_write_tokens, input_text, output_text,
              input_hash (a digest of the messages when the text itself was not kept),
              params (request parameters as a string: temperature, max_tokens, tools...)

Money inside a lever is float64 (vectorised over millions of calls); results are rounded to the
nano-dollar when they are reported, like the ledger's DECIMAL(18,9) costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError

REQUIRED = ("time", "model", "input_tokens", "output_tokens", "cost_usd")
OPTIONAL_TEXT = ("feature", "session_id", "trace_id", "span_id", "status", "input_text", "output_text")
OPTIONAL_TEXT += ("input_hash", "params")
OPTIONAL_INT = ("cache_read_tokens", "cache_write_tokens")
MILLION = 1_000_000.0


@dataclass(frozen=True)
class ModelPrices:
    """USD per 1M tokens for one model (None where the sheet has no such price)."""

    model: str
    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None  # 5-minute write
    cache_write_1h: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    source: str = ""  # e.g. "sheet 'litellm', entry 'gpt-4o'"


@dataclass
class LeverResult:
    lever: str  # "response-cache", "prompt-cache", ...
    title: str  # what was simulated, in words
    calls: int  # calls the lever looked at
    baseline_usd: float  # their actual cost today
    whatif_usd: float  # their cost had the lever been in place
    assumptions: list[str]  # what the what-if rests on, in words
    details: pd.DataFrame  # per feature/model (or per turn, per cap...) figures
    metrics: dict = field(default_factory=dict)  # hit rate, tokens saved, ...
    notes: list[str] = field(default_factory=list)  # data quality: calls left out and why
    examples: list[dict] = field(default_factory=list)  # before/after samples (compression)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # more tables (semantic: "sweep")
    # Per call, aligned with the frame the lever was given (for levers applied in sequence,
    # summary.py): the what-if cost, whether the call is no longer made, its new input tokens.
    per_call_usd: np.ndarray | None = field(default=None, repr=False)
    removed: np.ndarray | None = field(default=None, repr=False)
    input_tokens_after: np.ndarray | None = field(default=None, repr=False)

    @property
    def saving_usd(self) -> float:
        return self.baseline_usd - self.whatif_usd

    @property
    def saving_share(self) -> float | None:
        return self.saving_usd / self.baseline_usd if self.baseline_usd > 0 else None

    def to_dict(self) -> dict:
        return {
            "lever": self.lever,
            "title": self.title,
            "calls": self.calls,
            "baseline_usd": usd(self.baseline_usd),
            "whatif_usd": usd(self.whatif_usd),
            "saving_usd": usd(self.saving_usd),
            "saving_share": None if self.saving_share is None else round(self.saving_share, 6),
            "metrics": {k: _plain(v) for k, v in self.metrics.items()},
            "assumptions": list(self.assumptions),
            "notes": list(self.notes),
            "details": [{k: _plain(v) for k, v in r.items()} for r in self.details.to_dict("records")],
            "examples": self.examples,
            **(
                {
                    "tables": {
                        name: [{k: _plain(v) for k, v in r.items()} for r in t.to_dict("records")]
                        for name, t in self.tables.items()
                    }
                }
                if self.tables
                else {}
            ),
        }


def usd(x: float) -> float:
    """Round to the nano-dollar (the ledger's DECIMAL(18,9))."""
    return round(float(x), 9)


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def check_calls(calls: pd.DataFrame, need: tuple[str, ...] = ()) -> pd.DataFrame:
    """A clean copy of the calls frame: times as UTC timestamps, tokens as int64, cost as float.
    Raises SimulationError naming the first problem (missing column, negative or fractional
    tokens, times that are not times)."""
    if not isinstance(calls, pd.DataFrame):
        raise SimulationError(f"calls must be a DataFrame (got {type(calls).__name__})")
    missing = [c for c in (*REQUIRED, *need) if c not in calls.columns]
    if missing:
        raise SimulationError(f"calls lack column(s) {', '.join(missing)} (have: {', '.join(map(str, calls.columns))})")
    df = calls.copy()
    df["time"] = _times(df["time"])
    for c in ("input_tokens", "output_tokens", *[c for c in OPTIONAL_INT if c in df.columns]):
        df[c] = _tokens(df[c], c, allow_null=c in OPTIONAL_INT)
    cost = pd.to_numeric(df["cost_usd"], errors="coerce")
    bad = df["cost_usd"].notna() & cost.isna()
    if bad.any():
        raise SimulationError(f"cost_usd must be a number (row {int(np.flatnonzero(bad.to_numpy())[0])})")
    if (cost < 0).any():
        raise SimulationError(f"cost_usd must be 0 or more (row {int(np.flatnonzero((cost < 0).to_numpy())[0])})")
    if np.isinf(cost.to_numpy(dtype=float)).any():
        raise SimulationError("cost_usd must be finite")
    df["cost_usd"] = cost.astype(float)
    if df["model"].isna().any() or not all(isinstance(m, str) and m for m in df["model"].unique()):
        raise SimulationError("every call needs a model name (a non-empty string)")
    return df


def epoch_ms(times: pd.Series) -> np.ndarray:
    """Milliseconds since the epoch, whatever unit pandas keeps the timestamps in."""
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype(np.int64)


def _times(s: pd.Series) -> pd.Series:
    textual = s.dtype == object or pd.api.types.is_string_dtype(s)
    if textual and len(s):
        kinds = {
            "number"
            if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            else "text"
            if isinstance(v, str)
            else "time"
            if isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "isoformat")
            else "other"
            for v in s.to_numpy()
        }
        if len(kinds) != 1 or "other" in kinds:
            raise SimulationError("time must be all seconds since 1970 or all timestamps (ISO 8601 text or datetimes)")
        if kinds == {"number"}:
            s = pd.to_numeric(s)
    if pd.api.types.is_numeric_dtype(s):
        x = s.to_numpy(dtype=float)
        if not (np.isfinite(x).all() and (np.abs(x) < 9e9).all()):
            raise SimulationError("time must be seconds since 1970 (within ±9×10^9, years 1685-2255) or timestamps")
        return pd.Series(pd.to_datetime(x, unit="s", utc=True), index=s.index)
    try:
        t = pd.to_datetime(s, utc=True, format="ISO8601") if textual else pd.to_datetime(s, utc=True)
        t = pd.Series(t, index=s.index)
    except (ValueError, TypeError, OverflowError) as exc:
        raise SimulationError(f"time must be timestamps: {exc}") from None
    if t.isna().any():
        raise SimulationError(f"time is missing on {int(t.isna().sum())} call(s)")
    return t


def _tokens(s: pd.Series, name: str, allow_null: bool) -> pd.Series:
    x = pd.to_numeric(s, errors="coerce")
    if (s.notna() & x.isna()).any():
        raise SimulationError(f"{name} must be whole numbers")
    if x.isna().any() and not allow_null:
        raise SimulationError(f"{name} is missing on {int(x.isna().sum())} call(s)")
    v = x.fillna(0).to_numpy(dtype=float)
    if not np.isfinite(v).all() or (v < 0).any() or (v != np.floor(v)).any() or (v > 1e9).any():
        raise SimulationError(f"{name} must be whole numbers from 0 to 10^9")
    if allow_null:  # unknown stays unknown (NaN), never a made-up 0
        return pd.Series(x.to_numpy(dtype=float), index=s.index)
    return pd.Series(v.astype(np.int64), index=s.index)


def price_arrays(calls: pd.DataFrame, prices: dict[str, ModelPrices], fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-call USD per token for each field (NaN where the model or the price is unknown)."""
    models = calls["model"].to_numpy()
    codes, uniq = pd.factorize(models)
    out = {}
    for f in fields:
        per = np.array(
            [(getattr(prices[m], f) if m in prices and getattr(prices[m], f) is not None else np.nan) for m in uniq],
            dtype=float,
        )
        out[f] = per[codes] / MILLION if len(uniq) else np.zeros(0)
    return out


def positive_number(value, what: str, allow_zero: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise SimulationError(f"{what} must be a number (got {value!r})") from None
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise SimulationError(f"{what} must be a {'non-negative' if allow_zero else 'positive'} number (got {value!r})")
    return x


def by_feature_model(df: pd.DataFrame, cols: dict[str, str]) -> pd.DataFrame:
    """Sum the named per-call columns by feature and model (feature 'all' when absent), with
    bincount over factorised codes (a pandas groupby on two string columns is ~10x slower)."""
    n = len(df)
    if "feature" in df.columns:
        fcodes, funiq = pd.factorize(df["feature"].fillna("(none)"))
    else:
        fcodes, funiq = np.zeros(n, dtype=np.int64), np.array(["all"], dtype=object)
    mcodes, muniq = pd.factorize(df["model"])
    width = max(len(muniq), 1)
    codes, groups = pd.factorize(fcodes.astype(np.int64) * width + mcodes)
    out = {
        "feature": np.asarray(funiq, dtype=object)[groups // width] if len(groups) else [],
        "model": np.asarray(muniq, dtype=object)[groups % width] if len(groups) else [],
        "calls": np.bincount(codes, minlength=len(groups)),
    }
    for name, col in cols.items():
        v = df[col].to_numpy()
        total = np.bincount(codes, weights=v.astype(float), minlength=len(groups))
        out[name] = np.rint(total).astype(np.int64) if np.issubdtype(v.dtype, np.integer) else total
    return pd.DataFrame(out).sort_values(["feature", "model"], kind="stable").reset_index(drop=True)
