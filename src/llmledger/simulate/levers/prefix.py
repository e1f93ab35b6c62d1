"""Provider prompt caching: how much of each prompt a provider's prefix cache would have served.

Providers cache a prompt's prefix for a while (Anthropic: 5 minutes or 1 hour, refreshed on each
use; OpenAI: automatic, 5-10 minutes idle) and bill later requests that start with it at the
cache-read price. Anthropic bills the write (1.25x the input price for 5 minutes, 2x for 1 hour);
OpenAI and Gemini's implicit caches do not.

For each model's captured prompts, in its own tokenizer's tokens (tokens/):
- read_i  = the longest prefix call i shares with any call of that model in the cache lifetime
            before it (a prefix stays cached while some call uses it within the lifetime, so this
            is the longest common prefix with any call in [t_i - ttl, t_i]);
- write_i = the longest prefix a call in the lifetime after it shares with it, less read_i: the
            breakpoint a developer would put at the end of what later calls reuse (the system
            prompt, the tools, the conversation so far);
both 0 below the provider's minimum cacheable prefix (e.g. 1,024 tokens) and rounded down to its
block (OpenAI caches in 128-token steps).

The longest common prefix with any call in a time window is the LCP with the window's nearest
neighbours in lexicographic order of token ids: prompts are sorted once (big-endian token bytes,
compared by memcmp), the LCP of adjacent ones is computed once, a sparse table answers
range-minimum queries, and a sorted list of the window's ranks slides through time. Prompts are
compared as sequences of line ids (lines numbered in their tokens' order), then counted in
tokens: the shared lines whole plus the common start of the first line that differs. Each
distinct line is encoded once, so a system prompt shared by 100k calls is tokenised once.
"""

from __future__ import annotations

import bisect
import re
from collections import deque

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.levers.core import (
    LeverResult,
    ModelPrices,
    by_feature_model,
    check_calls,
    epoch_ms,
    price_arrays,
)

LIFETIMES = {"5m": 300.0, "1h": 3600.0}
#: Anthropic's write premiums over the input price, where the sheet has no write price.
ANTHROPIC_WRITE = {"5m": 1.25, "1h": 2.0}
CHUNK = 1 << 25  # bytes of text scanned for newlines at a time
_OPENAI = re.compile(r"(^|/)(gpt-|o\d|chatgpt|codex)", re.I)
_ANTHROPIC = re.compile(r"claude", re.I)


def default_block(model: str) -> int:
    """OpenAI caches prefixes in 128-token increments; Anthropic at the breakpoint (1 token)."""
    return 128 if _OPENAI.search(model) else 1


class PromptLines:
    """Prompts as sequences of line ids, the lines numbered in the lexicographic order of their
    tokens (so sorting sequences of line ids sorts them as token sequences would, and
    neighbours share the most of the line where they differ).

    Lines are found and hashed in Arrow and numpy without being copied (a line is a span of the
    texts' data buffer, from a text's start or a newline to the next); each distinct line (with
    its newline, if it had one) is encoded once (tiktoken's encode_ordinary_batch measured 5x
    slower than a loop here: its thread pool on 2 cores)."""

    def __init__(self, texts, encode):
        import pyarrow as pa
        import pyarrow.compute as pc

        # Arrow-backed text goes over without a copy into Python strings and back
        arr = (
            texts.array.__arrow_array__()
            if hasattr(texts, "array") and hasattr(texts.array, "__arrow_array__")
            else None
        )
        if arr is None:
            arr = pa.array([str(t) for t in texts], pa.large_string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
        if arr.type != pa.large_string():
            arr = arr.cast(pa.large_string())
        # Lines without splitting: a line starts after each newline and at each text's start, so
        # the line boundaries are offsets into the texts' one data buffer, and the lines (each
        # with its newline, if it had one) are a string array over that same buffer. No line is
        # copied; dictionary encoding numbers the distinct ones.
        off = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
        n = len(off) - 1
        lo, hi = int(off[0]), int(off[-1])
        data = arr.buffers()[2]
        if data is None:  # every text empty
            data = pa.py_buffer(b"")
        raw = np.frombuffer(data, dtype=np.uint8)
        # newlines found in chunks (one pass over the text; no buffer-sized temporaries)
        nl = [np.flatnonzero(raw[a : min(a + CHUNK, hi)] == 10) + (a + 1) for a in range(lo, hi, CHUNK)]
        both = np.sort(np.concatenate([off, *nl]), kind="stable")  # two sorted runs: a merge
        bounds = both[np.r_[True, both[1:] != both[:-1]]] if len(both) else both
        lines = pa.LargeStringArray.from_buffers(len(bounds) - 1, pa.py_buffer(bounds), data)
        enc = pc.dictionary_encode(lines)
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        words = enc.dictionary.to_pylist()
        toks = [np.asarray(encode(w), dtype=np.uint32) for w in words]
        keys = [t.astype(">u4").tobytes() for t in toks]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        self.tokens = [toks[k] for k in order]
        self.lengths = np.array([len(t) for t in self.tokens], dtype=np.int64)
        # token LCP of lines adjacent in that order; a range minimum gives any two lines' LCP
        adj = np.zeros(len(order), dtype=np.int64)
        for r in range(1, len(order)):
            x, y = self.tokens[r - 1], self.tokens[r]
            m = min(len(x), len(y))
            d = np.flatnonzero(x[:m] != y[:m])
            adj[r] = int(d[0]) if len(d) else m
        self.table = _sparse_table(adj)
        self.flat = rank[codes] if len(codes) else np.zeros(0, dtype=np.int64)
        # each text's lines: [line_off[i], line_off[i+1]) (an empty text has none)
        self.off = np.searchsorted(bounds, off, side="left")
        self.off[-1] = len(bounds) - 1
        self.cum = np.concatenate([[0], np.cumsum(self.lengths[self.flat])])
        f32 = self.flat.astype(np.uint32)
        self.seqs = [f32[a:b] for a, b in zip(self.off[:-1].tolist(), self.off[1:].tolist())]
        assert len(self.seqs) == n

    def line_share(self, ra: int, rb: int) -> int:
        """Tokens two lines (by rank) share at their start."""
        if ra == rb:
            return int(self.lengths[ra])
        lo, hi = (ra, rb) if ra < rb else (rb, ra)
        return _range_min(self.table, lo + 1, hi)

    def tie(self, i: int, j: int, lines: int) -> int:
        """Tokens prompts i and j share of the line after their `lines` common ones."""
        a, b = self.seqs[i], self.seqs[j]
        if lines >= len(a) or lines >= len(b):
            return 0
        return self.line_share(int(a[lines]), int(b[lines]))

    def shared_tokens(self, lines: np.ndarray, partner: np.ndarray) -> np.ndarray:
        """Tokens each prompt shares with its partner (-1: none): the common lines whole (from
        cumulative lengths), plus the common start of the next line of each."""
        n = len(self.seqs)
        lines = np.asarray(lines, dtype=np.int64)
        start = self.off[:-1]
        out = self.cum[start + lines] - self.cum[start]
        count = np.diff(self.off)
        j = np.where(partner >= 0, partner, 0)
        more = (partner >= 0) & (lines < count) & (lines < count[j])
        for i in np.flatnonzero(more):
            out[i] += self.line_share(int(self.flat[start[i] + lines[i]]), int(self.flat[start[j[i]] + lines[i]]))
        out[partner < 0] = 0
        return out[:n]


def model_encoder(model: str):
    """(encode function, tokenizer name, exact) for `model` from the tokenizer registry."""
    from llmledger import tokens

    choice = tokens.tokenizer_for_model(model)
    return tokens.get(choice.name).encode, choice.name, choice.exact


def _sparse_table(a: np.ndarray) -> list[np.ndarray]:
    table = [a]
    k = 1
    while 2 * k <= len(a):
        prev = table[-1]
        table.append(np.minimum(prev[:-k], prev[k:]))
        k *= 2
    return table


def _range_min(table, lo: int, hi: int) -> int:
    """min(a[lo..hi]) inclusive, lo <= hi."""
    k = (hi - lo + 1).bit_length() - 1
    t = table[k]
    return int(min(t[lo], t[hi - (1 << k) + 1]))


def window_lcp(seqs: list[np.ndarray], times: np.ndarray, ttl: float) -> tuple[np.ndarray, np.ndarray]:
    """For sequences in time order: (back, fwd), the longest common prefix of each with any
    sequence in [t - ttl, t) before it (ties in time: earlier in the list) and in (t, t + ttl]
    after it."""
    back, fwd, _, _ = window_lcp_partners(seqs, times, ttl)
    return back, fwd


def window_lcp_partners(seqs, times, ttl, tie=None):
    """window_lcp, plus for each sequence the one that gave each maximum (-1: none). `tie(i, j,
    lcp)`: a finer score that breaks ties between the two nearest neighbours."""
    n = len(seqs)
    back, fwd = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    if n < 2:
        return back, fwd, np.full(n, -1), np.full(n, -1)
    keys = [s.astype(">u4").tobytes() for s in seqs]
    order = sorted(range(n), key=keys.__getitem__)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    lcp = np.zeros(n, dtype=np.int64)  # lcp[r] = LCP(sorted[r-1], sorted[r])
    for r in range(1, n):
        a, b = seqs[order[r - 1]], seqs[order[r]]
        m = min(len(a), len(b))
        if keys[order[r - 1]] == keys[order[r]]:
            lcp[r] = m
            continue
        d = np.flatnonzero(a[:m] != b[:m])
        lcp[r] = int(d[0]) if len(d) else m
    table = _sparse_table(lcp)

    def sweep(idx, inside):
        out = np.zeros(n, dtype=np.int64)
        partner = np.full(n, -1, dtype=np.int64)
        live: list[int] = []
        q: deque = deque()
        for i in idx:
            while q and not inside(times[q[0]], times[i]):
                j = q.popleft()
                del live[bisect.bisect_left(live, rank[j])]
            r = int(rank[i])
            p = bisect.bisect_left(live, r)
            best, who = 0, -1
            if p > 0:
                best, who = _range_min(table, live[p - 1] + 1, r), order[live[p - 1]]
            if p < len(live):
                after, other = _range_min(table, r + 1, live[p]), order[live[p]]
                if after > best or who < 0:
                    best, who = after, other
                elif after == best and tie is not None and tie(i, other, best) > tie(i, who, best):
                    who = other
            out[i], partner[i] = best, who
            bisect.insort(live, r)
            q.append(i)
        return out, partner

    back, bp = sweep(range(n), lambda tj, ti: ti - tj <= ttl)
    fwd, fp = sweep(range(n - 1, -1, -1), lambda tj, ti: tj - ti <= ttl)
    return back, fwd, bp, fp


def prompt_cache(
    calls: pd.DataFrame,
    prices: dict[str, ModelPrices],
    lifetime: str = "5m",
    min_prefix: int = 1024,
    block: int | None = None,
    encoders: dict | None = None,
) -> LeverResult:
    """The calls' cost had their shared prefixes been cached for `lifetime` ('5m' or '1h').
    `encoders`: {model: encode function} to override the registry's tokenizer (tests)."""
    if lifetime not in LIFETIMES:
        raise SimulationError(f"cache lifetime must be one of {', '.join(LIFETIMES)} (got {lifetime!r})")
    if not isinstance(min_prefix, (int, np.integer)) or min_prefix < 1:
        raise SimulationError(f"minimum cacheable prefix must be a whole number of tokens >= 1 (got {min_prefix!r})")
    if block is not None and (not isinstance(block, (int, np.integer)) or block < 1):
        raise SimulationError(f"cache block must be a whole number of tokens >= 1 (got {block!r})")
    ttl = LIFETIMES[lifetime]
    df = check_calls(calls, need=("input_text",)).reset_index(drop=True)
    n = len(df)
    has_text = df["input_text"].notna().to_numpy()
    if "status" in df.columns:
        has_text = has_text & (df["status"].fillna("ok") == "ok").to_numpy()
    read = np.zeros(n, dtype=np.int64)
    write = np.zeros(n, dtype=np.int64)
    tokenizers = {}
    t_s = epoch_ms(df["time"]) / 1000.0
    in_tok = df["input_tokens"].to_numpy()
    for model, idx in df.index[has_text].groupby(df["model"][has_text]).items():
        idx = np.asarray(idx)
        idx = idx[np.argsort(t_s[idx], kind="stable")]
        if encoders and model in encoders:
            encode, tk_name = encoders[model], "given"
        else:
            encode, tk_name, _ = model_encoder(model)
        tokenizers[model] = tk_name
        # prefixes compared line by line (short keys: one id per line), then in tokens: the
        # shared lines whole plus the common start of the first line that differs
        pl = PromptLines(df["input_text"].take(idx), encode)
        back_l, fwd_l, bp, fp = window_lcp_partners(pl.seqs, t_s[idx], ttl, tie=pl.tie)
        back, fwd = pl.shared_tokens(back_l, bp), pl.shared_tokens(fwd_l, fp)
        blk = block or default_block(model)
        r, f = _cacheable(back, min_prefix, blk), _cacheable(fwd, min_prefix, blk)
        cap = in_tok[idx]
        r = np.minimum(r, cap)
        w = np.minimum(np.maximum(f - r, 0), cap - r)
        read[idx], write[idx] = r, w
    p = price_arrays(df, prices, ("input", "cache_read", "cache_write", "cache_write_1h"))
    p_in = p["input"]
    p_cr = np.where(np.isnan(p["cache_read"]), p_in, p["cache_read"])
    anthropic = df["model"].str.contains(_ANTHROPIC).to_numpy()
    sheet_w = p["cache_write"] if lifetime == "5m" else p["cache_write_1h"]
    premium = np.where(anthropic, ANTHROPIC_WRITE[lifetime], 1.0)
    p_cw = np.where(np.isnan(sheet_w), p_in * premium, sheet_w)
    obs_cr = np.nan_to_num(df["cache_read_tokens"].to_numpy(dtype=float)) if "cache_read_tokens" in df else np.zeros(n)
    obs_cw = (
        np.nan_to_num(df["cache_write_tokens"].to_numpy(dtype=float)) if "cache_write_tokens" in df else np.zeros(n)
    )
    p_cw_obs = np.where(np.isnan(p["cache_write"]), p_in, p["cache_write"])
    priced = ~np.isnan(p_in) & ~np.isnan(df["cost_usd"].to_numpy())
    # what-if minus today, per call, on the input side only (output does not change)
    today = obs_cr * p_cr + obs_cw * p_cw_obs + (in_tok - obs_cr - obs_cw) * p_in
    whatif = read * p_cr + write * p_cw + (in_tok - read - write) * p_in
    # a call whose reported reads exceed the estimate keeps today's cost: the what-if never
    # undoes caching the app already gets (its prompts may share more than the captured text shows)
    delta = np.where(priced & has_text & (read >= obs_cr), whatif - today, 0.0)
    cost = np.nan_to_num(df["cost_usd"].to_numpy(dtype=float))
    work = df.assign(
        _text=has_text.astype(np.int64),
        _hit=(read > 0).astype(np.int64),
        _read=read,
        _write=write,
        _obs=obs_cr,
        _cost=cost,
        _saved=-delta,
    )
    details = by_feature_model(
        work,
        {
            "with_text": "_text",
            "hit_calls": "_hit",
            "read_tokens": "_read",
            "write_tokens": "_write",
            "observed_read_tokens": "_obs",
            "baseline_usd": "_cost",
            "saved_usd": "_saved",
        },
    )
    reports = has_text & (
        df["cache_read_tokens"].notna().to_numpy() if "cache_read_tokens" in df.columns else np.zeros(n, bool)
    )
    metrics = {
        "lifetime": lifetime,
        "min_prefix_tokens": int(min_prefix),
        "calls_with_text": int(has_text.sum()),
        "hit_calls": int((read > 0).sum()),
        "hit_rate": float((read > 0).sum() / has_text.sum()) if has_text.any() else 0.0,
        "read_tokens": int(read.sum()),
        "write_tokens": int(write.sum()),
        "input_tokens": int(in_tok[has_text].sum()),
        "tokenizers": tokenizers,
    }
    if reports.any():
        metrics["observed"] = {
            "calls": int(reports.sum()),
            "read_tokens": int(obs_cr[reports].sum()),
            "estimated_read_tokens": int(read[reports].sum()),
            "hit_calls": int((obs_cr[reports] > 0).sum()),
            "estimated_hit_calls": int((read[reports] > 0).sum()),
        }
    notes = []
    if (~has_text).any():
        notes.append(
            f"{int((~has_text).sum()):,} of {n:,} calls carry no prompt text (or failed): they keep their cost"
        )
    no_cr = sorted({m for m in df["model"][has_text].unique() if m in prices and prices[m].cache_read is None})
    if no_cr:
        notes.append(f"no cache-read price in the sheet for {', '.join(no_cr)}: reads priced as input, no saving")
    unknown = sorted({m for m in df["model"].unique() if m not in prices})
    if unknown:
        notes.append(f"no price for {', '.join(unknown)}: those calls keep their cost")
    base = float(cost.sum())
    return LeverResult(
        lever="prompt-cache",
        title=f"provider prompt caching ({lifetime} lifetime, prefixes of {min_prefix:,}+ tokens)",
        calls=n,
        baseline_usd=base,
        whatif_usd=base + float(delta.sum()),
        assumptions=[
            f"a prefix stays cached while a call of the same model uses it within {lifetime} (the provider "
            "refreshes it on each use); the cache is shared across features, as a provider's is per organisation",
            f"breakpoints at the end of the prefix later calls reuse; nothing under {min_prefix:,} tokens is "
            "cached; OpenAI models in 128-token steps",
            "tokens: each model's own tokenizer where the ledger has it (else a stand-in, see tokenizers), "
            "counted line by line; capped at the call's recorded input tokens",
            "reads at the sheet's cache-read price; writes at the sheet's write price, else Anthropic's "
            f"{ANTHROPIC_WRITE[lifetime]}x input for Claude models and the input price for others (no write fee)",
            "where calls report cache reads and writes, the simulated ones replace them when they read at least as "
            "much; a call that already reads more keeps today's cost",
        ],
        details=details,
        metrics=metrics,
        notes=notes,
        per_call_usd=cost + delta,
    )


def _cacheable(x: np.ndarray, min_prefix: int, blk: int) -> np.ndarray:
    y = (x // blk) * blk
    return np.where(y >= min_prefix, y, 0)
