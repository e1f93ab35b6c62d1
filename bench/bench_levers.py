"""What-if lab II levers (issue #18): the cache simulation over 1M calls (target < 1 s), prefix
analysis over 100k prompts (target < 10 s), compression with SmolLM2 (prompt tokens/s against
llama.cpp's own prompt-eval rate, target within 10%) and the semantic-cache sweep over 10k prompts,
embeddings included (target < 60 s on 2 cores).

Synthetic traffic, seeded: 1M calls over 30 days drawn from 50k distinct prompts (Zipf-like
popularity, a fifth of them re-spelled in case and spacing); 100k prompts made of one of 20
system prompts (~1,200 tokens each, o200k_base) and a unique question, over 7 days; 20 prompts
of ~150 tokens for compression; 10k support questions (semantic_calls). Median of --runs runs
for the cache simulation. Writes bench/results/bench_levers.json (parts not run keep theirs).

    .venv/bin/python -m bench.bench_levers [--calls 1000000] [--prompts 100000] [--runs 3]
        [--parts response,prefix,compress,semantic]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from llmledger.simulate.levers import ModelPrices, compress, prompt_cache, response_cache
from llmledger.simulate.levers.response import ttl_hits

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "bench_levers.json"
PRICES = {"gpt-4o": ModelPrices("gpt-4o", 2.5, 10.0, 1.25), "gpt-4o-mini": ModelPrices("gpt-4o-mini", 0.15, 0.6)}
WORDS = "refund parcel order invoice login password account delivery customs discount policy warranty".split()


def timed(fn, runs: int) -> tuple[float, float, object]:
    """(median wall seconds, median CPU seconds of this process, last result)."""
    walls, cpus, out = [], [], None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return round(statistics.median(walls), 3), round(statistics.median(cpus), 3), out


def cache_calls(n: int, distinct: int, rng) -> pd.DataFrame:
    base = [f"Question {i}: what about my {WORDS[i % len(WORDS)]}?" for i in range(distinct)]
    texts = np.array(base + [t.upper().replace(" ", "  ") for t in base[: distinct // 5]], dtype=object)
    pick = np.minimum((rng.pareto(1.2, n) * distinct / 50).astype(np.int64), len(texts) - 1)
    return pd.DataFrame(
        {
            "time": pd.to_datetime("2026-11-01", utc=True) + pd.to_timedelta(rng.uniform(0, 30 * 86400, n), "s"),
            "model": np.where(rng.random(n) < 0.8, "gpt-4o-mini", "gpt-4o"),
            "input_tokens": rng.integers(20, 2000, n),
            "output_tokens": rng.integers(5, 500, n),
            "cost_usd": rng.uniform(1e-5, 1e-2, n),
            "input_text": texts[pick],
        }
    )


def prefix_calls(n: int, rng) -> pd.DataFrame:
    systems = []
    for s in range(20):
        r = np.random.default_rng(s)
        lines = [" ".join(r.choice(WORDS, 12)) + f" (rule {s}.{k})." for k in range(70)]
        systems.append(f"You are assistant {s}.\n" + "\n".join(lines) + "\n")
    sys_pick = rng.integers(0, 20, n)
    texts = [
        systems[s] + f"User {i}: please help with {WORDS[i % len(WORDS)]} number {i * 7919 % 100003}"
        for i, s in enumerate(sys_pick)
    ]
    return pd.DataFrame(
        {
            "time": pd.to_datetime("2026-11-01", utc=True)
            + pd.to_timedelta(np.sort(rng.uniform(0, 7 * 86400, n)), "s"),
            "model": "gpt-4o",
            "input_tokens": 1400,
            "output_tokens": 100,
            "cost_usd": (1400 * 2.5 + 100 * 10) / 1e6,
            "input_text": texts,
        }
    )


VERBS = "change reset cancel track update return".split()
PHRASES = [
    "How do I {v} my {n}?",
    "how can i {v} my {n}",
    "What is the way to {v} my {n}?",
    "I need to {v} my {n}. How?",
    "Please tell me how to {v} my {n}.",
]


def semantic_calls(n: int, rng) -> pd.DataFrame:
    """Support questions: 72 intents (verb x noun) in 5 phrasings each (same answer), and order
    look-ups that differ only in the order number (similar prompts, different answers: the false
    hits a semantic cache risks), drawn with Zipf-like popularity over 7 days."""
    prompts, answers = [], []
    for v in VERBS:
        for w in WORDS:
            for p in PHRASES:
                prompts.append(p.format(v=v, n=w))
                answers.append(f"To {v} your {w}, open Settings > {w.title()} and choose {v.title()}.")
    for k in range(8000):
        prompts.append(f"Where is my order number {10_000 + k}? It has not arrived yet.")
        answers.append(f"Order {10_000 + k} is {['in transit', 'delivered', 'delayed at customs'][k % 3]}.")
    prompts, answers = np.array(prompts, dtype=object), np.array(answers, dtype=object)
    pick = np.minimum((rng.pareto(1.0, n) * len(prompts) / 8).astype(np.int64), len(prompts) - 1)
    pick = rng.permutation(len(prompts))[pick]
    return pd.DataFrame(
        {
            "time": pd.to_datetime("2026-11-01", utc=True)
            + pd.to_timedelta(np.sort(rng.uniform(0, 7 * 86400, n)), "s"),
            "model": "gpt-4o-mini",
            "input_tokens": 60,
            "output_tokens": 30,
            "cost_usd": (60 * 0.15 + 30 * 0.6) / 1e6,
            "input_text": ["You are Acme's helpdesk. Answer in one sentence.\n" + p for p in prompts[pick]],
            "output_text": answers[pick],
        }
    )


def bench_semantic(n: int) -> dict:
    from llmledger.simulate.levers import embedding
    from llmledger.simulate.levers.semantic import semantic_cache

    sf = semantic_calls(n, np.random.default_rng(7))
    embedding._CACHE.clear()  # embeddings included: nothing cached from an earlier run
    embedding._load()  # the model is loaded once per process (reported apart)
    la = load()
    total, cpu, r = timed(lambda: semantic_cache(sf, threshold=0.9, ttl_s=3600), 1)
    sw = r.tables["sweep"].set_index("threshold")
    m = r.metrics
    return {
        "prompts": n,
        "distinct_prompts": m["distinct_prompts"],
        "embedded_tokens": m["embedded_tokens"],
        "seconds": round(total, 2),
        "cpu_s": cpu,
        "embed_s": m["embed_s"],
        "embed_tokens_per_s": round(m["embedded_tokens"] / m["embed_s"], 1) if m["embed_s"] else None,
        "search_and_sweep_s": round(total - m["embed_s"], 2),
        "thresholds": len(sw),
        "hit_rate_at_0.90": round(float(sw.loc[0.9, "hit_rate"]), 4),
        "false_hit_rate_at_0.90": round(float(sw.loc[0.9, "false_hit_rate"]), 4),
        "hit_rate_identical_only": round(float(sw.loc[1.0, "hit_rate"]), 4),
        "hit_rate_at_0.80": round(float(sw.loc[0.8, "hit_rate"]), 4),
        "false_hit_rate_at_0.80": round(float(sw.loc[0.8, "false_hit_rate"]), 4),
        "model": m["embedding"]["model"],
        "target_s": 60.0,
        "load_average": [la, load()],
        "note": "one run, embeddings included (cache cleared; model load apart), the sweep over every threshold; "
        "synthetic support questions in 5 phrasings plus order look-ups differing only in the number",
    }


def load() -> float:
    return round(os.getloadavg()[0], 1)


def bench_response(calls: int, runs: int) -> dict:
    df = cache_calls(calls, 50_000, np.random.default_rng(18))
    keys = pd.factorize(df["input_text"])[0]
    t_ms = df["time"].dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype(np.int64)
    la = load()
    core_s, core_cpu, _ = timed(lambda: ttl_hits(keys, t_ms, 3_600_000), runs)
    exact_s, exact_cpu, ex = timed(lambda: response_cache(df, ttl_s=3600, mode="exact"), runs)
    norm_s, norm_cpu, no = timed(lambda: response_cache(df, ttl_s=3600, mode="normalised"), runs)
    return {
        "calls": calls,
        "distinct_prompts": int(df["input_text"].nunique()),
        "ttl_hits_core_s": core_s,
        "exact_s": exact_s,
        "normalised_s": norm_s,
        "exact_cpu_s": exact_cpu,
        "normalised_cpu_s": norm_cpu,
        "ttl_hits_core_cpu_s": core_cpu,
        "exact_hit_rate": round(ex.metrics["hit_rate"], 4),
        "normalised_hit_rate": round(no.metrics["hit_rate"], 4),
        "target_s": 1.0,
        "load_average": [la, load()],
        "note": f"median of {runs} runs; exact/normalised: the whole lever (input checks, keys from text, "
        "simulation, tables); ttl_hits_core_s: the simulation on integer keys; *_cpu_s: this process's CPU "
        "time (what the lever costs when the machine is not shared)",
    }


def bench_prefix(prompts: int) -> dict:
    pf = prefix_calls(prompts, np.random.default_rng(19))
    la = load()
    wall, cpu, r = timed(lambda: prompt_cache(pf, PRICES, lifetime="5m", min_prefix=1024), 1)
    return {
        "prompts": prompts,
        "mean_prompt_chars": int(pf["input_text"].str.len().mean()),
        "seconds": wall,
        "cpu_s": cpu,
        "hit_rate": round(r.metrics["hit_rate"], 4),
        "read_tokens": r.metrics["read_tokens"],
        "write_tokens": r.metrics["write_tokens"],
        "target_s": 10.0,
        "load_average": [la, load()],
        "note": "one run: lines found in the texts' Arrow buffer, each distinct line tokenised once (o200k_base), "
        "then the windowed LCP analysis; cpu_s: this process's CPU time",
    }


def bench_compression(n: int) -> dict:
    texts = [
        " ".join(np.random.default_rng(i).choice(WORDS, 60))
        + f". Customer {i} wrote on day {i % 28 + 1} about order {1000 + i}."
        for i in range(n)
    ]
    cf = pd.DataFrame(
        {
            "time": range(len(texts)),
            "model": "gpt-4o-mini",
            "input_tokens": 150,
            "output_tokens": 20,
            "cost_usd": 3.5e-5,
            "input_text": texts,
        }
    )
    la = load()
    c = compress(cf, PRICES, keep=0.5, sample=len(texts))
    ours, theirs = c.metrics["scorer_tokens_per_s"], c.metrics["llama_prompt_eval_tokens_per_s"]
    return {
        "prompts": len(texts),
        "scorer_tokens": c.metrics["scorer_tokens"],
        "tokens_per_s": round(ours, 1),
        "llama_prompt_eval_tokens_per_s": round(theirs, 1),
        "ours_vs_llama": round(ours / theirs, 3),
        "target": "within 10% of llama.cpp's prompt-eval rate (ours_vs_llama >= 0.9)",
        "real_ratio": round(c.metrics["real_ratio"], 3),
        "target_keep": 0.5,
        "load_average": [la, load()],
    }


PARTS = ("response", "prefix", "compress", "semantic")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--prompts", type=int, default=100_000)
    ap.add_argument("--compress-prompts", type=int, default=20)
    ap.add_argument("--semantic-prompts", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"which parts to run ({','.join(PARTS)}); the others keep their figures in the JSON",
    )
    a = ap.parse_args(argv)
    parts = [p.strip() for p in a.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        ap.error(f"unknown part(s) {', '.join(bad)}; parts: {', '.join(PARTS)}")
    out: dict = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    out["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, shared with other jobs (load average {load()} at the "
        "start of this run; each part records its own): figures are pessimistic"
    )
    runs = {
        "response": ("response_cache", lambda: bench_response(a.calls, a.runs)),
        "prefix": ("prefix_analysis", lambda: bench_prefix(a.prompts)),
        "compress": ("compression", lambda: bench_compression(a.compress_prompts)),
        "semantic": ("semantic_cache", lambda: bench_semantic(a.semantic_prompts)),
    }
    for p in parts:
        key, fn = runs[p]
        out[key] = {**fn(), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        print(key, json.dumps(out[key]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
