"""Incremental budget checks after loads: running totals per budget, period and member.

A full evaluation (evaluate.status) scans the priced-calls memo. It also hands `seed` every
budget's totals in its current window (for "each" budgets, every member's), read in one snapshot
together with the load watermark (max `calls.load_seq`, number of calls). After the next loads,
`advance` prices only the calls of those loads (`load_seq` above the watermark: rows are appended
in load order, so DuckDB's zone maps skip every older row group), adds each to the budgets whose
scope and window it falls in, and for rolling windows subtracts the thin slice of older calls
that slid out of the window. The totals are kept in memory and in `alert_running` (one row per
budget, window start and member), with the watermark in `alert_running_state`.

The result is what a full scan gives, and `advance` says None (the caller evaluates fully, then
seeds again) whenever it could not be:
- no seed yet, or the budgets changed (their definitions), or a calendar window rolled over;
- prices, price resolutions or attribution rules changed (the memo's price token);
- calls changed without a load (their count is not the watermark's plus the new loads');
- a load touched a trace that already had rows before the watermark (a late span may re-attribute
  that trace's older calls);
- a call starts at or after the moment evaluated (a full scan would leave it out);
- a forecast budget's inputs moved: the local hour changed (forecasts refit hourly) or a new call
  starts before today in its zone (its daily history changed).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from llmledger.alerts import periods
from llmledger.alerts.budgets import SCOPE_DIMS

NANO = 1_000_000_000
#: The in-memory totals are copied into `alert_running` at every seed and at most this often after.
PERSIST_S = 60.0
#: Columns of the priced calls an update reads (scope dimensions, time, money, tokens, basis).
ROW_COLUMNS = (
    "start_time",
    "feature",
    "team",
    "user_id",
    "service",
    "environment",
    "request_model",
    "response_model",
    "provider",
)
ROWS_SQL = """
SELECT {cols}, CAST(round(actual_cost_usd * 1000000000) AS BIGINT) AS nano,
       coalesce(input_tokens, 0) + coalesce(output_tokens, 0) AS tokens, cost_basis = 'unpriced' AS unpriced
FROM ({priced}) p
"""
MARKER_SQL = "SELECT count(*), coalesce(max(load_seq), 0), max(start_time) FROM calls"
NEW_MARKER_SQL = "SELECT count(*), max(start_time) FROM calls WHERE load_seq > ?"
RETOUCHED_SQL = """
SELECT count(*) FROM trace_seqs
WHERE first_seq <= ? AND trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE load_seq > ?)
"""
MAX_SEQ_SQL = "SELECT coalesce(max(load_seq), 0) FROM spans"

_lock = threading.Lock()
_seeds: dict[str, "Seed"] = {}  # memo table -> seed
#: Why the last `advance` fell back to a full evaluation (tests, benchmarks, the evaluator's stats).
last_reason: dict[str, str] = {}


@dataclass
class Agg:
    """Totals of one (scope, member dimension, window) over [lo, as_of): in the unit's integer
    (nano-dollars or tokens), calls and unpriced calls; members indexed by value when `each`."""

    scope: tuple
    each: str | None
    period: str
    tz: str
    lo: datetime
    whole: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.int64))  # nano, tokens, calls, unpriced
    members: pd.DataFrame | None = None  # index member; columns nano, tokens, calls, unpriced


@dataclass
class Seed:
    token: Any
    rules: str
    seq: int
    span_seq: int
    count: int
    as_of: datetime
    max_start: datetime | None
    aggs: dict[tuple, Agg]
    by_rule: dict[int, tuple]  # rule_id -> agg key
    forecast: dict[int, Any]  # rule_id -> (series, p_start, p_last) for budgets forecast in a check
    today_starts: dict[str, datetime]  # tz -> local midnight of as_of (forecast budgets' zones)
    names: frozenset = frozenset()  # price resolutions under the sheet at the seed
    persisted_at: float = 0.0  # time.monotonic() of the last copy into alert_running


def rules_hash(stored) -> str:
    body = json.dumps(
        [(s.rule_id, s.budget.to_dict()) for s in stored if s.budget.enabled], sort_keys=True, default=str
    )
    return hashlib.sha1(body.encode()).hexdigest()


def agg_key(b, window: periods.Window) -> tuple:
    if window.rolling:
        return (b.scope, b.each, b.period, "UTC", None)
    return (b.scope, b.each, b.period, b.tz, window.start)


def _lo(a: Agg, as_of: datetime) -> datetime:
    return periods.window(a.period, a.tz, as_of).start


def frame(rows: pd.DataFrame | None) -> pd.DataFrame:
    return pd.DataFrame(columns=["nano", "tokens", "calls", "unpriced"], dtype=np.int64) if rows is None else rows


def memo_token(cur, table: str):
    from llmledger.reads import spend_cache

    rows = cur.execute(
        f"SELECT price_token, calls, last_loaded_at FROM {spend_cache.STATE} WHERE memo = ?", [table]
    ).fetchall()
    return rows[0] if rows else None


def snapshot_marker(cur, table: str) -> dict[str, Any] | None:
    """Inside the caller's read transaction: the watermark a full evaluation on `cur` sees, or
    None when the memo is not in step with the calls (then nothing can be seeded from it)."""
    from llmledger.reads import spend_cache

    count, seq, max_start = cur.execute(MARKER_SQL).fetchall()[0]
    memo = memo_token(cur, table)
    calls, last_loaded = cur.execute(spend_cache.DATA_TOKEN_SQL).fetchall()[0]
    if memo is None or memo[1] != calls or memo[2] != last_loaded or calls != count:
        return None
    span_seq = cur.execute(MAX_SEQ_SQL).fetchall()[0][0]
    sheet = cur.execute(f"SELECT sheet FROM {spend_cache.STATE} WHERE memo = ?", [table]).fetchall()[0][0]
    return {
        "count": int(count),
        "seq": int(seq),
        "span_seq": int(span_seq),
        "max_start": max_start,
        "token": memo[0],
        "names": resolutions(cur, sheet),
    }


def seed(con, table: str, stored, statuses, as_of: datetime, marker: dict[str, Any] | None) -> None:
    """Keep the totals a full evaluation found (calendar and rolling budgets, whole and "each")."""
    with _lock:
        _seeds.pop(table, None)
    if marker is None or (marker["max_start"] is not None and marker["max_start"] >= as_of):
        return
    aggs: dict[tuple, Agg] = {}
    by_rule: dict[int, tuple] = {}
    forecast: dict[int, Any] = {}
    today_starts: dict[str, datetime] = {}
    for s in statuses:
        b = s.budget
        key = agg_key(b, s.window)
        by_rule[s.rule_id] = key
        if key in aggs:
            continue
        a = Agg(b.scope, b.each, b.period, b.tz if not s.window.rolling else "UTC", s.window.start)
        if b.each:
            got = getattr(s, "_member_totals", None)
            if got is None:
                return
            a.members = got
        elif s.whole is not None:
            w = s.whole
            a.whole = np.array([getattr(s, "_nano", 0), getattr(s, "_tokens", 0), w.calls, w.unpriced], dtype=np.int64)
        aggs[key] = a
        if getattr(s, "_series", None) is not None:
            forecast[s.rule_id] = s._series
            today_starts[b.tz] = periods.day_start(as_of, b.tz)
    for s in statuses:  # forecast budgets sharing an aggregate still need their own series
        if getattr(s, "_series", None) is not None:
            forecast[s.rule_id] = s._series
            today_starts[s.budget.tz] = periods.day_start(as_of, s.budget.tz)
    new = Seed(
        marker["token"],
        rules_hash(stored),
        marker["seq"],
        marker["span_seq"],
        marker["count"],
        as_of,
        marker["max_start"],
        aggs,
        by_rule,
        forecast,
        today_starts,
        marker["names"],
    )
    with _lock:
        _seeds[table] = new
    persist(con, new, stored)


def _fallback(table: str, why: str) -> None:
    last_reason[table] = why
    with _lock:
        _seeds.pop(table, None)


def _rows(cur, sheet: str, pred: str, params: list) -> pd.DataFrame:
    from llmledger.pricing.engine import priced_calls_sql

    priced, p = priced_calls_sql(sheet, calls_where=(pred, params))
    df = cur.execute(ROWS_SQL.format(cols=", ".join(ROW_COLUMNS), priced=priced), p).df()
    for col in ("nano", "tokens", "unpriced"):
        df[col] = pd.to_numeric(df[col]).fillna(0).astype(np.int64)
    return df


def _mask(df: pd.DataFrame, scope: tuple) -> np.ndarray:
    m = np.ones(len(df), dtype=bool)
    for dim, values in scope:
        if dim == "model":
            m &= (df["request_model"].isin(values) | df["response_model"].isin(values)).to_numpy()
        else:
            m &= df[SCOPE_DIMS[dim]].isin(values).to_numpy()
    return m


def _member_col(df: pd.DataFrame, each: str) -> pd.Series:
    if each == "model":
        return df["request_model"].where(df["request_model"].notna(), df["response_model"])
    return df[SCOPE_DIMS[each]]


def _sums(df: pd.DataFrame, m: np.ndarray) -> np.ndarray:
    if not m.any():
        return np.zeros(4, dtype=np.int64)
    return np.array(
        [
            int(df["nano"].to_numpy()[m].sum()),
            int(df["tokens"].to_numpy()[m].sum()),
            int(m.sum()),
            int(df["unpriced"].to_numpy()[m].sum()),
        ],
        dtype=np.int64,
    )


def _by_member(df: pd.DataFrame, m: np.ndarray, each: str) -> pd.DataFrame:
    sub = df[m]
    member = _member_col(sub, each)
    sub = sub[member.notna()]
    if sub.empty:
        return frame(None)
    g = (
        sub.assign(member=member[member.notna()].astype(str), calls=1)
        .groupby("member")[["nano", "tokens", "calls", "unpriced"]]
        .sum()
    )
    return g.astype(np.int64)


def advance(con, table: str, sheet: str, stored, as_of: datetime) -> dict[str, Any] | None:
    """The seeded totals brought to `as_of` and the loads since the seed, or None (fall back to a
    full evaluation; `last_reason[table]` says why). Returns {"aggs", "by_rule", "forecast"}."""
    with _lock:
        sd = _seeds.get(table)
    if sd is None:
        last_reason[table] = "no seed"
        return None
    if as_of < sd.as_of:
        return _fallback(table, "evaluated at an earlier moment than the seed")
    if rules_hash(stored) != sd.rules:
        return _fallback(table, "budgets changed")
    for key, a in sd.aggs.items():
        if key[4] is not None and _lo(a, as_of) != a.lo:
            return _fallback(table, "a period rolled over")
    for tz, start in sd.today_starts.items():
        if periods.day_start(as_of, tz) != start or as_of.replace(
            minute=0, second=0, microsecond=0
        ) != sd.as_of.replace(minute=0, second=0, microsecond=0):
            return _fallback(table, "a forecast's hour or day moved")
    cur = con.cursor()
    try:
        cur.execute("BEGIN")
        try:
            count, seq, _ = cur.execute(MARKER_SQL.replace("max(start_time)", "NULL")).fetchall()[0]
            token = _price_token(cur, sheet)
            if _core(token) != _core(sd.token):
                return _fallback(table, "prices or attribution rules changed")
            names = sd.names
            if token != sd.token:
                # Loads resolved new model names: only calls loaded before that use them could be repriced.
                names = resolutions(cur, sheet)
                changed = set(names - sd.names)
                if len(names) < len(sd.names) or (changed and _renamed_old_calls(cur, changed, sd.seq)):
                    return _fallback(table, "a model name resolved since was used by earlier calls")
            n_new, new_max = cur.execute(NEW_MARKER_SQL, [sd.seq]).fetchall()[0]
            if count != sd.count + n_new:
                return _fallback(table, "calls changed without a load")
            span_seq = cur.execute(MAX_SEQ_SQL).fetchall()[0][0]
            if span_seq > sd.span_seq and cur.execute(RETOUCHED_SQL, [sd.span_seq, sd.span_seq]).fetchall()[0][0]:
                return _fallback(table, "a load touched a trace loaded before")
            max_start = max([t for t in (sd.max_start, new_max) if t is not None], default=None)
            if max_start is not None and max_start >= as_of:
                return _fallback(table, "a call starts at or after the moment evaluated")
            new = _rows(cur, sheet, "c.load_seq > ?", [sd.seq]) if n_new else None
            if new is not None and sd.today_starts and (new["start_time"] < min(sd.today_starts.values())).any():
                return _fallback(table, "a new call changed a forecast's daily history")
            slices = {k: (a.lo, _lo(a, as_of)) for k, a in sd.aggs.items() if k[4] is None and _lo(a, as_of) > a.lo}
            gone = None
            if slices:
                ranges = list(slices.values())
                pred = " OR ".join("(c.start_time >= ? AND c.start_time < ?)" for _ in ranges)
                gone = _rows(cur, sheet, f"c.load_seq <= ? AND ({pred})", [sd.seq, *[x for r in ranges for x in r]])
        finally:
            cur.execute("COMMIT")
    finally:
        cur.close()
    aggs = {}
    masks: dict[tuple, np.ndarray] = {}
    for key, a in sd.aggs.items():
        lo1 = _lo(a, as_of)
        b = Agg(a.scope, a.each, a.period, a.tz, lo1, a.whole.copy(), a.members)
        parts = []
        if new is not None and len(new):
            if a.scope not in masks:
                masks[a.scope] = _mask(new, a.scope)
            t = new["start_time"]
            parts.append((new, masks[a.scope] & (t >= lo1).to_numpy() & (t < as_of).to_numpy(), 1))
        if gone is not None and key in slices and len(gone):
            t = gone["start_time"]
            parts.append((gone, _mask(gone, a.scope) & (t >= a.lo).to_numpy() & (t < lo1).to_numpy(), -1))
        for df, m, sign in parts:
            if not m.any():
                continue
            if a.each:
                d = _by_member(df, m, a.each)
                cur_m = frame(b.members)
                b.members = (
                    cur_m.add(d if sign > 0 else -d, fill_value=0).astype(np.int64)
                    if len(cur_m)
                    else (d if sign > 0 else -d)
                )
                b.members = b.members[b.members["calls"] != 0]
            else:
                b.whole = b.whole + sign * _sums(df, m)
        aggs[key] = b
    updated = Seed(
        token,
        sd.rules,
        int(seq),
        int(span_seq),
        int(count),
        as_of,
        max_start,
        aggs,
        sd.by_rule,
        sd.forecast,
        sd.today_starts,
        names,
        sd.persisted_at,
    )
    with _lock:
        if _seeds.get(table) is sd:
            _seeds[table] = updated
    last_reason[table] = "incremental"
    if time.monotonic() - sd.persisted_at > PERSIST_S:
        persist(con, updated)
    return {"aggs": aggs, "by_rule": sd.by_rule, "forecast": sd.forecast, "seed": updated}


RESOLUTIONS_SQL = """
SELECT request_model, response_model, provider, coalesce(model_id, '') FROM price_resolution
WHERE version_id IN (SELECT version_id FROM price_versions WHERE sheet = ?)
"""
OLD_CALLS_NAMED_SQL = """
SELECT count(*) FROM calls c SEMI JOIN changed_names n
    ON coalesce(c.request_model, '') = n.r AND coalesce(c.response_model, '') = n.s AND coalesce(c.provider, '') = n.p
WHERE c.load_seq <= ?
"""


def resolutions(cur, sheet: str) -> frozenset:
    return frozenset(cur.execute(RESOLUTIONS_SQL, [sheet]).fetchall())


def _renamed_old_calls(cur, changed: set, seq: int) -> int:
    """Calls loaded up to `seq` whose model key is among `changed` (resolutions added or altered)."""
    names = pd.DataFrame([k[:3] for k in changed], columns=["r", "s", "p"])
    cur.register("changed_names", names)
    try:
        return int(cur.execute(OLD_CALLS_NAMED_SQL, [seq]).fetchall()[0][0])
    finally:
        cur.unregister("changed_names")


def _core(token: str | None) -> str | None:
    """The price token without its resolution count (sheet, versions, attribution rules)."""
    if token is None:
        return None
    head, _resolutions, rules = token.rsplit("|", 2)
    return f"{head}|{rules}"


def _price_token(cur, sheet: str) -> str:
    from llmledger.reads import spend_cache

    return cur.execute(spend_cache.PRICE_TOKEN_SQL, [spend_cache.SCHEMA, sheet, sheet, sheet]).fetchall()[0][0]


# ------------------------------------------------------------------ the alerts-owned copy

UPSERT_STATE_SQL = "INSERT OR REPLACE INTO alert_running_state VALUES (?, ?, now())"


def persist(con, sd: Seed, stored=None) -> None:
    """Copy the totals into `alert_running` (for a reviewer, `llmledger sql`, and to see what the
    evaluator counted); the evaluator itself reads the in-memory ones."""
    sd.persisted_at = time.monotonic()
    rows = []
    for rule_id, key in sd.by_rule.items():
        a = sd.aggs.get(key)
        if a is None:
            continue
        if a.each and a.members is not None and len(a.members):
            m = a.members
            rows.append(
                pd.DataFrame(
                    {
                        "rule_id": rule_id,
                        "window_start": a.lo,
                        "member": m.index.astype(str),
                        "usd": m["nano"].to_numpy() / NANO,
                        "tokens": m["tokens"].to_numpy(),
                        "calls": m["calls"].to_numpy(),
                        "unpriced": m["unpriced"].to_numpy(),
                    }
                )
            )
        elif not a.each:
            rows.append(
                pd.DataFrame(
                    {
                        "rule_id": [rule_id],
                        "window_start": [a.lo],
                        "member": [""],
                        "usd": [a.whole[0] / NANO],
                        "tokens": [int(a.whole[1])],
                        "calls": [int(a.whole[2])],
                        "unpriced": [int(a.whole[3])],
                    }
                )
            )
    frame = pd.concat(rows, ignore_index=True) if rows else None  # noqa: F841 - read by DuckDB
    cur = con.cursor()
    try:
        cur.execute("BEGIN")
        try:
            cur.execute("DELETE FROM alert_running")
            if frame is not None:
                cur.execute(
                    "INSERT INTO alert_running SELECT rule_id, window_start, member, usd, tokens, calls, unpriced FROM frame"
                )
            cur.execute(
                UPSERT_STATE_SQL,
                [
                    "watermark",
                    json.dumps({"load_seq": sd.seq, "calls": sd.count, "as_of": sd.as_of.isoformat()}),
                ],
            )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    finally:
        cur.close()


def reset() -> None:
    with _lock:
        _seeds.clear()
    last_reason.clear()
