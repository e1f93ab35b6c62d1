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
from llmledger.alerts.running_rows import (
    NANO,
    _by_member,
    _dt,
    _mask,
    _rows,
    _take_out,
    _trace_rows,
    _us,
    add_members,
    clear_caches,
    frame,
)
from llmledger.alerts.running_store import PERSIST_S, flush, persist, persist_later

__all__ = ["NANO", "PERSIST_S", "advance", "flush", "frame", "persist", "reset", "seed", "snapshot_marker"]

MARKER_SQL = "SELECT count(*), max(start_time) FROM calls"
MAX_SEQ_SQL = "SELECT coalesce(max(load_seq), 0) FROM spans"
#: The traces loads after a watermark touched, with the first load of each when it is after the
#: watermark (loader.m007: every stored row of a trace carries that number or a later one; rows of
#: `trace_seqs` are appended in load order, so its zone maps skip the older ones). A NULL first: the
#: trace had rows before (a late span); `recent` knows its first load, or it is too old to handle.
TOUCHED_SQL = """
WITH loaded AS (SELECT DISTINCT trace_id FROM spans WHERE load_seq > ?),
fresh AS (SELECT trace_id, min(first_seq) AS first FROM trace_seqs WHERE first_seq > ? GROUP BY trace_id)
SELECT l.trace_id, f.first FROM loaded l LEFT JOIN fresh f USING (trace_id)
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
#: Wall and CPU seconds of the stages of the last incremental `advance` (benchmarks).
last_timing: dict[str, dict] = {}


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
            # Members as a plain object index: member_figures takes a few of them on every check.
            a.members = got.set_axis(pd.Index(got.index.to_numpy(dtype=object), dtype=object, name="member"))
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


FIRSTS_SQL = (
    "SELECT trace_id, min(first_seq) FROM trace_seqs WHERE first_seq > ? AND trace_id IN (SELECT unnest(?)) GROUP BY 1"
)


def _firsts(cur, chunks: list, traces: set, horizon: int) -> dict:
    """trace_id -> first load of the `traces` first loaded after `horizon` (from the kept recent
    rows, else from `trace_seqs` past the horizon: its zone maps skip the older rows)."""
    out: dict = {}
    for c in chunks:
        hit = c["trace_id"].isin(traces).to_numpy()
        if hit.any():
            for t, f in zip(c["trace_id"].to_numpy()[hit], c["first"].to_numpy()[hit]):
                out[t] = min(int(f), out.get(t, int(f)))
    missing = [t for t in traces if t not in out]
    if missing:
        out.update({t: int(f) for t, f in cur.execute(FIRSTS_SQL, [horizon, missing]).fetchall()})
    return out


class _Frame:
    """Rows of one kind in an update (old rows taken out, new rows, the slice left behind), sorted
    by start time once: a whole-scope total over a time range is then a difference of cumulative
    sums over the scope's rows, found by binary search instead of a mask per aggregate."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        self.ts_raw = df["ts"].to_numpy()
        self.order = np.argsort(self.ts_raw, kind="stable")
        self.ts = self.ts_raw[self.order]
        n = len(df)
        self.vals = np.empty((4, n), dtype=np.int64)  # nano, tokens, calls, unpriced in ts order
        self.vals[0] = df["nano"].to_numpy()[self.order]
        self.vals[1] = df["tokens"].to_numpy()[self.order]
        self.vals[2] = 1
        self.vals[3] = df["unpriced"].to_numpy()[self.order]
        self.cum: dict[tuple, tuple] = {}  # scope -> (its rows' ts, cumulative sums)

    def in_range(self, m: np.ndarray, lo: int, hi: int) -> np.ndarray:
        t = self.ts_raw
        return m & (t >= lo) & (t < hi)

    def sums(self, scope: tuple, m: np.ndarray, lo: int, hi: int) -> np.ndarray | None:
        """[nano, tokens, calls, unpriced] of the rows in mask `m` with lo <= ts < hi (None: none)."""
        got = self.cum.get(scope)
        if got is None:
            keep = np.flatnonzero(m[self.order])  # the scope's rows, still in ts order
            c = np.zeros((4, len(keep) + 1), dtype=np.int64)
            np.cumsum(self.vals[:, keep], axis=1, out=c[:, 1:])
            got = self.cum[scope] = (self.ts[keep], c)
        ts, c = got
        i, j = np.searchsorted(ts, (lo, hi), side="left").tolist()
        if j <= i:
            return None
        return c[:, j] - c[:, i]


def _fallback(table: str, why: str) -> None:
    last_reason[table] = why
    with _lock:
        _seeds.pop(table, None)


def advance(con, table: str, sheet: str, stored, as_of: datetime) -> dict[str, Any] | None:
    """The seeded totals brought to `as_of` and the loads since the seed, or None (fall back to a
    full evaluation; `last_reason[table]` says why). Returns {"aggs", "by_rule", "forecast"}.

    For every aggregate: A1 = A0 - (old rows of the touched traces, as counted, in [lo0, as_of0))
    + (rows of the touched traces now, in [lo1, as_of1)) - (other counted rows in [lo0, lo1),
    the slice a rolling window left behind)."""
    marks = [("start", time.perf_counter(), time.process_time())]
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
            marks.append(("watermark", time.perf_counter(), time.process_time()))
            if _core(token) != _core(sd.token):
                return _fallback(table, "prices or attribution rules changed")
            names = sd.names
            if token != sd.token:
                # Loads resolved new model names: only calls loaded before that use them could be repriced.
                names = resolutions(cur, sheet)
                changed = set(names - sd.names)
                if len(names) < len(sd.names) or (changed and _renamed_old_calls(cur, changed, sd.seq)):
                    return _fallback(table, "a model name resolved since was used by earlier calls")
            touched = cur.execute(TOUCHED_SQL, [sd.seq, sd.seq]).df() if seq > sd.seq else None
            marks.append(("touched", time.perf_counter(), time.process_time()))
            recent = sd.recent
            retouched: set = set()
            if touched is not None and len(touched):
                known = touched["first"].notna().to_numpy()
                if not known.all():  # traces that had rows before the watermark (late spans)
                    retouched = set(touched["trace_id"].to_numpy()[~known])
                    firsts = _firsts(cur, recent, retouched, sd.horizon)
                    if len(firsts) < len(retouched):
                        return _fallback(table, "a load touched a trace older than the recent loads kept")
                    touched["first"] = touched["first"].fillna(touched["trace_id"].map(firsts))
                touched["first"] = touched["first"].astype(np.int64)
            old = now_rows = gone = None
            if touched is not None and len(touched):
                if retouched:  # every row of those traces loaded since their first load
                    now_rows = _trace_rows(cur, sheet, touched, int(touched["first"].min()) - 1)
                else:  # every touched trace is new: its rows are exactly those loaded since
                    now_rows = _rows(cur, sheet, "c.load_seq > ?", [sd.seq], trace=True)
                    now_rows = now_rows.merge(touched, on="trace_id", how="left")
                marks.append(("new rows", time.perf_counter(), time.process_time()))
            # The older rows rolling windows left behind since the last check: counted first (zone
            # maps on start_time make that cheap), priced only when there are any.
            slices = {k: (a.lo, _lo(a, as_of)) for k, a in sd.aggs.items() if k[4] is None and _lo(a, as_of) > a.lo}
            if slices:
                ranges = list(slices.values())
                pred = " OR ".join("(c.start_time >= ? AND c.start_time < ?)" for _ in ranges)
                params = [sd.seq, *[x for r in ranges for x in r]]
                not_touched = ""
                if retouched:
                    cur.register("touched_traces", touched[["trace_id"]])
                    not_touched = " AND c.trace_id NOT IN (SELECT trace_id FROM touched_traces)"
                try:
                    where = f"c.load_seq <= ? AND ({pred}){not_touched}"
                    if cur.execute(f"SELECT count(*) FROM calls c WHERE {where}", params).fetchall()[0][0]:
                        gone = _rows(cur, sheet, where, params)
                finally:
                    if not_touched:
                        cur.unregister("touched_traces")
            if now_rows is not None:
                recent, old = _take_out(recent, retouched)
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
        finally:
            cur.execute("COMMIT")
    finally:
        cur.close()
    marks.append(("window slices", time.perf_counter(), time.process_time()))
    horizon = max(seq - RECENT_LOADS, sd.horizon)
    if horizon > sd.horizon:
        recent = [c if c["first"].min() > horizon else c[c["first"].to_numpy() > horizon] for c in recent]
        recent = [c for c in recent if len(c)]
    aggs = {}
    clear_caches()
    masks: dict[tuple, tuple] = {}
    frames = [None if df is None or not len(df) else _Frame(df) for df in (old, now_rows, gone)]
    as0_us, as1_us = _us(sd.as_of), _us(as_of)
    for key, a in sd.aggs.items():
        lo1 = _lo(a, as_of)
        b = Agg(a.scope, a.each, a.period, a.tz, lo1, a.whole.copy(), a.members)
        if a.scope not in masks:
            masks[a.scope] = tuple(None if f is None else _mask(f.df, a.scope) for f in frames)
        lo0_us, lo1_us = _us(a.lo), _us(lo1)
        ranges = ((lo0_us, as0_us, -1), (lo1_us, as1_us, 1), (lo0_us, lo1_us, -1) if key in slices else None)
        for f, m, r in zip(frames, masks[a.scope], ranges):
            if f is None or r is None:
                continue
            lo, hi, sign = r
            if a.each:
                mm = f.in_range(m, lo, hi)
                if not mm.any():
                    continue
                d = _by_member(f.df, mm, a.each)
                if len(d):
                    b.members = add_members(b.members, d, sign)
            else:
                got = f.sums(a.scope, m, lo, hi)
                if got is not None:
                    b.whole = b.whole + sign * got
        aggs[key] = b
    clear_caches()
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
    marks.append(("totals", time.perf_counter(), time.process_time()))
    last_timing[table] = {
        name: {"s": round(t - marks[i][1], 4), "cpu_s": round(c - marks[i][2], 4)}
        for i, (name, t, c) in enumerate(marks[1:])
    }
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


def reset() -> None:
    with _lock:
        _seeds.clear()
    last_reason.clear()
