"""What-if lab: routers and cascades simulated on per-query outcome data (no Streamlit here).

Layer: beside planning/alerts/local; imports reads, pricing, tokens and store only.

Public API (issue #14; the What-if page, `whatif traffic` and scenarios build on it):

Datasets (simulate.datasets; the type lives in simulate.outcomes, the RouteLLM and FrugalGPT
loaders in simulate.published, both re-exported by simulate.datasets)
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
    random_scores(ds, seed=0); oracle_scores(ds, strong, weak) (the strong model's gain);
    imported_scores(ds, name)
    learned_scores(ds, strong, weak, folds=5, seed=0, progress=None) -> LearnedScores
        hashed word 1-2 grams, IDF and logistic regression per fold, K-fold cross-validated: no
        query is scored by a model that saw it (LearnedScores.fold_of / .train_rows show it).
    sweep(ds, strong, weak, scores, thresholds=1000, source="", rows=None) -> RouterCurve
        RouterCurve.points: DataFrame(threshold, strong_share, accuracy, cost_usd[, latency_ms])
        RouterCurve.metrics: routellm_metrics(...) of the curve; .at_share(p); .as_dict()
    route(ds, strong, weak, source="learned"|"oracle"|"random"|<imported name>, ...) -> RouterCurve
        (scores + sweep + .rests_on)
    random_line(ds, strong, weak) / oracle_line(ds, strong, weak): the baseline and the bound
    route_n(ds, predicted, cost_weight): N models, argmax(predicted - cost_weight x cost)
    progress callbacks are (done, total, what)

Cascade (simulate.cascade): try models in order; accept tier i when confidence_i >= threshold_i
    run_cascade(ds, order, confidence, thresholds, rows=None) -> CascadeResult (accuracy,
        cost_usd total, latency_ms mean, accept_share per tier, tier per query)
    oracle_confidence(ds, models=None); learned_confidence(ds, models=None, folds=5, seed=0,
        holdout=None, progress=None) (P(answer good) per query and model, cross-validated; also
        the `predicted` input of route_n); confidence_for(ds, scorer, ...) -> (conf, rests_on)
    search_thresholds(ds, order, confidence, grid=21, rows=None) -> CascadeFrontier
    search_orders(ds, confidence, models=None, max_len=3, grid=21, ...) -> CascadeFrontier
        (FrugalGPT style: every subset of up to 3 models, cheapest first)
    cascade(ds, order=None, scorer="learned"|"oracle", ...) -> CascadeFrontier (the whole what-if)
    CascadeFrontier.points: DataFrame(order, thresholds, accuracy, cost_usd, latency_ms,
        strong_share, accept_shares, pareto); .frontier; .best_under(budget_usd);
        .budget_curve(budgets, per_query=False) (best quality per budget); .cheapest_reaching(accuracy)

One document (simulate.report): dataset_report(ds, strong=None, weak=None, cascade_order=None,
    router_source=None, scorer=None, ...) -> what `whatif dataset --json` prints.

Reproductions (simulate.reproduce): each returns Reproduction(name, citation, published, ours,
rests_on, explanation, matches, detail) so the page can set published and computed figures side
by side: frugalgpt_overruling(); routellm_commercial(); routellm_headlines(); all_reproductions().

Errors: llmledger.errors.SimulationError (a LedgerError) with a message naming the problem.
"""

from llmledger.errors import SimulationError

# The dataset names are re-exported lazily: store.db imports simulate.schema on every connect(),
# and that must not pull in pandas, numpy and scikit-learn through this package.
_DATASET_NAMES = (
    "BuiltinDataset",
    "OutcomeDataset",
    "builtin_datasets",
    "load_builtin",
    "load_dataset",
    "parse_long_csv",
)

__all__ = ["SimulationError", *_DATASET_NAMES]


def __getattr__(name: str):
    if name in _DATASET_NAMES:
        from llmledger.simulate import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'llmledger.simulate' has no attribute {name!r}")
