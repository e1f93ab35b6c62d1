"""The latency matrix: every chosen variant x prompt x repeat, timed, recorded and summarised.

`run_matrix` drives a `ModelHost` (one model in memory at a time; the caller holds the lock),
streams text through `on_token`, reports progress through `on_progress`, and stops between
tokens when `cancel` is set. Rows go to DuckDB's `local_runs` and, through `SpanEmitter`, to the
receiver as OTel GenAI spans, after each run, so neither touches the timed part.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from llmledger.errors import LocalModelError
from llmledger.local import quality, runner
from llmledger.local.models import model_label
from llmledger.local.quantize import Variant

#: Prompt sets offered by default (id, text). Short answers keep a matrix quick on a CPU.
PROMPT_SETS: dict[str, list[tuple[str, str]]] = {
    "short": [
        ("capital", "What is the capital of France? Answer in one sentence."),
        ("haiku", "Write a haiku about the sea."),
        ("explain", "Explain in two sentences what a budget is."),
    ],
    "summaries": [
        (
            "summary",
            "Summarise in one sentence: The cannery bought fish by the crate, paid by the week, "
            "and sold its tins to merchants in distant cities.",
        ),
        ("advice", "Give three short tips for keeping track of monthly expenses."),
    ],
}


def base_model_name(path) -> str:
    """'SmolLM2-135M-Instruct' for SmolLM2-135M-Instruct.Q4_1.Q8_0.gguf; file types dropped."""
    import re

    stem = model_label(path).split(".")[0]
    return re.sub(r"[-_.](f16|f32|bf16|q\d(_[0-9a-z]+)*)$", "", stem, flags=re.I) or stem


def run_model_name(v: Variant) -> str:
    """The model name runs carry in spans and llm_calls, e.g. 'SmolLM2-135M-Instruct-Q8_0'."""
    return f"{base_model_name(v.path)}-{v.name}"


class TextStream:
    """Collects streamed pieces and hands the text so far to `emit` at most every `interval_s`
    (a page redraw per token would cost more than the token). `close()` emits the rest."""

    def __init__(self, emit: Callable[[str], None], interval_s: float = 0.1):
        self.emit, self.interval_s = emit, interval_s
        self.parts: list[str] = []
        self._last = float("-inf")

    def reset(self) -> None:
        self.parts.clear()
        self._last = float("-inf")

    def __call__(self, piece: str) -> None:
        self.parts.append(piece)
        now = time.perf_counter()
        if now - self._last >= self.interval_s:
            self._last = now
            self.emit("".join(self.parts))

    def close(self) -> str:
        text = "".join(self.parts)
        self.emit(text)
        return text


@dataclass
class Matrix:
    batch_id: str
    runs: list[dict] = field(default_factory=list)
    loads: dict[str, dict] = field(default_factory=dict)
    total: int = 0
    cancelled: bool = False


def _stats(xs: list[float]) -> tuple[float, float, float]:
    """(median, min, max), NaN when there is nothing to measure."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return float("nan"), float("nan"), float("nan")
    return statistics.median(xs), min(xs), max(xs)


def run_matrix(
    host: runner.ModelHost,
    variants: list[Variant],
    prompts: list[tuple[str, str]],
    repeats: int = 3,
    max_tokens: int = 32,
    settings: runner.Settings = runner.Settings(),
    on_token: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int, dict | None, str], None] | None = None,
    cancel: threading.Event | None = None,
    record: Callable[[dict], None] | None = None,
    reload: bool = True,
) -> Matrix:
    """Run the matrix; `record(row)` is called after each run (DuckDB, spans). With `reload`
    (the default) each variant is loaded afresh so its load time and memory are measured;
    without it a variant already in memory is reused and its last load figures reported."""
    if not variants or not prompts or repeats < 1:
        raise LocalModelError("choose at least one variant, one prompt and one repeat")
    m = Matrix(batch_id=uuid.uuid4().hex[:12], total=len(variants) * len(prompts) * repeats)
    done = 0
    for v in variants:
        if cancel is not None and cancel.is_set():
            m.cancelled = True
            break
        if on_progress:
            on_progress(done, m.total, None, f"loading {v.label}")
        load = host.load(v.path, settings, force=reload)
        m.loads[v.name] = {"load_s": load.load_s, "peak_rss_mb": load.peak_rss_mb, "rss_before_mb": load.rss_before_mb}
        for pid, text in prompts:
            tokens = runner.prompt_tokens(host.llm, text)
            for rep in range(repeats):
                if cancel is not None and cancel.is_set():
                    m.cancelled = True
                    break
                if on_progress:
                    on_progress(done, m.total, None, f"{v.label} · {pid} · run {rep + 1}/{repeats}")
                started = time.time()
                res = runner.generate(host.llm, tokens, max_tokens, on_token=on_token, cancel=cancel)
                row = {
                    "run_id": uuid.uuid4().hex,
                    "batch_id": m.batch_id,
                    "started_at": datetime.fromtimestamp(started, timezone.utc),
                    "started_at_epoch": started,
                    "model": base_model_name(v.path),
                    "model_name": run_model_name(v),
                    "variant": v.name,
                    "model_path": v.path,
                    "requantized_from": v.requantized_from,
                    "prompt_id": pid,
                    "repeat": rep,
                    "n_threads": settings.n_threads,
                    "n_ctx": settings.n_ctx,
                    "max_tokens": max_tokens,
                    "load_s": load.load_s,
                    "peak_rss_mb": max(load.peak_rss_mb, res.peak_rss_mb),
                    **{
                        k: getattr(res, k)
                        for k in (
                            "input_tokens",
                            "output_tokens",
                            "ttft_ms",
                            "prompt_tps",
                            "gen_tps",
                            "e2e_ms",
                            "perf_prompt_tps",
                            "perf_gen_tps",
                            "stop_reason",
                        )
                    },
                    "output_text": res.text,
                }
                if record is not None:
                    record(row)
                m.runs.append(row)
                done += 1
                if res.stop_reason == "cancelled":
                    m.cancelled = True
                    break
                if on_progress:
                    on_progress(done, m.total, row, f"{v.label} · {pid} · run {rep + 1}/{repeats} done")
            if m.cancelled:
                break
        if m.cancelled:
            break
    return m


def summary(m: Matrix, variants: list[Variant] | None = None) -> list[dict]:
    """Per variant: load, memory, and median (spread = max - min) of each timing, plus agreement
    of greedy outputs with the least-quantized variant in the matrix."""
    by_variant: dict[str, list[dict]] = {}
    for r in m.runs:
        if r["stop_reason"] != "cancelled":
            by_variant.setdefault(r["variant"], []).append(r)
    info = {v.name: v for v in (variants or [])}
    ref_name = max(by_variant, key=lambda n: info[n].bits_per_weight if n in info else 0, default=None)

    def outputs(name: str) -> dict[str, str]:
        return {r["prompt_id"]: r["output_text"] for r in by_variant[name] if r["repeat"] == 0}

    ref = outputs(ref_name) if ref_name else {}
    rows = []
    for name, runs in by_variant.items():
        row = {
            "variant": name,
            "runs": len(runs),
            "load_s": m.loads.get(name, {}).get("load_s"),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        }
        if name in info:
            row.update(
                size_mb=info[name].size_bytes / 1e6,
                bits_per_weight=info[name].bits_per_weight,
                requantized_from=info[name].requantized_from,
            )
        for key in ("ttft_ms", "prompt_tps", "gen_tps", "e2e_ms", "perf_gen_tps"):
            med, lo, hi = _stats([r[key] for r in runs])
            row[key], row[key + "_spread"], row[key + "_min"], row[key + "_max"] = med, hi - lo, lo, hi
        mine = outputs(name)
        common = sorted(set(mine) & set(ref))
        if common:
            ag = quality.agreement([ref[p] for p in common], [mine[p] for p in common])
            row["agreement_prefix"], row["agreement_exact"] = ag["prefix"], ag["exact"]
        row["reference"] = ref_name
        rows.append(row)
    return sorted(rows, key=lambda r: r.get("bits_per_weight", 0))


# --- recording ------------------------------------------------------------------------------

RUN_COLUMNS = (
    "run_id",
    "batch_id",
    "started_at",
    "model",
    "variant",
    "model_path",
    "requantized_from",
    "prompt_id",
    "repeat",
    "n_threads",
    "n_ctx",
    "max_tokens",
    "input_tokens",
    "output_tokens",
    "load_s",
    "peak_rss_mb",
    "ttft_ms",
    "prompt_tps",
    "gen_tps",
    "e2e_ms",
    "perf_prompt_tps",
    "perf_gen_tps",
    "stop_reason",
    "output_text",
    "trace_id",
    "span_id",
)
INSERT_RUN_SQL = f"INSERT INTO local_runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})"
INSERT_QUALITY_SQL = """
    INSERT INTO local_quality (model, variant, model_path, perplexity, nll, n_scored, n_ctx, text_sha256)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
RECENT_RUNS_SQL = """
    SELECT started_at, model, variant, prompt_id, repeat, input_tokens, output_tokens,
           round(ttft_ms, 1) AS ttft_ms, round(gen_tps, 1) AS gen_tps, round(e2e_ms, 1) AS e2e_ms, stop_reason
    FROM local_runs ORDER BY started_at DESC LIMIT ?
"""


class Recorder:
    """Writes each run to DuckDB and emits it as a span (either part may be absent)."""

    def __init__(self, con=None, emitter=None):
        self.con, self.emitter = con, emitter

    def __call__(self, row: dict) -> None:
        if self.emitter is not None:
            row["trace_id"], row["span_id"] = self.emitter.emit(row)
        if self.con is not None:
            self.con.execute(INSERT_RUN_SQL, [row.get(c) for c in RUN_COLUMNS])

    def quality(self, v: Variant, p: quality.Perplexity) -> None:
        if self.con is not None:
            self.con.execute(
                INSERT_QUALITY_SQL,
                [base_model_name(v.path), v.name, v.path, p.perplexity, p.nll, p.n_scored, p.n_ctx, p.text_sha256],
            )

    def flush(self) -> None:
        if self.emitter is not None:
            self.emitter.flush()


def recent_runs(con, limit: int = 50):
    return con.execute(RECENT_RUNS_SQL, [limit]).df()


def measure_quality(
    host: runner.ModelHost,
    variants: list[Variant],
    settings: runner.Settings,
    max_windows: int | None = None,
    on_progress=None,
    cancel=None,
) -> dict[str, quality.Perplexity]:
    """Perplexity of each variant on the shipped text (loads each with logits_all=True)."""
    out = {}
    ppl_settings = runner.Settings(
        n_threads=settings.n_threads,
        n_ctx=min(settings.n_ctx, 256),
        n_batch=min(settings.n_batch, 256),
        logits_all=True,
    )
    for i, v in enumerate(variants):
        if cancel is not None and cancel.is_set():
            break
        if on_progress:
            on_progress(i, len(variants), None, f"perplexity of {v.label}")
        host.load(v.path, ppl_settings)
        out[v.name] = quality.perplexity(host.llm, max_windows=max_windows)
    host.close()  # the next latency run loads with its own settings
    return out
