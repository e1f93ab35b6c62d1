"""Counting text: one string for a model, or a long corpus in parallel with progress."""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Sequence

from llmledger.errors import TokenizerError
from llmledger.tokens import registry

DEFAULT_TOKENIZER = "o200k_base"
# Corpus work is cut into chunks of about this many characters: big enough that per-chunk
# overhead vanishes, small enough that progress moves and threads stay balanced.
CHUNK_CHARS = 200_000


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    tokenizer: str
    exact: bool  # the count the model's provider would bill (for plain text)
    note: str


def count_text(text: str, model: str | None = None, tokenizer: str | None = None) -> TokenCount:
    """Tokens in `text` for `model` (its tokenizer) or with `tokenizer` named directly.

    With both, `tokenizer` is used and `exact` says whether it is `model`'s own. With neither,
    o200k_base is used and the count is marked as not tied to any model.
    """
    if not isinstance(text, str):
        raise TokenizerError(f"text must be a string, not {type(text).__name__}")
    if tokenizer is not None:
        tok = registry.get(tokenizer)
        if model is None:
            return TokenCount(tok.count(text), tok.name, True, f"counted with {tok.name}")
        from llmledger.tokens.models import tokenizer_for_model

        choice = tokenizer_for_model(model)
        if choice.name == tok.name:
            return TokenCount(tok.count(text), tok.name, choice.exact, choice.note)
        return TokenCount(tok.count(text), tok.name, False, f"{model}'s tokenizer is {choice.name}, not {tok.name}")
    if model is not None:
        from llmledger.tokens.models import tokenizer_for_model

        choice = tokenizer_for_model(model)
        return TokenCount(registry.get(choice.name).count(text), choice.name, choice.exact, choice.note)
    tok = registry.get(DEFAULT_TOKENIZER)
    return TokenCount(tok.count(text), tok.name, False, "no model given; counted with o200k_base")


def _chunks(texts: Sequence[str], chunk_chars: int) -> list[tuple[int, int]]:
    out, start, size = [], 0, 0
    for i, t in enumerate(texts):
        size += len(t) + 16  # +16: per-document overhead matters for many tiny texts
        if size >= chunk_chars:
            out.append((start, i + 1))
            start, size = i + 1, 0
    if start < len(texts):
        out.append((start, len(texts)))
    return out


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def count_many(
    texts: Sequence[str],
    tokenizer,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> list[int]:
    """Token count of every text, in order, counted on `workers` threads.

    `tokenizer` is a registry name or a loaded tokenizer. `progress(done, total)` is called in
    the caller's thread (safe for a Streamlit progress bar) as chunks finish, ending with
    (total, total). tiktoken, `tokenizers` and llama.cpp all release the GIL while tokenizing, so
    threads scale without processes; the Claude tokenizer's batch call is already parallel
    inside Rust, so it runs one chunk at a time (see bench/bench_tokens.py for the figures).
    """
    tok = registry.get(tokenizer) if isinstance(tokenizer, str) else tokenizer
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TokenizerError(f"text {i} is {type(t).__name__}, not a string")
    total = len(texts)
    result = [0] * total
    spans = _chunks(texts, CHUNK_CHARS)
    workers = default_workers() if workers is None else max(1, int(workers))
    if getattr(tok, "kind", "") == "huggingface":
        workers = 1
    done = 0
    if workers == 1 or len(spans) <= 1:
        for a, b in spans:
            result[a:b] = tok.count_batch(list(texts[a:b]))
            done += b - a
            if progress:
                progress(done, total)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="count_many") as pool:
            pending = {pool.submit(tok.count_batch, list(texts[a:b])): (a, b) for a, b in spans}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    a, b = pending.pop(fut)
                    result[a:b] = fut.result()
                    done += b - a
                if progress:
                    progress(done, total)
    if progress and total == 0:
        progress(0, 0)
    return result
