"""Cascade what-ifs: one cascade by hand, the vectorised threshold search against run_cascade,
the oracle scorer, the frontier and FrugalGPT's order search on OVERRULING."""

from __future__ import annotations

import numpy as np
import pytest

from llmledger.errors import SimulationError
from llmledger.simulate import cascade
from llmledger.simulate.datasets import OutcomeDataset, load_builtin, parse_long_csv

HAND = """query_id,model,correct,cost_usd,latency_ms,query
q1,small,1,1,10,easy one
q1,mid,1,3,30,easy one
q1,big,1,10,100,easy one
q2,small,0,1,10,medium one
q2,mid,1,3,30,medium one
q2,big,1,10,100,medium one
q3,small,0,1,10,hard one
q3,mid,0,3,30,hard one
q3,big,1,10,100,hard one
q4,small,1,1,10,tricky one
q4,mid,0,3,30,tricky one
q4,big,0,10,100,tricky one
"""


def test_one_cascade_by_hand():
    ds = parse_long_csv(HAND)
    order = ["small", "mid", "big"]
    conf = np.array([[0.9, 0.9, 0.9], [0.2, 0.8, 0.9], [0.1, 0.4, 0.9], [0.3, 0.9, 0.9]])
    r = cascade.run_cascade(ds, order, conf, [0.5, 0.5])
    # q1 accepted by small; q2 by mid; q3 reaches big; q4 small rejected (0.3), mid accepts (wrong)
    assert r.tier.tolist() == [0, 1, 2, 1]
    assert r.accuracy == pytest.approx((1 + 1 + 1 + 0) / 4)
    assert r.cost_usd == pytest.approx(1 + (1 + 3) + (1 + 3 + 10) + (1 + 3))
    assert r.latency_ms == pytest.approx((10 + 40 + 140 + 40) / 4)
    assert r.accept_share == [0.25, 0.5, 0.25]


def test_oracle_scorer_accepts_exactly_the_right_answers():
    ds = parse_long_csv(HAND)
    order = ["small", "mid", "big"]
    r = cascade.run_cascade(ds, order, cascade.oracle_confidence(ds, order), [1.0, 1.0])
    assert r.tier.tolist() == [0, 1, 2, 0]
    assert r.accuracy == 1.0
    assert r.cost_usd == pytest.approx(1 + 4 + 14 + 1)


def random_dataset(n=300, m=4, seed=0, latency=True) -> OutcomeDataset:
    rng = np.random.default_rng(seed)
    return OutcomeDataset(
        name="random",
        source="test",
        query_ids=[str(i) for i in range(n)],
        models=[f"m{j}" for j in range(m)],
        scores=(rng.random((n, m)) < np.linspace(0.4, 0.9, m)).astype(float),
        costs=rng.random((n, m)) * np.array([1, 3, 9, 27][:m]),
        score_basis="generated",
        cost_basis="generated",
        latency_ms=rng.random((n, m)) * 100 if latency else None,
    )


@pytest.mark.parametrize("order", [["m0", "m2"], ["m0", "m1", "m3"], ["m1", "m0", "m2", "m3"]])
def test_threshold_search_equals_running_each_cascade(order):
    ds = random_dataset()
    conf = np.random.default_rng(1).random((ds.n_queries, len(order)))
    fr = cascade.search_thresholds(ds, order, conf, grid=6)
    assert len(fr.points) > 1
    for row in fr.points.itertuples():
        r = cascade.run_cascade(ds, order, conf, list(row.thresholds))
        assert row.accuracy == pytest.approx(r.accuracy)
        assert row.cost_usd == pytest.approx(r.cost_usd)
        assert row.latency_ms == pytest.approx(r.latency_ms)
        assert list(row.accept_shares) == pytest.approx(r.accept_share)
        assert row.strong_share == pytest.approx(r.accept_share[-1])


def test_search_on_held_out_rows():
    ds = random_dataset()
    conf = np.random.default_rng(2).random((ds.n_queries, 2))
    rows = np.arange(0, 300, 3)
    fr = cascade.search_thresholds(ds, ["m0", "m3"], conf, grid=5, rows=rows)
    row = fr.points.iloc[2]
    r = cascade.run_cascade(ds, ["m0", "m3"], conf, list(row["thresholds"]), rows=rows)
    assert row["accuracy"] == pytest.approx(r.accuracy) and row["cost_usd"] == pytest.approx(r.cost_usd)
    assert fr.queries == 100


def test_frontier_and_budget_reading():
    ds = random_dataset()
    conf = cascade.oracle_confidence(ds)
    fr = cascade.search_orders(ds, conf, max_len=3, grid=5, scorer="oracle")
    # every subset of up to 3 of 4 models: 4 + 6 + 4 orders, each cheapest first
    assert fr.points["order"].nunique() == 14
    total = ds.total_cost()
    for name in fr.points["order"].unique():
        costs = [total[ds.index(m)] for m in name.split(" > ")]
        assert costs == sorted(costs)
    front = fr.frontier
    assert (np.diff(front["cost_usd"]) > 0).all() and (np.diff(front["accuracy"]) > 0).all()
    for _, p in fr.points.iterrows():  # nothing beats a frontier point on both axes
        better = front[(front["cost_usd"] <= p["cost_usd"]) & (front["accuracy"] >= p["accuracy"])]
        assert p["pareto"] or len(better)
    budget = float(front["cost_usd"].iloc[1])
    best = fr.best_under(budget)
    assert (
        best["cost_usd"] <= budget and best["accuracy"] == fr.points[fr.points["cost_usd"] <= budget]["accuracy"].max()
    )
    assert fr.best_under(-1) is None
    curve = fr.budget_curve([-1, budget, 1e9])
    assert np.isnan(curve["accuracy"].iloc[0])
    assert curve["accuracy"].iloc[1] == best["accuracy"] and curve["cost_usd"].iloc[1] <= budget
    assert curve["accuracy"].iloc[2] == fr.points["accuracy"].max()
    per_q = fr.budget_curve([budget / ds.n_queries], per_query=True)
    assert per_q["accuracy"].iloc[0] == best["accuracy"]
    assert per_q["cost_usd"].iloc[0] == pytest.approx(best["cost_usd"] / ds.n_queries)
    assert (np.diff(fr.budget_curve()["accuracy"]) >= 0).all()
    target = float(front["accuracy"].iloc[-1])
    assert fr.cheapest_reaching(target)["cost_usd"] == front["cost_usd"].iloc[-1]


def test_bad_cascades_are_named():
    ds = parse_long_csv(HAND)
    with pytest.raises(SimulationError, match="appears twice"):
        cascade.run_cascade(ds, ["small", "small"], np.zeros((4, 2)), [0.5])
    with pytest.raises(SimulationError, match="no model 'tiny'"):
        cascade.cascade(ds, order=["tiny", "big"], scorer="oracle")
    with pytest.raises(SimulationError, match="needs 1 threshold"):
        cascade.run_cascade(ds, ["small", "big"], np.zeros((4, 2)), [0.5, 0.5])
    with pytest.raises(SimulationError, match="unknown scorer"):
        cascade.cascade(ds, order=["small", "big"], scorer="magic")


def test_learned_scorer_holds_out_and_uses_answers():
    ds = load_builtin("frugalgpt-overruling").subset(models=["gptj_6B", "gpt-3.5-turbo", "gpt-4"])
    test = np.zeros(ds.n_queries, bool)
    test[::2] = True
    conf = cascade.learned_confidence(ds, folds=3, holdout=test)
    assert conf.shape == (ds.n_queries, 3) and ((conf >= 0) & (conf <= 1)).all()
    # the scorer knows something: good answers get higher confidence on held-out rows
    good = cascade.good_labels(ds)
    for j in range(3):
        g, b = conf[test & (good[:, j] == 1), j], conf[test & (good[:, j] == 0), j]
        if len(b) > 10:
            assert g.mean() > b.mean()


def test_overruling_search_over_orders():
    ds = load_builtin("frugalgpt-overruling")
    fr = cascade.cascade(ds, scorer="oracle", grid=5)
    assert fr.points["order"].nunique() == 12 + 66 + 220
    gpt4 = ds.index("gpt-4")
    # the oracle cascade matches GPT-4's accuracy for far less than GPT-4's cost
    match = fr.cheapest_reaching(float(ds.scores[:, gpt4].mean()))
    assert match is not None and match["cost_usd"] < ds.costs[:, gpt4].sum() / 2
    assert "latency: not in the dataset" in fr.rests_on
