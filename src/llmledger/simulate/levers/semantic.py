"""Semantic response cache: calls answered from a cache because an earlier prompt *like* theirs was
asked, with a similarity-threshold sweep of the hit rate against the risk of a false hit.

Public functions (the What-if page's Levers tab and the CLI call these; names are stable):

    semantic_cache(calls, threshold=0.9, ttl_s=3600, thresholds=None, neighbours=64,
                   max_calls=20000, progress=None, embedder=None) -> LeverResult
        result.tables["sweep"]: one row per threshold (ascending), columns
            threshold, hits, hit_rate, hits_beyond_exact, false_hits, false_hit_rate,
            false_hit_share, pairs, pairs_answers_differ, pair_risk, saved_usd
        result.metrics: threshold, ttl_s, hit_rate, hits_beyond_exact, false_hits,
            false_hit_rate, embedding (model, package, dimension, max tokens), distinct_prompts,
            embedded_tokens, embed_s, ...
    sweep_frame(result) -> the sweep table (a DataFrame)
    embedding.available() -> (bool, reason)   whether the model is installed here
    DEFAULT_THRESHOLDS

The model. Each captured prompt is embedded locally (embedding.py: all-MiniLM-L6-v2, int8 ONNX
shipped in a PyPI package, run by onnxruntime; the last 128 tokens of the prompt). Every call's
prompt joins the cache and stays `ttl_s` seconds (a hit is stored under its own prompt with the
answer it was served, so the index grows with every call). A call is a hit at threshold T when a
prompt of the same model and request parameters, asked in the TTL before it, has cosine
similarity >= T; identical prompts have similarity 1. So a call's "best earlier similarity" s
decides it at every threshold, the sweep is one pass, and the hit rate cannot rise with T.

The risk. A hit returns another prompt's answer. `false_hits`: hits whose nearest earlier prompt
was *answered differently* in the ledger (recorded outputs compared case- and space-folded), out
of the hits where both answers were captured (`false_hit_rate`). The row at threshold 1.0
(identical prompts only) shows how often the model itself answers the same prompt differently:
the floor below which a semantic cache cannot be judged. `pair_risk`: of the pairs of distinct
prompts with similarity >= T (each prompt's `neighbours` most similar), the share whose recorded
answers differ (the issue's definition). Both are estimates from recorded answers: a different
answer is not always a wrong one, and an identical one is not always right.

Neighbours are searched among the distinct prompts of each (model, parameters) group, blockwise
(E·Eᵀ over the unit vectors); only the `neighbours` most similar prompts above the lowest
threshold are kept per prompt, so a prompt whose close matches all fell outside the TTL may miss
a weaker one (noted in the assumptions).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.levers import embedding
from llmledger.simulate.levers.core import LeverResult, check_calls, epoch_ms, positive_number
from llmledger.simulate.levers.response import _ok, _result, _ttl_words, normalise_text

DEFAULT_THRESHOLDS = tuple(round(x, 2) for x in np.arange(0.80, 0.995, 0.01)) + (1.0,)
BLOCK = 1024


def _threshold(x, what: str) -> float:
    if isinstance(x, bool):
        raise SimulationError(f"{what} must be a number between 0 and 1 (got {x!r})")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise SimulationError(f"{what} must be a number between 0 and 1 (got {x!r})") from None
    if not (0 < v <= 1):
        raise SimulationError(f"{what} must be above 0 and at most 1 (cosine similarity; got {x!r})")
    return v


def _whole(x, what: str, lo: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < lo:
        raise SimulationError(f"{what} must be a whole number >= {lo} (got {x!r})")
    return int(x)


def sweep_frame(result: LeverResult) -> pd.DataFrame:
    """The threshold sweep of a semantic_cache result."""
    return result.tables["sweep"]


def strip_shared_lines(texts: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, int]:
    """The texts less the whole lines that every text of their group starts with (a system prompt
    all of a model's calls share says nothing about which question was asked, and costs time to
    embed); a text that is nothing but those lines is kept whole. Returns (texts, groups cut)."""
    out = np.array(texts, dtype=object)
    cut_groups = 0
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        if len(idx) < 2:
            continue
        cut = os.path.commonprefix([str(t) for t in out[idx]]).rfind("\n") + 1
        if cut:
            cut_groups += 1
            out[idx] = [t[cut:] or t for t in out[idx]]
    return out, cut_groups


def neighbours_of(vecs: np.ndarray, groups: np.ndarray, floor: float, k: int) -> tuple[np.ndarray, ...]:
    """(a, b, sim): for each row a, up to k other rows b of the same group with vecs[a]·vecs[b] >=
    floor, most similar first."""
    out_a, out_b, out_s = [], [], []
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        if len(idx) < 2:
            continue
        e = vecs[idx]
        kk = min(k, len(idx) - 1)
        for s in range(0, len(idx), BLOCK):
            sim = e[s : s + BLOCK] @ e.T
            rows = np.arange(sim.shape[0])
            sim[rows, s + rows] = -np.inf  # not itself
            if kk < len(idx) - 1:
                top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
            else:
                top = np.broadcast_to(np.arange(len(idx)), sim.shape)
            ts = np.take_along_axis(sim, top, axis=1)
            keep = ts >= floor
            r = np.broadcast_to(rows[:, None], top.shape)[keep]
            out_a.append(idx[s + r])
            out_b.append(idx[top[keep]])
            out_s.append(ts[keep])
    if not out_a:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0, dtype=np.float32)
    a, b, sm = np.concatenate(out_a), np.concatenate(out_b), np.concatenate(out_s)
    o = np.lexsort((-sm, a))
    return a[o], b[o], np.minimum(sm[o], 1.0)


def best_earlier(u: np.ndarray, t_ms: np.ndarray, ttl_ms: int, nb: tuple) -> tuple[np.ndarray, np.ndarray]:
    """For calls in time order with prompt ids u: the highest similarity to a call in the TTL
    before it (its own prompt counts 1.0; neighbours from `nb` = (a, b, sim)), -inf when none,
    and that call (-1: none)."""
    n = len(u)
    if n == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    a, b, sim = nb
    n_u = int(u.max()) + 1
    start = np.searchsorted(a, np.arange(n_u + 1))  # CSR over prompts
    deg = np.diff(start)[u] + 1  # + itself
    seg = np.r_[0, np.cumsum(deg)]
    tot = int(seg[-1])
    call = np.repeat(np.arange(n), deg)
    pos = np.arange(tot) - seg[call]  # 0: itself, then its neighbours
    cand = np.where(pos == 0, u[call], 0)
    csim = np.where(pos == 0, 1.0, 0.0)
    nbr = pos > 0
    src = start[u[call[nbr]]] + pos[nbr] - 1
    cand[nbr], csim[nbr] = b[src], sim[src]
    # the latest call of prompt `cand` before this call: occurrences sorted by (prompt, order)
    occ = np.lexsort((np.arange(n), u))
    okey = u[occ].astype(np.int64) * (n + 1) + occ
    p = np.searchsorted(okey, cand.astype(np.int64) * (n + 1) + call, side="left") - 1
    pc = np.clip(p, 0, None)
    j = occ[pc]
    valid = (p >= 0) & (u[j] == cand) & (t_ms[call] - t_ms[j] <= ttl_ms)
    score = np.where(valid, csim, -np.inf)
    best = np.maximum.reduceat(score, seg[:-1])
    first = np.flatnonzero(valid & (score == best[call]))
    _, at = np.unique(call[first], return_index=True)
    partner = np.full(n, -1, dtype=np.int64)
    partner[call[first[at]]] = j[first[at]]
    return best, partner  # -inf: no earlier call in the TTL like it


def semantic_cache(
    calls: pd.DataFrame,
    threshold: float = 0.9,
    ttl_s: float = 3600,
    thresholds=None,
    neighbours: int = 64,
    max_calls: int = 20_000,
    progress=None,
    embedder=None,
) -> LeverResult:
    """What a semantic cache at `threshold` (cosine similarity) with entries living `ttl_s` would
    have saved, with the sweep over `thresholds` (default DEFAULT_THRESHOLDS plus `threshold`).
    `max_calls`: the latest calls with text taken (each distinct prompt is embedded).
    `embedder(texts) -> unit vectors`: another embedding function (default: embedding.embed)."""
    thr = _threshold(threshold, "similarity threshold")
    ttl = positive_number(ttl_s, "cache TTL (seconds)")
    if thresholds is None:
        thresholds = DEFAULT_THRESHOLDS
    if isinstance(thresholds, (str, bytes)) or not hasattr(thresholds, "__iter__"):
        raise SimulationError(f"thresholds must be a list of numbers between 0 and 1 (got {thresholds!r})")
    sweep_t = sorted({_threshold(x, "each sweep threshold") for x in thresholds} | {thr})
    k = _whole(neighbours, "neighbours per prompt")
    cap = _whole(max_calls, "max_calls")
    if "input_text" not in calls.columns or not calls["input_text"].notna().any():
        raise SimulationError(
            "the semantic cache needs the prompts' text (content policy keep): under hash only exact "
            "repeats can be found (use the exact response cache), under drop none"
        )
    df = check_calls(calls, need=("input_text",))
    n = len(df)
    ok = _ok(df) & df["input_text"].notna().to_numpy()
    notes = []
    t_ms = epoch_ms(df["time"])
    if ok.sum() > cap:
        rows = np.flatnonzero(ok)
        latest = rows[np.argsort(t_ms[rows], kind="stable")[-cap:]]
        notes.append(
            f"{int(ok.sum()) - cap:,} older calls with text left out (max_calls {cap:,}: each distinct prompt "
            "is embedded); they keep their cost"
        )
        ok = np.zeros(n, dtype=bool)
        ok[latest] = True
    rows = np.flatnonzero(ok)
    rows = rows[np.argsort(t_ms[rows], kind="stable")]  # time order
    sub = df.iloc[rows]
    texts = sub["input_text"].astype(str).to_numpy()
    params = sub["params"].fillna("").astype(str).to_numpy() if "params" in sub.columns else np.zeros(len(sub))
    group = pd.factorize(pd.MultiIndex.from_arrays([sub["model"].to_numpy(), params]))[0]
    # a prompt: (group, text); its text is embedded once
    u, ukeys = pd.factorize(pd.MultiIndex.from_arrays([group, texts]))
    u_group = np.asarray(ukeys.get_level_values(0), dtype=np.int64)
    u_text = np.asarray(ukeys.get_level_values(1), dtype=object)
    u_text, stripped = strip_shared_lines(u_text, u_group)
    t0 = time.perf_counter()
    tcodes, tuniq = pd.factorize(u_text)
    emb = embedder or embedding.embed
    vecs = np.asarray(emb(list(tuniq), progress=progress) if embedder is None else emb(list(tuniq)), dtype=np.float32)
    if vecs.ndim != 2 or vecs.shape[0] != len(tuniq) or not np.isfinite(vecs).all():
        raise SimulationError(f"the embedder returned {vecs.shape} for {len(tuniq)} texts (need one finite row each)")
    vecs = vecs / np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
    embed_s = time.perf_counter() - t0
    tokens = embedding.last_tokens() if embedder is None else None
    vecs = vecs[tcodes]
    t1 = time.perf_counter()
    nb = neighbours_of(vecs, u_group, min(sweep_t), k)
    s, partner = best_earlier(u.astype(np.int64), t_ms[rows], round(min(ttl * 1000, 2**62)), nb)
    search_s = time.perf_counter() - t1
    # recorded answers, folded; -1: not captured
    if "output_text" in sub.columns:
        out = sub["output_text"]
        acodes, auniq = pd.factorize(out, use_na_sentinel=True)
        folded = pd.factorize(np.array([normalise_text(str(x)) for x in auniq], dtype=object))[0]
        ans = np.where(acodes >= 0, folded[np.maximum(acodes, 0)], -1) if len(auniq) else np.full(len(sub), -1)
    else:
        ans = np.full(len(sub), -1)
    pj = np.maximum(partner, 0)
    has_p = partner >= 0
    known = has_p & (ans >= 0) & (ans[pj] >= 0)
    differs = known & (ans != ans[pj])
    identical = has_p & (u[pj] == u)
    # pairs of distinct prompts: a prompt's answer is its first call's captured one
    u_ans = np.full(len(ukeys), -1, dtype=np.int64)
    with_ans = ans >= 0
    seen = np.flatnonzero(with_ans)
    u_ans[u[seen[::-1]]] = ans[seen[::-1]]  # reversed: the first call's answer is written last
    a, b, psim = nb
    # each unordered pair once (found from one side or both)
    both = pd.DataFrame({"a": np.minimum(a, b), "b": np.maximum(a, b), "s": psim}).drop_duplicates(["a", "b"])
    pa, pb, ps = both["a"].to_numpy(), both["b"].to_numpy(), both["s"].to_numpy()
    pk = (u_ans[pa] >= 0) & (u_ans[pb] >= 0)
    pdiff = pk & (u_ans[pa] != u_ans[pb])
    cost = np.nan_to_num(sub["cost_usd"].to_numpy(dtype=float))
    n_ok = len(rows)
    table = []
    for T in sweep_t:
        h = s >= T - 1e-9 if T < 1.0 else identical
        hk = int((h & known).sum())
        above = ps >= T - 1e-9
        n_pairs_k = int((above & pk).sum())
        table.append(
            {
                "threshold": T,
                "hits": int(h.sum()),
                "hit_rate": float(h.sum() / n_ok) if n_ok else 0.0,
                "hits_beyond_exact": int((h & ~identical).sum()),
                "false_hits": int((h & differs).sum()),
                "false_hit_rate": float((h & differs).sum() / hk) if hk else None,
                "false_hit_share": float((h & differs).sum() / n_ok) if n_ok else 0.0,
                "pairs": int(above.sum()),
                "pairs_answers_differ": int((above & pdiff).sum()),
                "pair_risk": float((above & pdiff).sum() / n_pairs_k) if n_pairs_k else None,
                "saved_usd": float(cost[h].sum()),
            }
        )
    sweep = pd.DataFrame(table)
    chosen = s >= thr - 1e-9 if thr < 1.0 else identical
    hit = np.zeros(n, dtype=bool)
    hit[rows] = chosen
    ok_full = np.zeros(n, dtype=bool)
    ok_full[rows] = True
    r = _result(
        df,
        hit,
        ok_full,
        lever="semantic-cache",
        title=f"semantic cache (similarity >= {thr:g}, TTL {_ttl_words(ttl)})",
        assumptions=[
            f"a hit costs nothing and returns the answer of an earlier prompt of the same model and request "
            f"parameters, asked within {_ttl_words(ttl)} before it, whose embedding has cosine similarity >= {thr:g}",
            "every call's prompt joins the cache for the TTL (a hit is stored under its own prompt with the answer "
            "it was served), so the hit rate never rises with the threshold",
            f"embeddings: {embedding.MODEL_ID} computed on this machine over each prompt's last "
            f"{embedding.MAX_TOKENS} tokens, less the lines every prompt of the model starts with (a shared "
            "system prompt says nothing about the question)"
            if embedder is None
            else "embeddings: a caller-supplied embedding function",
            f"each prompt's {k} most similar prompts above {min(sweep_t):g} are searched; a weaker match "
            "beyond them is not",
            "false-hit risk: hits whose matched prompt was answered differently in the ledger (answers compared "
            "ignoring case and spacing); an estimate: a different answer is not always wrong, nor the same one right",
        ],
    )
    dk = int(differs[chosen].sum())
    hk = int(known[chosen].sum())
    r.metrics.update(
        threshold=thr,
        ttl_s=ttl,
        hits_beyond_exact=int((chosen & ~identical).sum()),
        false_hits=dk,
        false_hit_rate=dk / hk if hk else None,
        hits_with_both_answers=hk,
        distinct_prompts=int(len(ukeys)),
        embedded_texts=int(len(tuniq)),
        embedded_tokens=tokens,
        embed_s=round(embed_s, 3),
        search_s=round(search_s, 3),
        neighbour_pairs=int(len(ps)),
        groups_with_shared_lines=stripped,
    )
    r.metrics["embedding"] = (
        {k2: v for k2, v in embedding.model_info().items() if k2 != "path"} if embedder is None else "caller-supplied"
    )
    if not with_ans.any():
        r.notes.append("no answers captured (output text): the false-hit risk cannot be estimated")
    r.notes = notes + r.notes
    r.tables["sweep"] = sweep
    return r
