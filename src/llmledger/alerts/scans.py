"""The grouped scans of a full evaluation: every whole-scope budget's total in its window and every
member's total for "each" budgets, few queries for all budgets (reads.py), each scan split at a cut
an hour back so that the part before it is reused between checks while nothing older changed.

`member_figures` turns an "each" budget's member totals into Figures (the linear run rate as the
members' forecast); running.py hands it the running totals after loads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from llmledger.alerts import forecast as fc
from llmledger.alerts import periods, reads, running
from llmledger.alerts.figures import TOP_MEMBERS, BudgetStatus, Figures


def distinct_scopes(statuses: list[BudgetStatus]) -> list:
    return list(dict.fromkeys(s.budget.scope for s in statuses))


def _boundaries(statuses: list[BudgetStatus]) -> list[datetime]:
    return sorted({s.window.start for s in statuses})


def whole_totals(cur, table: str, statuses: list[BudgetStatus], as_of: datetime) -> None:
    """Every whole-scope budget's total in its window: one scan for the calendar budgets (split at
    a cut, see _split_scan) and one for the rolling ones (their windows move with the clock)."""
    _whole_group(cur, table, [s for s in statuses if not s.window.rolling], as_of, True)
    _whole_group(cur, table, [s for s in statuses if s.window.rolling], as_of, False)


def _whole_group(cur, table: str, statuses: list[BudgetStatus], as_of: datetime, cacheable: bool) -> None:
    if not statuses:
        return
    scopes = distinct_scopes(statuses)
    bounds = _boundaries(statuses)
    df = _split_scan(
        cur,
        table,
        ("whole", tuple(bounds), tuple(scopes)) if cacheable else None,
        bounds[0],
        as_of,
        lambda a, b: reads.segment_totals(cur, table, [a, *[x for x in bounds if a < x < b]], b, scopes).assign(
            k=lambda d: d["k"] + sum(1 for x in bounds if x <= a) - 1
        ),
        lambda parts: pd.concat(parts, ignore_index=True).groupby("k", as_index=False).sum(numeric_only=True),
    )
    # Totals from segment k on = suffix sums over the segments (rows sorted by k; absent ones are 0).
    n = len(bounds)
    k = df["k"].to_numpy(dtype=np.int64) if len(df) else np.zeros(0, dtype=np.int64)

    def suffix(col: str) -> np.ndarray:
        per = np.zeros(n + 1)
        if len(df):
            np.add.at(per, k, pd.to_numeric(df[col], errors="coerce").fillna(0).to_numpy(dtype=float))
        return np.cumsum(per[::-1])[::-1]

    cache: dict[str, np.ndarray] = {}
    for s in statuses:
        i = scopes.index(s.budget.scope)
        first = bounds.index(s.window.start)
        col = f"usd_{i}" if s.budget.unit == "usd" else f"tokens_{i}"
        for c in (f"usd_{i}", f"tokens_{i}", f"calls_{i}", f"unpriced_{i}"):
            if c not in cache:
                cache[c] = suffix(c)
        # Exact integers (nano-dollars, tokens) for the running totals of later checks.
        s._nano = int(round(float(cache[f"usd_{i}"][first]) * running.NANO))  # suffix() fills NULL sums with 0
        s._tokens = int(round(float(cache[f"tokens_{i}"][first])))
        s.whole = Figures(
            "",
            round(float(cache[col][first]), 9),
            int(round(cache[f"calls_{i}"][first])),
            int(round(cache[f"unpriced_{i}"][first])),
            float(s.budget.amount),
        )


# Complete local days before today hardly change after they end (late spans, a re-attribution),
# so a forecast's history is kept per time zone, scopes, sheet and local day for an hour; only
# today is read on every check.
def each_totals(cur, table: str, statuses: list[BudgetStatus], as_of: datetime) -> None:
    """Members of "each" budgets: one scan per dimension, grouped by member and time segment.
    A member's forecast is the linear run rate; only members near a threshold and the top ones
    become Figures (a budget may have thousands of members)."""
    by_dim: dict[str, list[BudgetStatus]] = {}
    for s in statuses:
        by_dim.setdefault((s.budget.each, s.window.rolling), []).append(s)
    for (each, rolling), group in by_dim.items():
        scopes = distinct_scopes(group)
        bounds = _boundaries(group)
        wanted = [(scopes.index(s.budget.scope), bounds.index(s.window.start)) for s in group]
        key = None if rolling else ("each", each, tuple(bounds), tuple(scopes), tuple(wanted))
        df = _split_scan(
            cur,
            table,
            key,
            bounds[0],
            as_of,
            lambda a, b: _members_between(cur, table, bounds, a, b, each, scopes, wanted),
            lambda parts: (
                pd.concat(parts, ignore_index=True)
                .groupby(["b", "member"], as_index=False)
                .sum(numeric_only=True)
                .sort_values("b", kind="stable", ignore_index=True)
            ),
        )
        b_col = df["b"].to_numpy()
        cuts = np.searchsorted(b_col, np.arange(len(group) + 1))
        all_members = df["member"].to_numpy()
        for bi, s in enumerate(group):
            lo, hi = cuts[bi], cuts[bi + 1]
            part = df.iloc[lo:hi]
            totals = pd.DataFrame(
                {
                    "nano": np.round(np.nan_to_num(part["usd"].to_numpy(dtype=float)) * running.NANO).astype(np.int64),
                    "tokens": np.round(np.nan_to_num(part["tokens"].to_numpy(dtype=float))).astype(np.int64),
                    "calls": part["calls"].to_numpy().astype(np.int64),
                    "unpriced": part["unpriced"].to_numpy().astype(np.int64),
                },
                index=pd.Index(all_members[lo:hi].astype(str), name="member"),
            )
            s._member_totals = totals  # exact, for the running totals of later checks
            member_figures(s, totals, as_of)


def member_figures(s: BudgetStatus, totals: pd.DataFrame, as_of: datetime) -> None:
    """An "each" budget's Figures from every member's totals (index member; nano, tokens, calls,
    unpriced): the linear run rate as forecast; only members near a threshold and the top ones
    become Figures (a budget may have thousands of members)."""
    nano, tokens, calls, unpriced = _columns(totals)
    if s.budget.unit == "usd":
        spent = np.round(nano.astype(float) / running.NANO, 9)
    else:
        spent = tokens.astype(float)
    amount = float(s.budget.amount)
    upto = min(s.window.end, as_of)
    elapsed = max((upto - s.window.start).total_seconds() / 86400, 1e-9)
    rate = spent / elapsed
    window_days = s.window.days
    p50 = None if s.window.rolling else rate * window_days
    score = np.maximum(spent, p50 if p50 is not None else 0) / amount
    lowest = min(t.pct for t in s.budget.thresholds) / 100
    keep = _keep(score, lowest - 1e-9)
    members = totals.index.to_numpy()[keep] if len(keep) else []
    rows = [
        Figures(str(m), sp, c, u, amount)
        for m, sp, c, u in zip(
            members,
            spent[keep].tolist(),
            calls[keep].astype(np.int64, copy=False).tolist(),
            unpriced[keep].astype(np.int64, copy=False).tolist(),
        )
    ]
    if p50 is not None and rows:
        for f, v in zip(rows, p50[keep].tolist()):
            f.p50, f.method = v, fc.METHOD_RUN_RATE
        r = rate[keep]
        with np.errstate(divide="ignore"):
            days = np.where(r > 0, amount / np.where(r > 0, r, 1.0), np.inf)
        for i in np.flatnonzero((spent[keep] < amount) & (days < window_days)).tolist():
            d = amount / r[i]  # the same float as above, as the scalar expression gives it
            rows[i].runs_out = periods.local_date(s.window.start + timedelta(days=d), s.budget.tz)
    s.member_count = len(totals)
    s._all_members = rows  # every member near a threshold, for a check
    s.members = rows[:TOP_MEMBERS]


_COLUMNS = ["nano", "tokens", "calls", "unpriced"]


def _columns(totals: pd.DataFrame) -> tuple:
    """(nano, tokens, calls, unpriced) arrays of member totals: one conversion of the frame when
    its columns are those four integers (the running totals), else one column at a time."""
    if totals.columns.tolist() == _COLUMNS:
        v = totals.to_numpy()
        if v.dtype == np.int64:
            return v[:, 0], v[:, 1], v[:, 2], v[:, 3]
    return tuple(totals[c].to_numpy() for c in _COLUMNS)


def _keep(score: np.ndarray, lowest: float) -> np.ndarray:
    """Positions of the members kept, closest to their limit first (ties in position order): every
    one with a score of at least `lowest`, or the first TOP_MEMBERS when fewer are. What
    `order = argsort(-score, stable); near = order[score[order] >= lowest]; near if len(near) >=
    TOP_MEMBERS else order[:TOP_MEMBERS]` gives, without sorting every member."""
    near = np.flatnonzero(score >= lowest)
    if len(near) >= TOP_MEMBERS:
        return near[np.argsort(-score[near], kind="stable")]
    n = len(score)
    if n > 4 * TOP_MEMBERS and not np.isnan(score).any():
        neg = -score
        v = np.partition(neg, TOP_MEMBERS - 1)[TOP_MEMBERS - 1]  # the TOP_MEMBERS-th smallest
        cand = np.flatnonzero(neg <= v)  # every member that can be among the first, ties included
        return cand[np.argsort(neg[cand], kind="stable")][:TOP_MEMBERS]
    return np.argsort(-score, kind="stable")[:TOP_MEMBERS]


#: Members of an "each" budget (the closest to their limit) given the seasonal model on the page,
#: in `budgets status` and /metrics; the others, and every member in a check, keep the run rate.
def _members_between(cur, table, bounds, a, b, each, scopes, wanted) -> pd.DataFrame:
    """member_totals of the calls in [a, b): segments renumbered from a, budgets' first segments too."""
    inner = [a, *[x for x in bounds if a < x < b]]
    shift = sum(1 for x in bounds if x <= a) - 1
    w = [(i, max(first - shift, 0)) for i, first in wanted]  # a window begun before `a` takes all of it
    return reads.member_totals(cur, table, inner, b, each, scopes, w)


# Incremental scans. Calls are appended as they load and the priced-calls memo re-reads only the
# traces a load touched, from their earliest start on. So each scan is split at a cut (an hour
# before the moment evaluated): the part before the cut is kept and only the part after it is read
# again on each check, unless something older changed: a load touching a trace that started before
# the cut, calls changed or removed without a load, the memo rebuilt (sheet, prices, attribution
# rules), or the cut falling more than CUT_MAX behind.
CUT_BACK = timedelta(hours=1)
CUT_MAX = timedelta(hours=6)
_scans: OrderedDict = OrderedDict()
#: Per status() call (keyed by its cursor): the calls marker, memo token and "since" answers, read once.
_ctx: dict[int, dict] = {}
_scans_lock = threading.Lock()
MARKER_SQL = "SELECT count(*), coalesce(max(load_seq), 0) FROM calls"
SINCE_SQL = """
WITH t AS (SELECT DISTINCT trace_id FROM calls WHERE load_seq > ?)
SELECT min(start_time) FROM calls WHERE trace_id IN (SELECT trace_id FROM t)
"""


def _memo_token(cur, table: str):
    from llmledger.reads import spend_cache

    row = cur.execute(
        f"SELECT price_token, action, built_at FROM {spend_cache.STATE} WHERE memo = ?", [table]
    ).fetchone()
    return row


def _split_scan(cur, table: str, key: tuple | None, start: datetime, as_of: datetime, run, combine) -> pd.DataFrame:
    """run(start, as_of), the part before the cut reused from the last check when still valid
    (key None: not cacheable, one plain run)."""
    if key is None:
        return run(start, as_of)
    ctx = _ctx.setdefault(id(cur), {})
    if "marker" not in ctx:
        ctx["marker"] = cur.execute(MARKER_SQL).fetchone()
        ctx["token"] = _memo_token(cur, table)
    count, seq = ctx["marker"]
    token = ctx["token"]
    full_key = (table, *key)
    with _scans_lock:
        state = _scans.get(full_key)
    ok = (
        state is not None
        and state["token"] is not None
        and token is not None
        and state["token"][0] == token[0]
        and not (token[1] == "rebuild" and token[2] != state["token"][2])
        and state["cut"] <= as_of <= state["cut"] + CUT_MAX
    )
    if ok and (count, seq) != (state["count"], state["seq"]):
        if seq == state["seq"]:
            ok = False  # calls changed without a load
        else:
            if ("since", state["seq"]) not in ctx:
                ctx[("since", state["seq"])] = cur.execute(SINCE_SQL, [state["seq"]]).fetchone()[0]
            since = ctx[("since", state["seq"])]
            ok = since is None or since >= state["cut"]
    if not ok:
        cut = max(start, as_of.replace(minute=0, second=0, microsecond=0) - CUT_BACK)
        before = run(start, cut) if cut > start else None
        state = {"cut": cut, "before": before, "token": token}
    state.update(count=count, seq=seq, token=token)
    with _scans_lock:
        _scans[full_key] = state
        _scans.move_to_end(full_key)
        while len(_scans) > 32:
            _scans.popitem(last=False)
    after = run(state["cut"], max(as_of, state["cut"]))  # an empty range still gives the columns
    parts = [p for p in (state["before"], after) if p is not None and len(p)]
    if not parts:
        return after
    return combine(parts) if len(parts) > 1 else parts[0]
