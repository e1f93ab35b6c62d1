"""Quality beside speed: perplexity on a fixed text, and greedy agreement with a reference.

Perplexity follows llama.cpp's `perplexity` tool: the text is cut into windows of `n_ctx`
tokens, and only the second half of each window is scored, so every scored token sees at least
n_ctx/2 tokens of context. Log-probabilities come from llama.cpp's logits (the model must be
loaded with `logits_all=True`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from llmledger import config
from llmledger.errors import LocalModelError

PERPLEXITY_TEXT = config.PROJECT_ROOT / "data" / "local_lab" / "perplexity.txt"


@dataclass
class Perplexity:
    perplexity: float
    nll: float  # mean negative log-likelihood per scored token (nats)
    n_scored: int
    n_windows: int
    n_ctx: int
    text_sha256: str

    def to_dict(self) -> dict:
        return asdict(self)


def shipped_text() -> str:
    return PERPLEXITY_TEXT.read_text(encoding="utf-8")


def _log_softmax_at(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log p(target) for each row, computed stably in float64."""
    z = logits.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    return z[np.arange(len(targets)), targets] - lse


def perplexity(llm, text: str | None = None, max_windows: int | None = None) -> Perplexity:
    """Perplexity of the loaded model on `text` (default: the shipped text)."""
    if not getattr(llm, "_logits_all", False):
        raise LocalModelError("perplexity needs the model loaded with logits_all=True")
    text = text if text is not None else shipped_text()
    n_ctx = llm.n_ctx()
    tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    n_windows = len(tokens) // n_ctx
    if max_windows:
        n_windows = min(n_windows, max_windows)
    if n_windows < 1:
        raise LocalModelError(f"the text has {len(tokens)} tokens, fewer than one window of {n_ctx}")
    first = n_ctx // 2
    total, count = 0.0, 0
    for w in range(n_windows):
        window = tokens[w * n_ctx : (w + 1) * n_ctx]
        llm.reset()
        llm.eval(window)
        logits = np.asarray(llm.scores[: n_ctx - 1])  # logits at j predict token j+1
        targets = np.asarray(window[first + 1 :], dtype=np.int64)
        logp = _log_softmax_at(logits[first : n_ctx - 1], targets)
        total -= float(logp.sum())
        count += len(targets)
    nll = total / count
    return Perplexity(
        perplexity=math.exp(nll),
        nll=nll,
        n_scored=count,
        n_windows=n_windows,
        n_ctx=n_ctx,
        text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def agreement(reference: list[str], candidate: list[str], tokenize=None) -> dict:
    """How closely a variant's greedy outputs follow the reference variant's, prompt by prompt.

    `prefix` is the share of the reference's words (or tokens, given `tokenize`) that the
    candidate reproduces before it first diverges; `exact` is the share of prompts answered
    identically.
    """
    if len(reference) != len(candidate) or not reference:
        raise LocalModelError("agreement needs the same non-empty prompt set for both variants")
    split = tokenize or (lambda s: s.split())
    prefix_shares, exact = [], 0
    for ref, cand in zip(reference, candidate):
        a, b = split(ref), split(cand)
        n = 0
        for x, y in zip(a, b):
            if x != y:
                break
            n += 1
        longest = max(len(a), len(b))
        prefix_shares.append(1.0 if longest == 0 else n / longest)
        exact += ref == cand
    return {"prefix": float(np.mean(prefix_shares)), "exact": exact / len(reference), "per_prompt": prefix_shares}


def text_path() -> Path:
    return PERPLEXITY_TEXT
