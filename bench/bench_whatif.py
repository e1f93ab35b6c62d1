"""How fast the What-if lab's engine answers, on the shipped outcome data (issue #14 targets):

- `router_sweep_mmlu`: 1,000 router thresholds over RouteLLM MMLU's 14,042 queries
  (simulate.router.sweep, RouteLLM's metrics included); target < 200 ms;
- `router_train_cv_mmlu`: train and 5-fold cross-validate the text router on MMLU
  (simulate.router.learned_scores: hashed 1-2 grams, IDF and logistic regression per fold);
  target < 60 s on 2 cores;
- `cascade_search_overruling`: FrugalGPT's search over FrugalGPT OVERRULING (12 APIs, 2,160
  queries): every subset of up to 3 APIs cheapest first (298 orders), 21 thresholds per tier
  (98,418 cascades) and the Pareto frontier (simulate.cascade.search_orders), with the
  confidences already computed; target < 5 s. `cascade_scorer_overruling` times training the
  learned scorer (12 APIs x 5 folds) on its own.
- `load_*`: loading each built-in dataset (token counting for RouteLLM's included).

Medians of repeated runs; the machine is named in the output, since a shared machine is slower.
Writes bench/results/bench_whatif.json.

    .venv/bin/python -m bench.bench_whatif [--runs 20] [--train-runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "bench_whatif.json"


def timed(fn, runs: int) -> dict:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[min(len(times) - 1, int(0.9 * len(times)))], 2),
        "min_ms": round(times[0], 2),
        "runs": runs,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--train-runs", type=int, default=1)
    args = ap.parse_args(argv)

    from llmledger.simulate import cascade, router
    from llmledger.simulate.datasets import load_builtin

    out: dict = {
        "what": "What-if lab engine on the shipped RouteLLM MMLU and FrugalGPT OVERRULING data",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg_1m": os.getloadavg()[0]},
    }
    for key in ("routellm-mmlu", "routellm-gsm8k", "routellm-mtbench", "frugalgpt-overruling"):
        out[f"load_{key}"] = timed(lambda key=key: load_builtin(key), 1)

    mmlu = load_builtin("routellm-mmlu")
    strong, weak = mmlu.default_pair()
    scores = router.random_scores(mmlu)
    out["router_sweep_mmlu"] = {
        "queries": mmlu.n_queries,
        "thresholds": 1000,
        **timed(lambda: router.sweep(mmlu, strong, weak, scores, thresholds=1000), args.runs),
        "target_ms": 200,
    }
    learned = {}

    def train():
        learned["scores"] = router.learned_scores(mmlu, strong, weak, folds=5)

    out["router_train_cv_mmlu"] = {
        "queries": mmlu.n_queries,
        "folds": 5,
        **timed(train, args.train_runs),
        "target_ms": 60_000,
    }
    curve = router.sweep(mmlu, strong, weak, learned["scores"].scores, thresholds=1000)
    out["router_train_cv_mmlu"]["apgr"] = round(curve.metrics["apgr"], 4)
    out["router_train_cv_mmlu"]["cost_saved_at_95"] = round(curve.metrics["cost_saved_at_95"], 4)

    over = load_builtin("frugalgpt-overruling")
    conf = {}

    def scorer():
        conf["c"] = cascade.learned_confidence(over, folds=5)

    out["cascade_scorer_overruling"] = {"models": len(over.models), "folds": 5, **timed(scorer, args.train_runs)}
    result = {}

    def search():
        result["fr"] = cascade.search_orders(over, conf["c"], max_len=3, grid=21, scorer="learned")

    out["cascade_search_overruling"] = {
        "queries": over.n_queries,
        "models": len(over.models),
        **timed(search, max(3, args.runs // 4)),
        "target_ms": 5_000,
    }
    fr = result["fr"]
    out["cascade_search_overruling"]["orders"] = int(fr.points["order"].nunique())
    out["cascade_search_overruling"]["cascades"] = int(len(fr.points))
    out["cascade_search_overruling"]["frontier_points"] = int(fr.points["pareto"].sum())
    out["machine"]["load_avg_1m_end"] = os.getloadavg()[0]

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
