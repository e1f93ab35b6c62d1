"""Token counting speed: registry vs raw tiktoken, and corpus throughput of count_many.

Run: .venv/bin/python -m bench.bench_tokens [--mb 8] [--repeats 3]
Writes bench/results/tokens.json. The corpus is built offline from the Python standard
library's source files (English comments, docstrings and code) plus the multilingual
token-tax samples, cut into documents of 200-4,000 characters.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sysconfig
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from llmledger.tokens import count_many, count_text, get, load_samples
from llmledger.tokens.registry import use_litellm_tiktoken_cache

OUT = Path(__file__).resolve().parent / "results" / "tokens.json"


def build_corpus(mb: float, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.glob("*.py"))
    samples = list(load_samples().values())
    docs, size, target = [], 0, int(mb * 1_000_000)
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        i = 0
        while i < len(text) and size < target:
            n = rng.randint(200, 4000)
            docs.append(text[i : i + n])
            size += len(docs[-1])
            i += n
            if rng.random() < 0.1:  # some non-English documents
                docs.append(rng.choice(samples) * rng.randint(1, 6))
                size += len(docs[-1])
        if size >= target:
            break
    return docs


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


_proc_tok = None


def _proc_init(name: str) -> None:
    global _proc_tok
    _proc_tok = get(name)


def _proc_count(texts: list[str]) -> list[int]:
    return _proc_tok.count_batch(texts)


def count_processes(texts: list[str], name: str, workers: int) -> list[int]:
    """Alternative measured against threads: one tokenizer per worker process."""
    step = max(1, len(texts) // (workers * 8))
    chunks = [texts[i : i + step] for i in range(0, len(texts), step)]
    with ProcessPoolExecutor(workers, initializer=_proc_init, initargs=(name,)) as pool:
        return [n for part in pool.map(_proc_count, chunks) for n in part]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=3.0, help="corpus size in MB of text")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    corpus = build_corpus(args.mb)
    chars = sum(map(len, corpus))
    cpus = os.cpu_count() or 1
    res: dict = {
        "machine": {
            "cpus": cpus,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "corpus": {"documents": len(corpus), "chars": chars, "mb": round(chars / 1e6, 2)},
        "repeats": args.repeats,
    }

    # 1. Registry vs raw tiktoken, one document at a time (the Estimate page's hot path).
    # The machine is shared, so variants are interleaved within each repeat and both the best
    # wall time and the best CPU time of this thread are kept; ratios use CPU time.
    use_litellm_tiktoken_cache()
    import tiktoken

    overhead = {}
    for name in ("o200k_base", "cl100k_base"):
        enc = tiktoken.get_encoding(name)
        tok = get(name)
        variants = {
            "raw_tiktoken_encode": lambda: [len(enc.encode(t)) for t in corpus],
            "raw_tiktoken_encode_ordinary": lambda: [len(enc.encode_ordinary(t)) for t in corpus],
            "registry_get_count": lambda: [tok.count(t) for t in corpus],
            "registry_count_text": lambda: [count_text(t, tokenizer=name).tokens for t in corpus],
        }
        wall = {k: float("inf") for k in variants}
        cpu = {k: float("inf") for k in variants}
        for r in range(args.repeats * 2 + 1):
            order = list(variants)
            random.Random(r).shuffle(order)
            for k in order:
                w0, c0 = time.perf_counter(), time.thread_time()
                variants[k]()
                cpu[k] = min(cpu[k], time.thread_time() - c0)
                wall[k] = min(wall[k], time.perf_counter() - w0)
        row = {f"{k}_cpu_s": round(v, 4) for k, v in cpu.items()}
        row.update({f"{k}_wall_s": round(v, 4) for k, v in wall.items()})
        row["ratio_count_text_vs_raw_encode"] = round(cpu["registry_count_text"] / cpu["raw_tiktoken_encode"], 3)
        row["ratio_get_count_vs_raw_encode"] = round(cpu["registry_get_count"] / cpu["raw_tiktoken_encode"], 3)
        row["ratio_get_count_vs_raw_encode_ordinary"] = round(
            cpu["registry_get_count"] / cpu["raw_tiktoken_encode_ordinary"], 3
        )
        overhead[name] = row
    res["registry_vs_raw_tiktoken"] = overhead

    # 2. Corpus throughput of count_many per tokenizer and worker count (MB/s of text).
    through: dict = {}
    worker_counts = sorted({1, 2, cpus, 4})
    for name in ("o200k_base", "claude", "smollm2", "gemma3"):
        tok = get(name)
        row: dict = {}
        seq = best(lambda: [tok.count(t) for t in corpus], args.repeats)
        row["sequential_count_mb_s"] = round(chars / 1e6 / seq, 2)
        for w in worker_counts:
            t = best(lambda: count_many(corpus, tok, workers=w), args.repeats)
            row[f"count_many_workers{w}_mb_s"] = round(chars / 1e6 / t, 2)
        if name == "o200k_base":
            t = best(lambda: enc_batch(corpus, cpus), args.repeats)
            row[f"raw_encode_ordinary_batch_threads{cpus}_mb_s"] = round(chars / 1e6 / t, 2)
        if name == "claude":
            # threads over chunks (not what count_many does for this kind) and processes
            from concurrent.futures import ThreadPoolExecutor

            step = max(1, len(corpus) // (cpus * 8))
            chunks = [corpus[i : i + step] for i in range(0, len(corpus), step)]
            with ThreadPoolExecutor(cpus) as pool:
                t = best(lambda: list(pool.map(tok.count_batch, chunks)), args.repeats)
            row[f"threads{cpus}_over_batches_mb_s"] = round(chars / 1e6 / t, 2)
            t = best(lambda: count_processes(corpus, name, cpus), 1)
            row[f"processes{cpus}_incl_startup_mb_s"] = round(chars / 1e6 / t, 2)
        through[name] = row
    res["count_many_throughput"] = through

    # 3. Consistency: every path gives the same counts.
    tok = get("o200k_base")
    res["consistent"] = count_many(corpus, tok, workers=cpus) == [tok.count(t) for t in corpus]

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))
    return res


def enc_batch(corpus, threads):
    import tiktoken

    return [len(x) for x in tiktoken.get_encoding("o200k_base").encode_ordinary_batch(corpus, num_threads=threads)]


if __name__ == "__main__":
    main()
