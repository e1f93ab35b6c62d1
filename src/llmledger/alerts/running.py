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
#: A copy of at most this many rows is written at once; a larger one on a thread of its own.
SYNC_ROWS = 20_000
#: Columns of the priced calls an update reads (scope dimensions, time, money, tokens, basis).
ROW_COLUMNS = (
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
SELECT {cols}, epoch_us(start_time) AS ts, CAST(round(actual_cost_usd * 1000000000) AS BIGINT) AS nano,
       coalesce(input_tokens, 0) + coalesce(output_tokens, 0) AS tokens, cost_basis = 'unpriced' AS unpriced
FROM ({priced}) p
"""
MARKER_SQL = "SELECT count(*), max(start_time) FROM calls"
MAX_SEQ_SQL = "SELECT coalesce(max(load_seq), 0) FROM spans"
#: The traces loads after a watermark touched, with the first load of each (loader.m007: every
#: stored row of a trace carries that number or a later one).
TOUCHED_SQL = """
SELECT trace_id, min(first_seq) AS first FROM trace_seqs
WHERE trace_id IN (SELECT DISTINCT trace_id FROM spans WHERE load_seq > ?)
GROUP BY trace_id
"""
#: The traces first loaded after a horizon (kept whole in `recent`).
RECENT_TRACES_SQL = """
SELECT trace_id, min(first_seq) AS first FROM trace_seqs WHERE first_seq > ? GROUP BY trace_id HAVING min(first_seq) > ?
"""
#: Traces first loaded in the last RECENT_LOADS loads are kept whole (their priced rows as counted),
#: so a late span of one of them is handled without a full scan: its old rows are taken out of the
#: totals and its rows as they are now put in.
RECENT_LOADS = 6

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
    seq: int  # load watermark: every load up to this one is counted
    count: int
    as_of: datetime
    max_start: datetime | None
    aggs: dict[tuple, Agg]
    by_rule: dict[int, tuple]  # rule_id -> agg key
    forecast: dict[int, Any]  # rule_id -> (series, p_start, p_last) for budgets forecast in a check
    today_starts: dict[str, datetime]  # tz -> local midnight of as_of (forecast budgets' zones)
    names: frozenset = frozenset()  # price resolutions under the sheet at the seed
    recent: list = field(
        default_factory=list
    )  # priced rows (as counted) of every trace first loaded after `horizon`, in chunks
    horizon: int = 0
    persisted_at: float = 0.0  # time.monotonic() of the last copy into alert_running


_hashes: dict = {}


def rules_hash(stored) -> str:
    """A digest of the enabled budgets' definitions (memoised on the stored budgets' identities:
    load_all_cached hands out the same objects until a budget changes)."""
    key = (tuple(id(s) for s in stored),)
    hit = _hashes.get(key)
    if hit is not None:
        return hit
    body = json.dumps(
        [(s.rule_id, s.budget.to_dict()) for s in stored if s.budget.enabled], sort_keys=True, default=str
    )
    digest = hashlib.sha1(body.encode()).hexdigest()
    _hashes.clear()
    _hashes[key] = digest
    _keep.clear()
    _keep.append(stored)  # keeps the ids above from being reused while memoised
    return digest


_keep: list = []


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

    count, max_start = cur.execute(MARKER_SQL).fetchall()[0]
    memo = memo_token(cur, table)
    calls, last_loaded = cur.execute(spend_cache.DATA_TOKEN_SQL).fetchall()[0]
    if memo is None or memo[1] != calls or memo[2] != last_loaded or calls != count:
        return None
    seq = int(cur.execute(MAX_SEQ_SQL).fetchall()[0][0])
    sheet = cur.execute(f"SELECT sheet FROM {spend_cache.STATE} WHERE memo = ?", [table]).fetchall()[0][0]
    horizon = max(seq - RECENT_LOADS, 0)
    firsts = cur.execute(RECENT_TRACES_SQL, [horizon, horizon]).df()
    recent = _trace_rows(cur, sheet, firsts, horizon)
    return {
        "count": int(count),
        "seq": seq,
        "max_start": max_start,
        "token": memo[0],
        "names": resolutions(cur, sheet),
        "recent": recent,
        "horizon": horizon,
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
        marker["count"],
        as_of,
        marker["max_start"],
        aggs,
        by_rule,
        forecast,
        today_starts,
        marker["names"],
        [marker["recent"]],
        marker["horizon"],
    )
    with _lock:
        _seeds[table] = new
    persist_later(con, new)


def _fallback(table: str, why: str) -> None:
    last_reason[table] = why
    with _lock:
        _seeds.pop(table, None)


def _rows(cur, sheet: str, pred: str, params: list, trace: bool = False) -> pd.DataFrame:
    from llmledger.pricing.engine import priced_calls_sql

    priced, p = priced_calls_sql(sheet, calls_where=(pred, params))
    cols = ", ".join(("trace_id",) * trace + ROW_COLUMNS)
    df = cur.execute(ROWS_SQL.format(cols=cols, priced=priced), p).df()
    for col in ("ts", "nano", "tokens", "unpriced"):
        df[col] = pd.to_numeric(df[col]).fillna(0).astype(np.int64)
    for col in ROW_COLUMNS:  # categories: scope tests and member grouping compare small integer codes
        df[col] = df[col].astype("category")
    return df


def _us(t: datetime) -> int:
    """A datetime as integer microseconds since the epoch (DuckDB's TIMESTAMPTZ resolution)."""
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def _dt(us: int) -> datetime:
    from datetime import UTC, timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def _trace_rows(cur, sheet: str, firsts: pd.DataFrame, since: int) -> pd.DataFrame:
    """The priced rows of the traces in `firsts` (trace_id, first), every one of whose rows was
    loaded after `since`, with each trace's first load as column `first`."""
    if not len(firsts):
        return _rows(cur, sheet, "FALSE", [], trace=True).assign(first=pd.Series(dtype=np.int64))
    cur.register("wanted_traces", firsts[["trace_id"]])
    try:
        rows = _rows(
            cur, sheet, "c.load_seq > ? AND c.trace_id IN (SELECT trace_id FROM wanted_traces)", [since], trace=True
        )
    finally:
        cur.unregister("wanted_traces")
    return rows.merge(firsts, on="trace_id", how="left")


def _take_out(chunks: list, traces: set) -> tuple[list, pd.DataFrame]:
    """(the chunks without the rows of `traces`, those rows)."""
    if not traces:
        return chunks, chunks[0].iloc[:0] if chunks else pd.DataFrame(columns=["ts", "nano", "tokens", "unpriced"])
    kept, out = [], []
    for c in chunks:
        hit = c["trace_id"].isin(traces).to_numpy()
        if hit.any():
            out.append(c[hit])
            c = c[~hit]
        if len(c):
            kept.append(c)
    empty = chunks[0].iloc[:0] if chunks else None
    return kept, pd.concat(out, ignore_index=True) if out else empty


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
        req, resp = df["request_model"].astype(object), df["response_model"].astype(object)
        return req.where(req.notna(), resp)
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


_codes: dict = {}


def _by_member(df: pd.DataFrame, m: np.ndarray, each: str) -> pd.DataFrame:
    """Per member (value of `each`; calls without one belong to none) of the rows in mask `m`."""
    key = (id(df), each)
    if key not in _codes:
        codes, uniques = pd.factorize(_member_col(df, each))
        _codes[key] = (df, codes, np.asarray(uniques, dtype=object))
    _, codes, uniques = _codes[key]
    m = m & (codes >= 0)
    if not m.any():
        return frame(None)
    c = codes[m]
    n = len(uniques)
    out = {
        "nano": np.bincount(c, weights=df["nano"].to_numpy()[m], minlength=n),
        "tokens": np.bincount(c, weights=df["tokens"].to_numpy()[m], minlength=n),
        "calls": np.bincount(c, minlength=n).astype(float),
        "unpriced": np.bincount(c, weights=df["unpriced"].to_numpy()[m], minlength=n),
    }
    used = out["calls"] > 0
    return pd.DataFrame(
        {k: np.round(v[used]).astype(np.int64) for k, v in out.items()},
        index=pd.Index(uniques[used].astype(str), name="member"),
    )


def advance(con, table: str, sheet: str, stored, as_of: datetime) -> dict[str, Any] | None:
    """The seeded totals brought to `as_of` and the loads since the seed, or None (fall back to a
    full evaluation; `last_reason[table]` says why). Returns {"aggs", "by_rule", "forecast"}.

    For every aggregate: A1 = A0 - (old rows of the touched traces, as counted, in [lo0, as_of0))
    + (rows of the touched traces now, in [lo1, as_of1)) - (other counted rows in [lo0, lo1),
    the slice a rolling window left behind)."""
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
    hour = as_of.replace(minute=0, second=0, microsecond=0)
    for tz, start in sd.today_starts.items():
        if periods.day_start(as_of, tz) != start or hour != sd.as_of.replace(minute=0, second=0, microsecond=0):
            return _fallback(table, "a forecast's hour or day moved")
    cur = con.cursor()
    try:
        cur.execute("BEGIN")
        try:
            seq = int(cur.execute(MAX_SEQ_SQL).fetchall()[0][0])
            count = int(cur.execute("SELECT count(*) FROM calls").fetchall()[0][0])
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
            touched = cur.execute(TOUCHED_SQL, [sd.seq]).df() if seq > sd.seq else None
            recent = sd.recent
            old = now_rows = None
            if touched is not None and len(touched):
                retouched = touched[touched["first"] <= sd.seq]
                if len(retouched) and int(retouched["first"].min()) <= sd.horizon:
                    return _fallback(table, "a load touched a trace older than the recent loads kept")
                now_rows = _trace_rows(cur, sheet, touched, int(touched["first"].min()) - 1)
                recent, old = _take_out(recent, set(retouched["trace_id"]))
                if count != sd.count + len(now_rows) - len(old):
                    return _fallback(table, "calls changed without a load")
                recent = [*recent, now_rows]
            elif count != sd.count:
                return _fallback(table, "calls changed without a load")
            max_start = sd.max_start
            if now_rows is not None and len(now_rows):
                latest = _dt(now_rows["ts"].max())
                max_start = latest if max_start is None else max(max_start, latest)
            if max_start is not None and max_start >= as_of:
                return _fallback(table, "a call starts at or after the moment evaluated")
            if sd.today_starts and now_rows is not None:
                first_today = _us(min(sd.today_starts.values()))
                if (now_rows["ts"].to_numpy() < first_today).any() or (old["ts"].to_numpy() < first_today).any():
                    return _fallback(table, "a load changed a forecast's daily history")
            slices = {k: (a.lo, _lo(a, as_of)) for k, a in sd.aggs.items() if k[4] is None and _lo(a, as_of) > a.lo}
            gone = None
            if slices:
                ranges = list(slices.values())
                pred = " OR ".join("(c.start_time >= ? AND c.start_time < ?)" for _ in ranges)
                params = [sd.seq, *[x for r in ranges for x in r]]
                not_touched = ""
                if touched is not None and len(touched):
                    cur.register("touched_traces", touched[["trace_id"]])
                    not_touched = " AND c.trace_id NOT IN (SELECT trace_id FROM touched_traces)"
                try:
                    gone = _rows(cur, sheet, f"c.load_seq <= ? AND ({pred}){not_touched}", params)
                finally:
                    if not_touched:
                        cur.unregister("touched_traces")
        finally:
            cur.execute("COMMIT")
    finally:
        cur.close()
    horizon = max(seq - RECENT_LOADS, sd.horizon)
    if horizon > sd.horizon:
        recent = [c if c["first"].min() > horizon else c[c["first"].to_numpy() > horizon] for c in recent]
        recent = [c for c in recent if len(c)]
    aggs = {}
    _codes.clear()
    masks: dict[tuple, tuple] = {}
    for key, a in sd.aggs.items():
        lo1 = _lo(a, as_of)
        b = Agg(a.scope, a.each, a.period, a.tz, lo1, a.whole.copy(), a.members)
        if a.scope not in masks:
            masks[a.scope] = tuple(
                None if df is None or not len(df) else _mask(df, a.scope) for df in (old, now_rows, gone)
            )
        m_old, m_now, m_gone = masks[a.scope]
        parts = []
        lo0_us, lo1_us = _us(a.lo), _us(lo1)
        if m_old is not None:
            t = old["ts"].to_numpy()
            parts.append((old, m_old & (t >= lo0_us) & (t < _us(sd.as_of)), -1))
        if m_now is not None:
            t = now_rows["ts"].to_numpy()
            parts.append((now_rows, m_now & (t >= lo1_us) & (t < _us(as_of)), 1))
        if m_gone is not None and key in slices:
            t = gone["ts"].to_numpy()
            parts.append((gone, m_gone & (t >= lo0_us) & (t < lo1_us), -1))
        for df, m, sign in parts:
            if not m.any():
                continue
            if a.each:
                d = _by_member(df, m, a.each)
                d = d if sign > 0 else -d
                cur_m = frame(b.members)
                b.members = cur_m.add(d, fill_value=0).astype(np.int64) if len(cur_m) else d
                b.members = b.members[b.members["calls"] != 0]
            else:
                b.whole = b.whole + sign * _sums(df, m)
        aggs[key] = b
    _codes.clear()
    updated = Seed(
        token,
        sd.rules,
        seq,
        count,
        as_of,
        max_start,
        aggs,
        sd.by_rule,
        sd.forecast,
        sd.today_starts,
        names,
        recent,
        horizon,
        sd.persisted_at,
    )
    with _lock:
        if _seeds.get(table) is sd:
            _seeds[table] = updated
    last_reason[table] = "incremental"
    if time.monotonic() - sd.persisted_at > PERSIST_S:
        persist_later(con, updated)
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


_persisting = threading.Lock()


def persist_later(con, sd: Seed) -> None:
    """persist() on a daemon thread (a check after a load does not wait for the copy); skipped
    while the previous copy is still being written."""
    if not _persisting.acquire(blocking=False):
        return
    sd.persisted_at = time.monotonic()
    rows = sum(
        len(a.members) if a.each and a.members is not None else 1
        for a in (sd.aggs.get(k) for k in sd.by_rule.values())
        if a is not None
    )
    if rows <= SYNC_ROWS:  # small: written now (nothing left running when the ledger closes)
        try:
            persist(con, sd)
        finally:
            _persisting.release()
        return

    def run() -> None:
        try:
            persist(con, sd)
        except Exception:  # noqa: BLE001 - the copy is for reading; the next one retries
            pass
        finally:
            _persisting.release()

    threading.Thread(target=run, name="llmledger-running-totals", daemon=True).start()


def flush(timeout: float = 60.0) -> bool:
    """Wait until no copy into `alert_running` is being written (tests, shutdown)."""
    if _persisting.acquire(timeout=timeout):
        _persisting.release()
        return True
    return False


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
