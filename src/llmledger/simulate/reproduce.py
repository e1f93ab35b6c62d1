"""Published figures next to what the simulator computes from the same data.

Each Reproduction holds the published numbers (taken from the shipped files, or quoted from the
paper with its citation), ours, what ours rest on, and, where they differ, an explanation built
from computed facts (which models, which split, how many training queries), never invented ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmledger.errors import SimulationError
from llmledger.simulate import cascade as cascade_mod
from llmledger.simulate import router as router_mod
from llmledger.simulate.datasets import (
    DATA_DIR,
    ROUTELLM_STRONG,
    ROUTELLM_WEAK,
    OutcomeDataset,
    _read_text,
    frugalgpt_summary,
    load_builtin,
)
from llmledger.simulate.metrics import first_crossing

ROUTELLM_PAPER = "Ong et al., RouteLLM: Learning to Route LLMs with Preference Data, arXiv 2406.18665"
ROUTELLM_README = "lm-sys/RouteLLM benchmarks/README.md @ 0b64fdaf"
FRUGALGPT_PAPER = "Chen, Zaharia, Zou, FrugalGPT, arXiv 2305.05176; summary_OVERRULING_e5_full_2024.csv @ 2b23e6ac"

#: RouteLLM's headline: cost saved versus GPT-4 alone while keeping 95% of GPT-4's quality
#: (paper abstract and blog, lmsys.org/blog/2024-07-01-routellm).
ROUTELLM_HEADLINES = {"routellm-mtbench": 0.85, "routellm-mmlu": 0.45, "routellm-gsm8k": 0.35}


def published_commercial() -> dict[str, dict[str, float]]:
    """The figures RouteLLM's benchmarks/README.md states for Unify and Martian, read from the
    shipped README: MT-Bench score, % GPT-4 calls, and the % RouteLLM's router needed for the
    same score."""
    text = _read_text(DATA_DIR / "routellm" / "benchmarks" / "README.md")
    unify = re.search(r"MT Bench score of `([\d.]+)` with `([\d.]+)%` of calls routed to GPT-4", text)
    martian = re.search(r"we obtain a MT Bench score of `([\d.]+)`\. In comparison", text)
    same = re.findall(r"same performance with ([\d.]+)% GPT-4 calls", text)
    if not (unify and martian and len(same) == 2):
        raise SimulationError("RouteLLM's benchmarks/README.md no longer states the commercial router figures")
    return {
        "unify": {
            "mt_bench": float(unify.group(1)),
            "gpt4_share": float(unify.group(2)) / 100,
            "routellm_share_same_score": float(same[0]) / 100,
        },
        "martian": {"mt_bench": float(martian.group(1)), "routellm_share_same_score": float(same[1]) / 100},
    }


@dataclass
class Reproduction:
    """One published claim and our figure for it. `published` and `ours` are {label: number};
    `rests_on` says what our figure rests on, `explanation` (computed) why they differ, if they
    do; `matches` is True when ours is within `tolerance` of the published figure."""

    name: str
    citation: str
    published: dict[str, Any]
    ours: dict[str, Any]
    rests_on: list[str] = field(default_factory=list)
    explanation: str = ""
    matches: bool | None = None
    detail: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "citation": self.citation,
            "published": self.published,
            "ours": self.ours,
            "rests_on": self.rests_on,
            "explanation": self.explanation,
            "matches": self.matches,
        }


def _close(a: float | None, b: float | None, tol: float) -> bool | None:
    if a is None or b is None:
        return None
    return abs(a - b) <= tol


# ---------------------------------------------------------------------- FrugalGPT
def split_half(n: int, seed: int = 0) -> np.ndarray:
    """A boolean test mask over n queries: half of them, at random (FrugalGPT splits 50/50)."""
    test = np.zeros(n, bool)
    test[np.random.default_rng(seed).permutation(n)[: n // 2]] = True
    return test


def _published_frugalgpt() -> dict[str, Any]:
    df = frugalgpt_summary("OVERRULING")
    fg = df[df["Method"] == "FrugalGPT"].sort_values("Test_cost")
    singles = df[df["Method"] != "FrugalGPT"]
    best = singles.sort_values(["Test_acc", "Test_cost"], ascending=[False, True]).iloc[0]
    reading = _curve_reading(
        fg["Test_acc"].tolist(), fg["Test_cost"].tolist(), float(best["Test_acc"]), float(best["Test_cost"])
    )
    reading.pop("index_matching_best")
    return {
        "models": sorted(singles["Method"]),
        "best_model": str(best["Method"]),
        "best_model_accuracy": float(best["Test_acc"]),
        "best_model_cost_per_query": float(best["Test_cost"]),
        **reading,
        "curve": fg[["Test_acc", "Test_cost", "Budget"]].to_dict(orient="records"),
    }


def _curve_reading(acc: list[float], cost: list[float], best_acc: float, best_cost: float) -> dict[str, Any]:
    """What a cascade curve (accuracy, cost per query) says against the best single model: its
    best accuracy, the cheapest cost reaching the model's accuracy (and the saving), and the
    best accuracy within the model's cost (and the gain)."""
    acc_a, cost_a = np.asarray(acc, float), np.asarray(cost, float)
    reach = np.flatnonzero(acc_a >= best_acc - 1e-12)
    within = np.flatnonzero(cost_a <= best_cost + 1e-12)
    i = int(reach[np.argmin(cost_a[reach])]) if len(reach) else None
    return {
        "cascade_best_accuracy": float(acc_a.max()),
        "cascade_cost_matching_best_per_query": None if i is None else float(cost_a[i]),
        "cost_saved_matching_best": None if i is None else 1 - float(cost_a[i]) / best_cost,
        "accuracy_gain_at_best_cost": None if not len(within) else float(acc_a[within].max() - best_acc),
        "index_matching_best": i,
    }


def frugalgpt_overruling(seed: int = 0, folds: int = 5, grid: int = 21) -> list[Reproduction]:
    """FrugalGPT's OVERRULING summary next to our cascade on the per-query table: the scorer
    and the cascade (order and thresholds, up to 3 models cheapest first) are chosen on a random
    half and measured on the other half, as FrugalGPT does."""
    ds = load_builtin("frugalgpt-overruling")
    pub = _published_frugalgpt()
    test = split_half(ds.n_queries, seed)
    train_rows, test_rows = np.flatnonzero(~test), np.flatnonzero(test)
    conf, note = cascade_mod.confidence_for(ds, "learned", folds=folds, seed=seed, holdout=test)
    chosen = cascade_mod.search_orders(ds, conf, max_len=3, grid=grid, rows=train_rows, scorer="learned")
    acc_test = ds.scores[test].mean(axis=0)
    cost_test = ds.costs[test].mean(axis=0)
    best_j = max(range(len(ds.models)), key=lambda j: (acc_test[j], -cost_test[j]))
    best_name = ds.models[best_j]

    def on_test(row) -> dict[str, float]:
        order = row["order"].split(" > ")
        cols = [ds.models.index(m) for m in order]
        r = cascade_mod.run_cascade(ds, order, conf[:, cols], list(row["thresholds"]), rows=test_rows)
        return {"order": row["order"], "accuracy": r.accuracy, "cost_per_query": r.cost_usd / len(test_rows)}

    # Every frontier point chosen on the train half, measured on the test half; then the same
    # readings as for the published test curve.
    curve = [on_test(r) for _, r in chosen.frontier.iterrows()]
    # FrugalGPT's own budgets (USD per query): the cascade chosen on the train half within each,
    # measured on the test half.
    at_budgets = []
    for p in pub["curve"]:
        row = chosen.best_under(float(p["Budget"]) * len(train_rows))
        got = on_test(row) if row is not None else None
        at_budgets.append(
            {
                "budget_per_query": float(p["Budget"]),
                "published_accuracy": float(p["Test_acc"]),
                "published_cost_per_query": float(p["Test_cost"]),
                "our_accuracy": None if got is None else got["accuracy"],
                "our_cost_per_query": None if got is None else got["cost_per_query"],
                "our_order": None if got is None else got["order"],
            }
        )
    best_acc, best_cost = float(acc_test[best_j]), float(cost_test[best_j])
    reading = _curve_reading([p["accuracy"] for p in curve], [p["cost_per_query"] for p in curve], best_acc, best_cost)
    match_i = reading.pop("index_matching_best")
    ours = {
        "models": list(ds.models),
        "best_model": best_name,
        "best_model_accuracy": best_acc,
        "best_model_cost_per_query": best_cost,
        **reading,
        "order_matching_best": None if match_i is None else curve[match_i]["order"],
        "curve": curve,
    }
    common = sorted(set(pub["models"]) & set(ds.models))
    explanation = (
        f"The published OVERRULING curve is over {len(pub['models'])} APIs of 2024 ({', '.join(pub['models'])}); "
        f"the per-query table holds {len(ds.models)} APIs of 2023 ({', '.join(ds.models)}); "
        + (f"{len(common)} in both ({', '.join(common)})" if common else "no API is in both")
        + ", so the published points cannot be recomputed from it. Compared instead: what the cascade saves "
        f"while matching the best single API (published {pub['best_model']}, ours {best_name}) and what it gains at "
        "that API's cost, each on a held-out half."
    )
    if ours["cost_saved_matching_best"] is not None and pub["cost_saved_matching_best"] is not None:
        explanation += (
            f" Published saving {100 * pub['cost_saved_matching_best']:.1f}%, ours {100 * ours['cost_saved_matching_best']:.1f}%"
            f" (per-query cost of the cheapest to the dearest API: {float(cost_test.max() / cost_test.min()):.0f}x in the "
            f"2023 set, {max(_single_costs()) / min(_single_costs()):.0f}x in the 2024 one)."
        )
    g = ds.index("gpt-4") if "gpt-4" in ds.models else best_j
    vs_gpt4 = _curve_reading(
        [p["accuracy"] for p in curve], [p["cost_per_query"] for p in curve], float(acc_test[g]), float(cost_test[g])
    )
    vs_gpt4.pop("index_matching_best")
    headline = Reproduction(
        name="FrugalGPT headline against GPT-4 (OVERRULING)",
        citation="Chen, Zaharia, Zou, FrugalGPT, arXiv 2305.05176 (abstract)",
        published={"cost_saved_matching_gpt4_up_to": 0.98, "accuracy_gain_at_gpt4_cost_up_to": 0.04},
        ours={
            "gpt4_accuracy": float(acc_test[g]),
            "gpt4_cost_per_query": float(cost_test[g]),
            "cost_saved_matching_gpt4": vs_gpt4["cost_saved_matching_best"],
            "accuracy_gain_at_gpt4_cost": vs_gpt4["accuracy_gain_at_best_cost"],
        },
        rests_on=[note, f"held-out half of {len(test_rows)} queries", f"cost: {ds.cost_basis}"],
        explanation=(
            "The paper's figures are the best over its datasets ('up to'); OVERRULING is one of them. "
            f"GPT-4 scores {float(acc_test[g]):.4f} on the held-out half at ${float(cost_test[g]):.6f} per query."
        ),
        matches=None,
    )
    done = [b for b in at_budgets if b["our_accuracy"] is not None]
    if done:
        mid = done[len(done) // 2]
        explanation += (
            f" At FrugalGPT's budget of ${mid['budget_per_query']:.6f} per query, its cascade reached "
            f"{mid['published_accuracy']:.4f} for ${mid['published_cost_per_query']:.6f}; ours, chosen within the same "
            f"budget on the other API set, {mid['our_accuracy']:.4f} for ${mid['our_cost_per_query']:.6f} ({mid['our_order']})."
        )
    return [
        headline,
        Reproduction(
            name="FrugalGPT cascade on OVERRULING",
            citation=FRUGALGPT_PAPER,
            published={k: v for k, v in pub.items() if k != "curve"},
            ours={k: v for k, v in ours.items() if k != "curve"},
            rests_on=[
                note,
                "cascade order and thresholds chosen on a random half (seed "
                f"{seed}), measured on the other {len(test_rows)} queries",
                f"cost: {ds.cost_basis}",
            ],
            explanation=explanation,
            matches=_close(ours["cost_saved_matching_best"], pub["cost_saved_matching_best"], 0.10) if common else None,
            detail={"published_curve": pub["curve"], "our_curve": curve, "at_published_budgets": at_budgets},
        ),
    ]


def _single_costs() -> list[float]:
    df = frugalgpt_summary("OVERRULING")
    return [float(c) for c in df[df["Method"] != "FrugalGPT"]["Test_cost"]]


# ---------------------------------------------------------------------- RouteLLM: commercial routers
def _jsonl(path) -> list[dict]:
    return [json.loads(line) for line in _read_text(path).splitlines() if line.strip()]


def commercial_scores() -> dict[str, dict[str, Any]]:
    """Unify's and Martian's MT-Bench scores recomputed from the judgement file (FastChat's
    mean over all turns, leaving out judgements that failed to parse, score -1), and the share of
    answers the answer file attributes to GPT-4."""
    base = DATA_DIR / "routellm" / "benchmarks" / "mt-bench"
    judged = _jsonl(next(base.glob("gpt-4_single.jsonl*")))
    out: dict[str, dict[str, Any]] = {}
    for name in ("unify", "martian"):
        scores = [float(j["score"]) for j in judged if j["model"] == name]
        valid = [s for s in scores if s >= 0]
        answers = _jsonl(next(base.glob(f"{name}.jsonl*")))
        ids = [a.get("model_id", "") for a in answers]
        gpt4 = sum(1 for m in ids if "gpt-4" in m)
        out[name] = {
            "mt_bench": float(np.mean(valid)),
            "judgements": len(scores),
            "failed_judgements": len(scores) - len(valid),
            "answers": len(answers),
            "gpt4_answers": gpt4,
            "gpt4_share_of_answers": gpt4 / len(answers)
            if answers and any("gpt-4" in m or "mixtral" in m for m in ids)
            else None,
            "model_ids": sorted(set(ids)),
        }
    return out


def routellm_commercial(seed: int = 0, folds: int = 5) -> list[Reproduction]:
    """RouteLLM benchmarks/README.md: Unify 8.757862 on MT-Bench with 45.625% GPT-4 calls and
    Martian 8.3125, recomputed from the judgement files; with the strong share our router (and
    the oracle) needs for the same score on RouteLLM's MT-Bench data."""
    got = commercial_scores()
    ds = load_builtin("routellm-mtbench")
    ds = ds.subset(~ds.flags["contaminated"])
    ls = router_mod.learned_scores(ds, ROUTELLM_STRONG, ROUTELLM_WEAK, folds=folds, seed=seed)
    learned = router_mod.sweep(ds, ROUTELLM_STRONG, ROUTELLM_WEAK, ls.scores, 1000, source="learned")
    oracle = router_mod.sweep(
        ds, ROUTELLM_STRONG, ROUTELLM_WEAK, router_mod.oracle_scores(ds, ROUTELLM_STRONG, ROUTELLM_WEAK), 1000
    )

    def share_for(curve, score: float) -> float | None:
        p = curve.points.sort_values("strong_share")
        return first_crossing(p["strong_share"].to_numpy(), p["accuracy"].to_numpy() * ds.score_scale, score)

    out = []
    published = published_commercial()
    for name in ("unify", "martian"):
        pub = published[name]
        g = got[name]
        ours = {
            "mt_bench": g["mt_bench"],
            "failed_judgements_left_out": g["failed_judgements"],
            "gpt4_share_of_answers": g["gpt4_share_of_answers"],
            "learned_router_share_same_score": share_for(learned, pub["mt_bench"]),
            "oracle_share_same_score": share_for(oracle, pub["mt_bench"]),
        }
        parts = [
            f"{name}'s score recomputed from {g['judgements']} judgements"
            + (
                f", leaving out {g['failed_judgements']} that failed to parse (score -1), as FastChat does"
                if g["failed_judgements"]
                else ""
            )
            + f": {g['mt_bench']:.6f}."
        ]
        weak_alone = float(ds.scores[:, ds.index(ROUTELLM_WEAK)].mean() * ds.score_scale)
        strong_alone = float(ds.scores[:, ds.index(ROUTELLM_STRONG)].mean() * ds.score_scale)
        ours["weak_alone"], ours["strong_alone"] = weak_alone, strong_alone
        if name == "unify":
            turns = 2 * g["answers"]
            parts.append(
                f"The answer file has one model_id per question: GPT-4 on {g['gpt4_answers']} of {g['answers']} "
                f"({100 * g['gpt4_answers'] / g['answers']:.1f}%). The published {100 * pub['gpt4_share']:.3f}% is "
                f"{pub['gpt4_share'] * turns:.0f} of {turns} turns, a per-turn count the file does not record."
            )
        else:
            parts.append(
                "Martian's API does not say which model answered (RouteLLM estimated ~50% GPT-4 from a cost cap), and "
                "per benchmarks/README.md it routed between GPT-4 Turbo and Llama 2 70B Chat, the pair RouteLLM's "
                f"{100 * pub['routellm_share_same_score']:.2f}% refers to. On the GPT-4/Mixtral data Mixtral alone scores "
                f"{weak_alone:.4f}, "
                + ("already above" if weak_alone >= pub["mt_bench"] else f"{pub['mt_bench'] - weak_alone:.4f} below")
                + " Martian's score, so the shares below do not compare with that figure."
            )
        parts.append(
            f"Our router is trained on {ds.n_queries} MT-Bench questions ({folds}-fold cross-validated, about "
            f"{ds.n_queries * (folds - 1) // folds} per fold); RouteLLM's on Chatbot Arena preference votes, "
            f"so it needs {_fmt_share(ours['learned_router_share_same_score'])} GPT-4 calls where RouteLLM's needs "
            f"{100 * pub['routellm_share_same_score']:.2f}% (the oracle: {_fmt_share(ours['oracle_share_same_score'])})."
        )
        out.append(
            Reproduction(
                name=f"{name.capitalize()} router on MT-Bench",
                citation=ROUTELLM_README,
                published=dict(pub),
                ours=ours,
                rests_on=[
                    "scores: GPT-4-judge judgements in benchmarks/mt-bench/gpt-4_single.jsonl",
                    f"our router: {ls.note}, on RouteLLM's MT-Bench judgements after its decontamination",
                ],
                explanation=" ".join(parts),
                matches=_close(g["mt_bench"], pub["mt_bench"], 5e-5),
            )
        )
    return out


def _fmt_share(v: float | None) -> str:
    return "more than 100% (never reaches it)" if v is None else f"{100 * v:.1f}%"


# ---------------------------------------------------------------------- RouteLLM: headlines
def routellm_headlines(folds: int = 5, seed: int = 0, keys: tuple[str, ...] | None = None) -> list[Reproduction]:
    """RouteLLM's headline savings at 95% of GPT-4's quality (MT-Bench 85%, MMLU 45%, GSM8K 35%)
    next to the oracle's and our learned router's on the same (decontaminated) data."""
    out = []
    for key in keys or tuple(ROUTELLM_HEADLINES):
        full = load_builtin(key)
        ds = full.subset(~full.flags["contaminated"])
        ls = router_mod.learned_scores(ds, ROUTELLM_STRONG, ROUTELLM_WEAK, folds=folds, seed=seed)
        learned = router_mod.sweep(ds, ROUTELLM_STRONG, ROUTELLM_WEAK, ls.scores, 1000, source="learned")
        oracle = router_mod.sweep(
            ds, ROUTELLM_STRONG, ROUTELLM_WEAK, router_mod.oracle_scores(ds, ROUTELLM_STRONG, ROUTELLM_WEAK), 1000
        )
        rnd = router_mod.sweep(ds, ROUTELLM_STRONG, ROUTELLM_WEAK, router_mod.random_scores(ds, seed), 1000)
        pub = ROUTELLM_HEADLINES[key]
        lm, om = learned.metrics, oracle.metrics
        weak_acc, strong_acc = ds.accuracy()[ds.index(ROUTELLM_WEAK)], ds.accuracy()[ds.index(ROUTELLM_STRONG)]
        ours = {
            "cost_saved_at_95": lm["cost_saved_at_95"],
            "strong_calls_saved_at_95": None if lm["share_at_95"] is None else 1 - lm["share_at_95"],
            "oracle_cost_saved_at_95": om["cost_saved_at_95"],
            "random_cost_saved_at_95": rnd.metrics["cost_saved_at_95"],
            "apgr": lm["apgr"],
            "cpt50": lm["cpt50"],
            "cpt80": lm["cpt80"],
            "weak_quality": float(weak_acc * ds.score_scale),
            "strong_quality": float(strong_acc * ds.score_scale),
        }
        pgr95 = (0.95 * strong_acc - weak_acc) / (strong_acc - weak_acc)
        expl = [
            f"On {ds.n_queries} queries (RouteLLM's decontaminated set), Mixtral scores "
            f"{100 * weak_acc / strong_acc:.1f}% of GPT-4, so 95% of GPT-4 means recovering "
            f"{100 * max(pgr95, 0):.0f}% of the gap."
        ]
        if ours["cost_saved_at_95"] is not None and abs(ours["cost_saved_at_95"] - pub) > 0.05:
            expl.append(
                f"Our router saves {100 * ours['cost_saved_at_95']:.1f}% against the published {100 * pub:.0f}%; "
                f"it is trained on this benchmark's own {ds.n_queries} queries by {folds}-fold cross-validation, "
                "RouteLLM's on Chatbot Arena preference data with augmentation."
            )
            rnd95 = rnd.metrics["cost_saved_at_95"]
            if rnd95 is not None and abs(ours["cost_saved_at_95"] - rnd95) < 0.02:
                expl.append(f"Here it does no better than the random router ({100 * rnd95:.1f}%).")
            if om["cost_saved_at_95"] is not None and om["cost_saved_at_95"] < pub:
                expl.append(
                    f"Even the oracle saves only {100 * om['cost_saved_at_95']:.1f}% here, so no router reaches the "
                    "published figure when it is measured this way (token-priced cost at 95% of GPT-4's mean score on this data)."
                )
        out.append(
            Reproduction(
                name=f"RouteLLM headline on {ds.name.removeprefix('RouteLLM ')}",
                citation=ROUTELLM_PAPER,
                published={"cost_saved_at_95": pub},
                ours=ours,
                rests_on=[ls.note, f"quality: {ds.score_basis}", f"cost: {ds.cost_basis}"],
                explanation=" ".join(expl),
                matches=_close(ours["cost_saved_at_95"], pub, 0.05),
            )
        )
    return out


def all_reproductions(seed: int = 0, progress=None) -> list[Reproduction]:
    """Every reproduction; `progress(done, total, what)` after each group."""
    steps = [
        ("FrugalGPT OVERRULING", lambda: frugalgpt_overruling(seed)),
        ("RouteLLM commercial routers", lambda: routellm_commercial(seed)),
        *((f"RouteLLM {k}", lambda k=k: routellm_headlines(seed=seed, keys=(k,))) for k in ROUTELLM_HEADLINES),
    ]
    out: list[Reproduction] = []
    for i, (what, step) in enumerate(steps):
        out += step()
        if progress:
            progress(i + 1, len(steps), what)
    return out


def reproduction_dataset(key: str) -> OutcomeDataset:
    """The dataset a reproduction runs on (decontaminated for RouteLLM's, as RouteLLM does)."""
    ds = load_builtin(key)
    return ds.subset(~ds.flags["contaminated"]) if "contaminated" in ds.flags else ds
