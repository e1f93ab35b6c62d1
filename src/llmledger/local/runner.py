"""One llama.cpp model in memory, and one timed, streamed, greedy generation on it.

`ModelHost` keeps at most one model loaded (loading another closes the first). It is not
thread-safe by itself: the dashboard guards it with a lock, since llama.cpp must never run two
generations on one context at once.

Timings come from `time.perf_counter` around llama-cpp-python's token generator; llama.cpp's own
counters (`llama_perf_context`) are read for the same run and kept beside them, so the two can be
compared (bench/bench_local.py).
"""

from __future__ import annotations

import codecs
import functools
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from llmledger.errors import LocalModelError

DEFAULT_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Settings:
    n_threads: int = DEFAULT_THREADS
    n_ctx: int = 512
    n_batch: int = 512
    logits_all: bool = False


@dataclass
class LoadStats:
    load_s: float
    rss_before_mb: float
    peak_rss_mb: float  # process peak while loading (high-water mark, reset before the load)


@dataclass
class RunResult:
    text: str
    input_tokens: int
    output_tokens: int
    ttft_ms: float  # prompt processing + first sampled token
    prompt_tps: float  # prompt tokens / time to first token
    gen_tps: float  # tokens after the first / time between first and last token
    e2e_ms: float
    perf_prompt_tps: float | None  # llama.cpp's own counters for the same run
    perf_gen_tps: float | None
    perf_n_eval: int | None
    peak_rss_mb: float
    stop_reason: str  # 'length' | 'eog' | 'cancelled'
    started_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict:
        return asdict(self)


# --- memory ---------------------------------------------------------------------------------


def _proc_status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def rss_mb() -> float:
    v = _proc_status_mb("VmRSS")
    if v is not None:
        return v
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS, so peaks are per phase."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    v = _proc_status_mb("VmHWM")
    if v is not None:
        return v
    import resource  # elsewhere: the process-lifetime peak, the best available

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the model ------------------------------------------------------------------------------


class ModelHost:
    """Holds the one loaded llama.cpp model."""

    def __init__(self):
        self.llm = None
        self.path: Path | None = None
        self.settings: Settings | None = None
        self.last_load: LoadStats | None = None

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
        self.llm, self.path, self.settings = None, None, None

    def load(self, path: str | Path, settings: Settings, force: bool = False) -> LoadStats:
        """Load `path` (closing whatever was loaded). Reuses the model when nothing changed."""
        path = Path(path)
        if not force and self.llm is not None and self.path == path and self.settings == settings:
            return self.last_load
        self.close()
        import llama_cpp

        before = rss_mb()
        reset_peak_rss()
        t0 = time.perf_counter()
        try:
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_batch=settings.n_batch,
                n_threads=settings.n_threads,
                n_threads_batch=settings.n_threads,
                logits_all=settings.logits_all,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise LocalModelError(f"llama.cpp could not load {path.name}: {exc}") from exc
        load_s = time.perf_counter() - t0
        self.llm, self.path, self.settings = llm, path, settings
        self.last_load = LoadStats(load_s=load_s, rss_before_mb=before, peak_rss_mb=peak_rss_mb())
        return self.last_load


@functools.lru_cache(maxsize=8)
def _chat_formatter(template: str, eos: str, bos: str):
    """Compiling a Jinja template costs more than a short generation's overhead budget: once."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)


def prompt_tokens(llm, prompt: str, chat: bool = True) -> list[int]:
    """Tokens for `prompt`, wrapped in the model's own chat template when it has one."""
    template = llm.metadata.get("tokenizer.chat_template") if chat else None
    if template:
        eos = llm.detokenize([llm.token_eos()]).decode("utf-8", "ignore")
        bos = llm.detokenize([llm.token_bos()]).decode("utf-8", "ignore") if llm.token_bos() >= 0 else ""
        text = _chat_formatter(template, eos, bos)(messages=[{"role": "user", "content": prompt}]).prompt
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    return llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)


def _perf(llm) -> tuple[float | None, float | None, int | None]:
    import llama_cpp

    try:
        p = llama_cpp.llama_perf_context(llm.ctx)
    except (AttributeError, OSError):
        return None, None, None
    ptps = p.n_p_eval / p.t_p_eval_ms * 1000 if p.t_p_eval_ms > 0 else None
    gtps = p.n_eval / p.t_eval_ms * 1000 if p.t_eval_ms > 0 else None
    return ptps, gtps, p.n_eval


def generate(
    llm,
    tokens: list[int],
    max_tokens: int,
    on_token: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Greedy generation of up to `max_tokens`, streaming each text piece to `on_token`."""
    import llama_cpp

    if max_tokens < 1:
        raise LocalModelError("max tokens must be at least 1")
    if len(tokens) + max_tokens > llm.n_ctx():
        raise LocalModelError(
            f"prompt ({len(tokens)} tokens) + {max_tokens} new tokens exceed the context of {llm.n_ctx()}"
        )
    llm.reset()  # no prefix reuse across runs: every run processes its whole prompt
    llama_cpp.llama_perf_context_reset(llm.ctx)
    reset_peak_rss()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out: list[int] = []
    pieces: list[str] = []
    stop = "length"
    t_first = t_last = None
    t0 = time.perf_counter()
    for tok in llm.generate(tokens, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
        t_last = time.perf_counter()
        if t_first is None:
            t_first = t_last
        out.append(tok)
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok):
            stop = "eog"
            break
        piece = decoder.decode(llm.detokenize([tok], prev_tokens=tokens + out[:-1]))
        if piece:
            pieces.append(piece)
            if on_token is not None:
                on_token(piece)
        if len(out) >= max_tokens:
            break
        if cancel is not None and cancel.is_set():
            stop = "cancelled"
            break
    tail = decoder.decode(b"", final=True)
    if tail:
        pieces.append(tail)
        if on_token is not None:
            on_token(tail)
    t_end = time.perf_counter()
    ttft = (t_first - t0) if t_first is not None else t_end - t0
    n = len(out)
    gen_tps = (n - 1) / (t_last - t_first) if n > 1 and t_last > t_first else 0.0
    ptps, gtps, n_eval = _perf(llm)
    return RunResult(
        text="".join(pieces),
        input_tokens=len(tokens),
        output_tokens=n,
        ttft_ms=ttft * 1000,
        prompt_tps=len(tokens) / ttft if ttft > 0 else 0.0,
        gen_tps=gen_tps,
        e2e_ms=(t_end - t0) * 1000,
        perf_prompt_tps=ptps,
        perf_gen_tps=gtps,
        perf_n_eval=n_eval,
        peak_rss_mb=peak_rss_mb(),
        stop_reason=stop,
    )


def plain_completion(llm, tokens: list[int], max_tokens: int) -> str:
    """llama-cpp-python's own non-streamed greedy completion of the same tokens (for checks)."""
    llm.reset()
    res = llm.create_completion(
        tokens, max_tokens=max_tokens, temperature=0.0, top_k=1, repeat_penalty=1.0, stream=False
    )
    return res["choices"][0]["text"]
