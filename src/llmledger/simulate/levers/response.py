"""Response caching and agent-call caching: calls answered from a cache instead of the model.

Response cache. A call's key is (model, its messages, its request parameters). Exact: the
messages as sent (their text, or the digest the ledger kept under the `hash` content policy).
Normalised: case folded and runs of whitespace collapsed first (needs the text). A miss writes
an entry that lives `ttl` seconds from that write; a call with the same key inside that time is a
hit and costs nothing. Entries are not refreshed by hits (a fixed TTL from the write, as Redis
EXPIRE or most API gateways' caches do), so a key seen every minute for an hour under a 10-minute
TTL misses 6 times.

The simulation is vectorised: calls sorted by (key, time); each call's "next miss" is the first
call of its key more than `ttl` after it (one searchsorted over key·BIG + time); the misses are
the calls reachable from the first call by following next-miss links, found by pointer doubling
in O(n log n) array operations rather than a Python loop over calls.

Agent-call cache. Inside one trace (or session), a call identical to an earlier one of the same
scope (same model, messages and parameters) could reuse its answer: an agent loop re-asking the
same question, or re-running the same tool. No TTL: the scope bounds it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.levers.core import LeverResult, by_feature_model, check_calls, epoch_ms, positive_number

MODES = ("exact", "normalised")
_WS = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Case folded, whitespace runs collapsed to one space, ends stripped."""
    return _WS.sub(" ", text.casefold()).strip()


def call_keys(df: pd.DataFrame, mode: str = "exact") -> tuple[np.ndarray, np.ndarray]:
    """(key codes, usable mask): an integer per distinct (model, messages, params) and whether
    the call carries anything to key on (text, or a digest in exact mode)."""
    if mode not in MODES:
        raise SimulationError(f"cache mode must be one of {', '.join(MODES)} (got {mode!r})")
    n = len(df)
    # factorize the Series itself: Arrow-backed strings hash in Arrow, not as Python objects
    if "input_text" in df.columns:
        codes, uniq = pd.factorize(df["input_text"], use_na_sentinel=True)
    else:
        codes, uniq = np.full(n, -1, dtype=np.int64), []
    if mode == "normalised" and len(uniq):
        # normalise each distinct text once, then re-code: repeats make this cheap
        norm = np.array([normalise_text(str(t)) for t in uniq], dtype=object)
        ncodes, _ = pd.factorize(norm)
        codes = np.where(codes >= 0, ncodes[np.maximum(codes, 0)], -1)
    msg = codes.astype(np.int64)
    if mode == "exact" and "input_hash" in df.columns:
        need = np.flatnonzero(msg < 0)  # a digest stands in only where the text is missing
        if need.size:
            dcodes, _ = pd.factorize(df["input_hash"].to_numpy()[need], use_na_sentinel=True)
            msg[need] = np.where(dcodes >= 0, len(uniq) + dcodes, -1)  # digests after the texts' codes
    usable = msg >= 0
    # (model, messages, params) as one integer
    mcode = pd.factorize(df["model"])[0].astype(np.int64)
    n_msg = int(msg.max()) + 2 if n else 1
    combined = mcode * n_msg + (msg + 1)
    if "params" in df.columns:
        pcode = pd.factorize(df["params"].fillna("").astype(str))[0]
        combined = combined * (int(pcode.max()) + 1 if n else 1) + pcode
    # renumbered densely only when sparse (ttl_hits packs key, time and index in 63 bits)
    keycodes = pd.factorize(combined)[0] if n and int(combined.max()) >= 4 * n else combined
    return keycodes, usable


def ttl_hits(keys: np.ndarray, t_ms: np.ndarray, ttl_ms: int) -> np.ndarray:
    """Boolean hits for calls with integer `keys` at integer times `t_ms`, under a cache whose
    entries live `ttl_ms` from the miss that wrote them (inclusive)."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=bool)
    ttl = int(ttl_ms)
    kc = np.asarray(keys, dtype=np.int64)
    kc = kc - kc.min()
    t0 = np.asarray(t_ms, dtype=np.int64)
    t0 = t0 - t0.min()
    order = None
    # Sorting one int64 (key, time, call index packed) is ~10x faster than np.lexsort or a
    # stable argsort; times go to the second when milliseconds do not fit (ttl likewise).
    kbits, ibits = max(int(kc.max()).bit_length(), 1), max(int(n - 1).bit_length(), 1)
    for scale in (1, 1000):
        tb = max(int(t0.max() // scale).bit_length(), 1)
        if kbits + tb + ibits <= 63:
            packed = np.sort((kc << (tb + ibits)) | ((t0 // scale) << ibits) | np.arange(n, dtype=np.int64))
            order = packed & ((1 << ibits) - 1)
            ks, ts, ttl = packed >> (tb + ibits), (packed >> ibits) & ((1 << tb) - 1), ttl // scale
            break
    if order is None:
        order = np.lexsort((t0, kc))
        ks, ts = kc[order], t0[order]
    # Runs: a key's calls each within ttl of the one before. A run's first call is a miss; a run
    # spanning at most ttl is otherwise all hits. Only longer runs need the chain of misses.
    new_key = np.r_[True, ks[1:] != ks[:-1]]
    run_start = new_key | np.r_[True, (ts[1:] - ts[:-1]) > ttl]
    run = np.cumsum(run_start) - 1
    first_t = ts[run_start][run]
    last_t = ts[np.r_[run_start[1:], True]][run]
    miss = run_start.copy()
    long = np.flatnonzero(last_t - first_t > ttl)
    if long.size:
        miss[long] = _chain_misses(run[long], ts[long] - first_t[long], ttl)
    hit = np.empty(n, dtype=bool)
    hit[order] = ~miss
    return hit


def _chain_misses(group: np.ndarray, t: np.ndarray, ttl: int) -> np.ndarray:
    """Misses among calls sorted by (group, time), each group starting with a miss: the calls
    reached from the first by jumping to the first call more than ttl after the current miss.
    Pointer doubling: after step k the mask holds the chain's first 2^k calls."""
    n = len(group)
    g = np.cumsum(np.r_[True, group[1:] != group[:-1]]) - 1
    big = int(t.max()) + ttl + 1
    if int(g[-1]) * big > 2**62:
        raise SimulationError("too many distinct keys over too long a period for one simulation; shorten --days")
    comp = g * big + t
    jump = np.append(np.searchsorted(comp, comp + ttl, side="right"), n)  # n: past the end
    miss = np.zeros(n + 1, dtype=bool)
    miss[0] = True
    while True:
        step = jump[np.flatnonzero(miss[:n])]
        if (step == n).all():
            break
        miss[step] = True
        jump = jump[jump]
    return miss[:n]


def response_cache(calls: pd.DataFrame, ttl_s: float = 3600, mode: str = "exact") -> LeverResult:
    """Calls a response cache with this TTL would have answered, and what they cost."""
    ttl = positive_number(ttl_s, "cache TTL (seconds)")
    df = check_calls(calls)
    keys, usable = call_keys(df, mode)
    ok = usable & _ok(df)
    t_ms = epoch_ms(df["time"])
    hit = np.zeros(len(df), dtype=bool)
    if ok.any():
        hit[ok] = ttl_hits(keys[ok], t_ms[ok], round(min(ttl * 1000, 2**62)))
    return _result(
        df,
        hit,
        ok,
        lever="response-cache",
        title=f"response cache ({mode}, TTL {_ttl_words(ttl)})",
        assumptions=[
            f"a hit costs nothing: the cached answer is returned without a model call (cache storage and "
            f"lookups not counted); an entry lives {_ttl_words(ttl)} from the miss that wrote it",
            "key: model, messages and request parameters"
            + (
                " (parameters not captured: calls with the same model and messages are taken as the same request)"
                if "params" not in df.columns or df["params"].isna().all()
                else ""
            ),
            "exact: messages byte for byte (or the digest kept under the hash policy)"
            if mode == "exact"
            else "normalised: case and whitespace ignored; needs the text (digests alone cannot be normalised)",
            "a cached answer is as good as a fresh one: right for deterministic prompts (temperature 0, "
            "lookups, classification); a risk for creative or time-sensitive ones",
        ],
    )


def agent_cache(calls: pd.DataFrame, scope: str = "trace") -> LeverResult:
    """Repeats of an identical call inside one trace (or session) that could reuse the first answer."""
    col = {"trace": "trace_id", "session": "session_id"}.get(scope)
    if col is None:
        raise SimulationError(f"agent-call cache scope must be 'trace' or 'session' (got {scope!r})")
    df = check_calls(calls, need=(col,))
    keys, usable = call_keys(df, "exact")
    ok = usable & _ok(df) & df[col].notna().to_numpy()
    hit = np.zeros(len(df), dtype=bool)
    if ok.any():
        sub = pd.DataFrame({"s": df[col].to_numpy()[ok], "k": keys[ok], "t": df["time"].to_numpy()[ok]})
        sub = sub.sort_values("t", kind="stable")
        h = np.zeros(len(sub), dtype=bool)
        h[sub.index.to_numpy()] = sub.duplicated(["s", "k"]).to_numpy()
        hit[ok] = h
    scopes_with = int(pd.Series(df[col].to_numpy()[hit]).nunique()) if hit.any() else 0
    r = _result(
        df,
        hit,
        ok,
        lever="agent-cache",
        title=f"agent-call cache (identical calls within one {scope})",
        assumptions=[
            f"a call identical to an earlier one in the same {scope} (model, messages, parameters) reuses "
            "its answer and costs nothing",
            "the repeated call would have got the same answer: true for tool calls and deterministic "
            "steps; an agent that re-asks on purpose (retries after a bad answer) loses that",
        ],
    )
    r.metrics[f"{scope}s_with_repeats"] = scopes_with
    return r


def _ok(df: pd.DataFrame) -> np.ndarray:
    if "status" not in df.columns:
        return np.ones(len(df), dtype=bool)
    return (df["status"].fillna("ok") == "ok").to_numpy()


def _ttl_words(s: float) -> str:
    if s >= 86400 and s % 86400 == 0:
        return f"{s / 86400:g} d"
    if s >= 3600 and s % 3600 == 0:
        return f"{s / 3600:g} h"
    if s >= 60 and s % 60 == 0:
        return f"{s / 60:g} min"
    return f"{s:g} s"


def _result(df, hit, ok, lever, title, assumptions) -> LeverResult:
    cost = df["cost_usd"].to_numpy(dtype=float)
    priced = ~np.isnan(cost)
    c = np.where(priced, cost, 0.0)
    saved = np.where(hit, c, 0.0)
    work = df.assign(_hit=hit.astype(np.int64), _ok=ok.astype(np.int64), _cost=c, _saved=saved)
    details = by_feature_model(
        work, {"cacheable": "_ok", "hits": "_hit", "baseline_usd": "_cost", "saved_usd": "_saved"}
    )
    details["hit_rate"] = np.where(details["cacheable"] > 0, details["hits"] / details["cacheable"].clip(lower=1), 0.0)
    notes = []
    if (~ok).any():
        notes.append(
            f"{int((~ok).sum()):,} of {len(df):,} calls could not take part: no messages captured (text or "
            "digest) or the call failed; they keep their cost"
        )
    if (~priced).any():
        notes.append(f"{int((~priced).sum()):,} calls have no price under the sheet and count as $0 on both sides")
    base = float(c.sum())
    return LeverResult(
        lever=lever,
        title=title,
        calls=len(df),
        baseline_usd=base,
        whatif_usd=base - float(saved.sum()),
        assumptions=assumptions,
        details=details,
        metrics={
            "cacheable_calls": int(ok.sum()),
            "hits": int(hit.sum()),
            "hit_rate": float(hit.sum() / ok.sum()) if ok.any() else 0.0,
            "input_tokens_saved": int(df["input_tokens"].to_numpy()[hit].sum()),
            "output_tokens_saved": int(df["output_tokens"].to_numpy()[hit].sum()),
        },
        notes=notes,
        per_call_usd=c - saved,
        removed=hit.copy(),
    )
