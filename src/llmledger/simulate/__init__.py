"""What-if lab: routers and cascades simulated on per-query outcome data (no Streamlit here).

Layer: beside planning/alerts/local; imports reads, pricing, tokens and store only.

Public API (issue #14; the What-if page, `whatif traffic` and scenarios build on it):

Datasets (simulate.datasets)
    OutcomeDataset                      per-query outcomes: .scores and .costs are (n_queries, n_models)
                                        float arrays (score in 0..1, cost in USD), .latency_ms optional,
                                        .queries (text) optional, .router_scores {name: (n,) array},
                                        .groups (fold groups, e.g. an MT-Bench question's turns),
                                        .cost_basis / .score_basis / .notes: what each number rests on.
    load_dataset(path, fmt="auto", sheet=None, con=None, strong=None, weak=None) -> OutcomeDataset
        fmt: "auto" | "long" | "routellm-mmlu" | "routellm-gsm8k" | "routellm-mtbench" | "frugalgpt"
    parse_long_csv(data: bytes | str, name="upload", sheet=None, con=None) -> OutcomeDataset
    builtin_datasets() -> list[BuiltinDataset]      the shipped examples (data/routing/)
    load_builtin(key) -> OutcomeDataset             "routellm-mmlu", "routellm-gsm8k", ...
    frugalgpt_summary(dataset="OVERRULING") -> DataFrame   FrugalGPT's published curve

Summary points and metrics (simulate.metrics)
    model_points(ds) -> {model: {"queries", "accuracy", "cost_usd"}}
    oracle_point(ds, models=None) -> {"accuracy", "cost_usd", "picks": {model: n}}
    pareto_mask(cost, quality) -> bool array (points no other point beats on both)
    routellm_metrics(strong_share, accuracy, weak_acc, strong_acc, cost=None, strong_cost=None)
        -> {"cpt50", "cpt80", "apgr", "cost_saved_at_95"}   (RouteLLM's definitions, see there)

Router (simulate.router): a score per query; strong model when score >= threshold
    random_scores(ds, seed=0); oracle_scores(ds, strong, weak); imported_scores(ds, name)
    learned_scores(ds, strong, weak, folds=5, seed=0, progress=None) -> LearnedScores
        TF-IDF + logistic regression on the query text, K-fold cross-validated: no query is scored
        by a model that saw it in training (LearnedScores.fold_of tells which fold scored it).
    sweep(ds, strong, weak, scores, thresholds=1000, source="") -> RouterCurve
        RouterCurve.points: DataFrame(threshold, strong_share, accuracy, cost_usd[, latency_ms])
        RouterCurve.metrics: routellm_metrics(...) of the curve
    route_n(ds, models, scores_by_model, ...) (N-model routing: pick the argmax of utility)

Cascade (simulate.cascade): try models in order; accept tier i when confidence_i >= threshold_i
    run_cascade(ds, order, confidence, thresholds) -> CascadeResult (accuracy, cost_usd,
        latency_ms, accept_share per tier, per-query tier)
    oracle_confidence(ds, order); learned_confidence(ds, order, folds=5, seed=0, progress=None)
    search_thresholds(ds, order, confidence, grid=...) -> CascadeFrontier
        .points: DataFrame(thresholds, strong_share, accuracy, cost_usd, latency_ms, pareto)
        .best_under(budget_usd) -> the row with the best accuracy at cost <= budget
    search_orders(ds, max_len=3, scorer="learned"|"oracle", ...) -> CascadeFrontier over orders
        (FrugalGPT style: subsets of up to 3 models, cheapest first)

Reproductions (simulate.reproduce): each returns Reproduction(name, published, ours, rests_on,
explanation) so the page can set published and computed figures side by side.
    frugalgpt_overruling(); routellm_commercial(); routellm_headlines(); all_reproductions()

Errors: llmledger.errors.SimulationError (a LedgerError) with a message naming the problem.
"""

from llmledger.errors import SimulationError
from llmledger.simulate.datasets import (
    BuiltinDataset,
    OutcomeDataset,
    builtin_datasets,
    load_builtin,
    load_dataset,
    parse_long_csv,
)

__all__ = [
    "BuiltinDataset",
    "OutcomeDataset",
    "SimulationError",
    "builtin_datasets",
    "load_builtin",
    "load_dataset",
    "parse_long_csv",
]
