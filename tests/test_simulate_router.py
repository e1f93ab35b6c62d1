"""Router what-ifs: the vectorised sweep against a plain loop, the random router's straight line,
the oracle bound, RouteLLM's metrics, and cross-validation that never trains on what it scores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger.errors import SimulationError
from llmledger.simulate import router
from llmledger.simulate.datasets import OutcomeDataset, parse_long_csv
from llmledger.simulate.metrics import first_crossing, pareto_mask, routellm_metrics


def synthetic(n: int, seed: int = 0, text: bool = False) -> OutcomeDataset:
    """Weak right 60% of the time, strong 80%, costs 1 and 20 per query (plus noise)."""
    rng = np.random.default_rng(seed)
    weak = (rng.random(n) < 0.6).astype(float)
    strong = (rng.random(n) < 0.8).astype(float)
    costs = np.column_stack([1 + rng.random(n), 20 + rng.random(n)])
    queries = None
    if text:
        # a query says whether it is hard; hard ones only the strong model gets right
        hard = rng.random(n) < 0.3
        weak = np.where(hard, 0.0, 1.0)
        strong = np.ones(n)
        queries = [("hard integral " if h else "easy sum ") + f"item{i}" for i, h in enumerate(hard)]
    return OutcomeDataset(
        name="synthetic",
        source="test",
        query_ids=[str(i) for i in range(n)],
        models=["weak", "strong"],
        scores=np.column_stack([weak, strong]),
        costs=costs,
        score_basis="generated",
        cost_basis="generated",
        queries=queries,
    )


def brute_force(ds, scores, thresholds):
    s, w = ds.index("strong"), ds.index("weak")
    out = []
    for t in thresholds:
        pick = scores >= t
        acc = np.where(pick, ds.scores[:, s], ds.scores[:, w]).mean()
        cost = np.where(pick, ds.costs[:, s], ds.costs[:, w]).sum()
        out.append((pick.mean(), acc, cost))
    return np.array(out)


def test_sweep_equals_a_plain_loop_with_ties():
    ds = synthetic(500, seed=3)
    scores = np.round(np.random.default_rng(1).random(500), 1)  # many ties
    curve = router.sweep(ds, "strong", "weak", scores, thresholds=50)
    expect = brute_force(ds, scores, curve.points["threshold"].to_numpy())
    got = curve.points[["strong_share", "accuracy", "cost_usd"]].to_numpy()
    assert np.allclose(got, expect)


def test_sweep_spans_weak_to_strong():
    ds = synthetic(1000)
    curve = router.sweep(ds, "strong", "weak", router.random_scores(ds), thresholds=1000)
    p = curve.points.sort_values("strong_share")
    first, last = p.iloc[0], p.iloc[-1]
    assert first["strong_share"] == 0 and last["strong_share"] == 1
    assert first["accuracy"] == pytest.approx(ds.scores[:, 0].mean())
    assert last["accuracy"] == pytest.approx(ds.scores[:, 1].mean())
    assert first["cost_usd"] == pytest.approx(ds.costs[:, 0].sum())
    assert last["cost_usd"] == pytest.approx(ds.costs[:, 1].sum())


def test_random_router_is_a_straight_line_between_the_two_models():
    ds = synthetic(40_000, seed=5)
    line = router.random_line(ds, "strong", "weak")
    assert line["accuracy"].iloc[0] == pytest.approx(ds.scores[:, 0].mean())
    assert line["accuracy"].iloc[-1] == pytest.approx(ds.scores[:, 1].mean())
    assert np.allclose(np.diff(line["accuracy"], 2), 0) and np.allclose(np.diff(line["cost_usd"], 2), 0)
    for seed in range(3):
        curve = router.sweep(ds, "strong", "weak", router.random_scores(ds, seed), thresholds=200)
        x = curve.points["strong_share"].to_numpy()
        expect = np.interp(x, line["strong_share"], line["accuracy"])
        assert np.abs(curve.points["accuracy"] - expect).max() < 0.01
        expect_cost = np.interp(x, line["strong_share"], line["cost_usd"])
        assert np.abs(curve.points["cost_usd"] - expect_cost).max() < 0.01 * ds.costs[:, 1].sum()
        # RouteLLM's metrics of a straight line: APGR 0.5, CPT(x%) = x
        assert curve.metrics["apgr"] == pytest.approx(0.5, abs=0.02)
        assert curve.metrics["cpt50"] == pytest.approx(0.5, abs=0.03)
        assert curve.metrics["cpt80"] == pytest.approx(0.8, abs=0.03)


def test_oracle_is_an_upper_bound_and_reaches_the_oracle_point():
    ds = synthetic(2000, seed=2)
    oracle = router.sweep(ds, "strong", "weak", router.oracle_scores(ds, "strong", "weak"), thresholds=1000)
    rnd = router.sweep(ds, "strong", "weak", router.random_scores(ds), thresholds=1000)
    best = np.maximum(ds.scores[:, 0], ds.scores[:, 1]).mean()
    assert oracle.points["accuracy"].max() == pytest.approx(best)
    bound = router.oracle_line(ds, "strong", "weak", shares=rnd.points["strong_share"].to_numpy())
    assert (rnd.points["accuracy"].to_numpy() <= bound["accuracy"].to_numpy() + 1e-9).all()
    assert bound["accuracy"].max() == pytest.approx(best)
    # the sweep over oracle scores reaches the line (at most that share of strong calls) until
    # only queries the strong model loses on are left
    on = router.oracle_line(ds, "strong", "weak", shares=oracle.points["strong_share"].to_numpy())
    assert (oracle.points["accuracy"] <= on["accuracy"] + 1e-9).all()
    useful = oracle.points["strong_share"] <= (router.oracle_scores(ds, "strong", "weak") >= 0).mean()
    assert np.allclose(on["accuracy"][useful], oracle.points["accuracy"][useful])


def test_metrics_on_a_hand_made_curve():
    # weak 0.5, strong 1.0; the curve reaches 0.75 (PGR 50%) at 20% strong calls, 0.9 (80%) at 40%
    share = np.array([0.0, 0.2, 0.4, 1.0])
    acc = np.array([0.5, 0.75, 0.9, 1.0])
    cost = np.array([1.0, 3.0, 5.0, 11.0])
    m = routellm_metrics(share, acc, weak_acc=0.5, strong_acc=1.0, cost=cost, strong_cost=11.0)
    assert m["cpt50"] == pytest.approx(0.2) and m["cpt80"] == pytest.approx(0.4)
    auc = 0.2 * (0.5 + 0.75) / 2 + 0.2 * (0.75 + 0.9) / 2 + 0.6 * (0.9 + 1.0) / 2
    assert m["auc"] == pytest.approx(auc)
    assert m["apgr"] == pytest.approx((auc - 0.5) / 0.5)
    # 95% of strong = 0.95: halfway between 0.4 (0.9) and 1.0 (1.0) -> share 0.7, cost 8
    assert m["share_at_95"] == pytest.approx(0.7) and m["cost_at_95"] == pytest.approx(8.0)
    assert m["cost_saved_at_95"] == pytest.approx(1 - 8 / 11)
    assert first_crossing(share, acc, 2.0) is None


def test_pareto_mask():
    cost = np.array([1, 2, 2, 3, 4, 0.5])
    qual = np.array([0.5, 0.6, 0.55, 0.6, 0.9, 0.1])
    assert pareto_mask(cost, qual).tolist() == [True, True, False, False, True, True]


def test_cross_validation_never_trains_on_the_query_it_scores():
    ds = synthetic(300, text=True)
    ls = router.learned_scores(ds, "strong", "weak", folds=5)
    assert sorted(set(ls.fold_of)) == [0, 1, 2, 3, 4]
    for k, train in enumerate(ls.train_rows):
        assert not set(train) & set(np.flatnonzero(ls.fold_of == k))
        assert len(train) + (ls.fold_of == k).sum() == ds.n_queries


def test_cross_validated_scores_cannot_memorise():
    """Random labels on unique texts: a model scoring its own training rows would get them
    right (memorising each text's unique word); cross-validated scores are at chance."""
    from llmledger.simulate.router import cross_val_proba, hashed_text

    rng = np.random.default_rng(0)
    n = 400
    texts = [f"token{i}" for i in range(n)]
    labels = (rng.random(n) < 0.5).astype(int)
    folds = np.arange(n) % 5
    cv, _ = cross_val_proba(texts, labels, folds)
    cv_acc = ((cv >= 0.5) == labels).mean()
    assert 0.35 < cv_acc < 0.65
    # the same pipeline scoring its training rows memorises them: the test above can fail
    from sklearn.linear_model import LogisticRegression

    x = hashed_text(texts)
    insample = LogisticRegression(C=100, solver="liblinear").fit(x, labels).predict(x)
    assert (insample == labels).mean() > 0.95


def test_held_out_rows_are_never_trained_on():
    from llmledger.simulate.router import cross_val_proba

    n = 100
    texts = [("hard " if i % 2 else "easy ") + str(i) for i in range(n)]
    labels = np.arange(n) % 2
    folds = np.arange(n) % 4
    folds[80:] = -1
    _, train_sets = cross_val_proba(texts, labels, folds)
    assert len(train_sets) == 5
    for t in train_sets:
        assert not set(t) & set(range(80, 100))
    assert sorted(train_sets[-1]) == list(range(80))


def test_duplicate_texts_share_a_fold():
    text = "query_id,model,correct,cost_usd,query\n" + "".join(
        f"{i},a,{i % 2},1,{'same question' if i < 6 else f'q{i}'}\n{i},b,1,2,{'same question' if i < 6 else f'q{i}'}\n"
        for i in range(30)
    )
    ds = parse_long_csv(text)
    folds = router.fold_ids(ds, 5)
    assert len(set(folds[:6])) == 1


def test_learned_router_beats_random_on_a_learnable_task():
    ds = synthetic(600, text=True)
    learned = router.route(ds, "strong", "weak", source="learned", thresholds=200)
    rnd = router.route(ds, "strong", "weak", source="random", thresholds=200)
    oracle = router.route(ds, "strong", "weak", source="oracle", thresholds=200)
    assert learned.metrics["apgr"] > 0.97 * oracle.metrics["apgr"]
    assert learned.metrics["apgr"] > rnd.metrics["apgr"] + 0.2
    assert any("cross-validated" in r for r in learned.rests_on)


def test_imported_scores_and_bad_input():
    text = "query_id,model,correct,cost_usd,router_vendor\n1,a,0,1,0.9\n1,b,1,5,0.9\n2,a,1,1,0.1\n2,b,1,5,0.1\n"
    ds = parse_long_csv(text)
    curve = router.route(ds, "b", "a", source="vendor", thresholds=10)
    assert curve.points["accuracy"].max() == 1.0
    assert curve.at_share(0.5)["cost_usd"] == pytest.approx(1 + 5 + 0)  # q1 strong, q2 weak
    with pytest.raises(SimulationError, match="no imported router score 'nope'.*vendor"):
        router.route(ds, "b", "a", source="nope")
    with pytest.raises(SimulationError, match="no query text"):
        router.route(ds, "b", "a", source="learned")
    with pytest.raises(SimulationError, match="must differ"):
        router.sweep(ds, "a", "a", np.zeros(2))
    with pytest.raises(SimulationError, match="one finite number per query"):
        router.sweep(ds, "b", "a", np.array([0.1, np.nan]))


def test_n_model_routing_trades_cost_for_quality():
    text = "query_id,model,correct,cost_usd\n" + "".join(
        f"{i},small,{int(i % 3 == 0)},1\n{i},mid,{int(i % 3 != 2)},3\n{i},big,1,10\n" for i in range(30)
    )
    ds = parse_long_csv(text)
    cheap = router.route_n(ds, ds.scores, cost_weight=1.0)
    rich = router.route_n(ds, ds.scores, cost_weight=0.0)
    assert cheap["cost_usd"] < rich["cost_usd"] and cheap["accuracy"] <= rich["accuracy"] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 40),
    seed=st.integers(0, 10_000),
    levels=st.integers(1, 6),
    n_thresholds=st.integers(2, 30),
)
def test_sweep_matches_the_loop_on_any_scores(n, seed, levels, n_thresholds):
    rng = np.random.default_rng(seed)
    ds = OutcomeDataset(
        name="gen",
        source="test",
        query_ids=[str(i) for i in range(n)],
        models=["weak", "strong"],
        scores=rng.random((n, 2)).round(1),
        costs=rng.random((n, 2)) * [1, 10],
        score_basis="generated",
        cost_basis="generated",
    )
    scores = rng.integers(0, levels, n).astype(float)  # coarse: many ties
    curve = router.sweep(ds, "strong", "weak", scores, thresholds=n_thresholds)
    expect = brute_force(ds, scores, curve.points["threshold"].to_numpy())
    assert np.allclose(curve.points[["strong_share", "accuracy", "cost_usd"]].to_numpy(), expect)
    shares = curve.points["strong_share"].to_numpy()
    assert shares.min() == 0 and shares.max() == 1


def test_eleven_thresholds_are_routellms_bin_edges():
    import pandas as pd

    scores = np.random.default_rng(4).random(500)
    _, edges = pd.qcut(scores, 10, retbins=True)
    th = router.thresholds_for(scores, 11)
    assert np.allclose(np.sort(th)[:-1], np.sort(edges))  # plus one above the top: 0% strong
    assert th.max() > scores.max()
