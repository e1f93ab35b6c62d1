"""Properties of the page's lever options (simulate/lever_lab.engine_params and the sweeps) on
generated calls, no ledger: a dearer cache write never makes prompt caching cheaper, a higher cap
never saves more, the TTL sweep's point at a TTL is the engine's response cache at that TTL, and
bad options are refused with their name."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.errors import SimulationError
from llmledger.reads.levers import LeverCalls
from llmledger.simulate import lever_lab
from llmledger.simulate.levers import ModelPrices, response_cache

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
PRICES = {
    "claude-x": ModelPrices("claude-x", input=3.0, output=15.0, cache_read=0.3),
    "gpt-4o": ModelPrices("gpt-4o", input=2.5, output=10.0, cache_read=1.25),
}
SYSTEM = "".join(f"rule {i}: answer briefly and cite the section.\n" for i in range(150))


def scope_of(rows) -> lever_lab.Scope:
    df = pd.DataFrame(rows)
    p_in = df["model"].map(lambda m: PRICES[m].input) / 1e6
    p_out = df["model"].map(lambda m: PRICES[m].output) / 1e6
    df["cost_usd"] = df["input_tokens"] * p_in + df["output_tokens"] * p_out
    for c in ("session_id", "status", "input_hash", "cache_read_tokens", "cache_write_tokens", "output_text"):
        df[c] = None
    df["trace_id"] = [f"t{i}" for i in range(len(df))]
    lc = LeverCalls(
        feature=None,
        sheet="test",
        start=T0,
        end=T0 + dt.timedelta(days=1),
        days=1.0,
        calls=df,
        without_usage=0,
        unpriced=0,
        with_text=int(df["input_text"].notna().sum()),
        with_digest=0,
    )
    return lever_lab.Scope(lc=lc, prices=PRICES, policy="keep")


calls = st.lists(
    st.tuples(
        st.integers(0, 7200),  # seconds after T0
        st.sampled_from(["claude-x", "gpt-4o"]),
        st.sampled_from(["a", "b", "c"]),  # the question after the shared system prompt
        st.integers(0, 4000),  # output tokens
        st.sampled_from(["faq", "report"]),
    ),
    min_size=2,
    max_size=25,
)


def rows_of(draw):
    return [
        {
            "time": T0 + dt.timedelta(seconds=s),
            "model": m,
            "input_text": SYSTEM + q,
            "input_tokens": 2000,
            "output_tokens": out,
            "feature": f,
        }
        for s, m, q, out, f in draw
    ]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls, st.floats(0.1, 5.0), st.floats(0.1, 5.0))
def test_a_dearer_cache_write_never_makes_prompt_caching_cheaper(draw, m1, m2):
    sc = scope_of(rows_of(draw))
    lo, hi = sorted((m1, m2))
    cost = {
        m: lever_lab.run(sc, "prompt-cache", **lever_lab.engine_params(sc, "prompt-cache", {"write_multiplier": m}))
        for m in (lo, hi)
    }
    assert cost[lo].result.whatif_usd <= cost[hi].result.whatif_usd + 1e-12


@settings(max_examples=25, deadline=None)
@given(calls)
def test_a_higher_cap_never_saves_more(draw):
    sc = scope_of(rows_of(draw))
    sweep = lever_lab.cap_sweep(sc, lever_lab.cap_grid(sc))
    assert (np.diff(sweep["saving_usd"].to_numpy()) <= 1e-12).all()
    assert (np.diff(sweep["share_truncated"].to_numpy()) <= 1e-12).all()


@settings(max_examples=25, deadline=None)
@given(calls)
def test_the_ttl_sweep_is_the_engines_response_cache(draw):
    sc = scope_of(rows_of(draw))
    sweep = lever_lab.ttl_sweep(sc)
    for row in sweep.itertuples():
        r = response_cache(sc.calls, ttl_s=row.ttl_s, mode=row.mode)
        assert row.hits == r.metrics["hits"] and row.saving_usd == pytest.approx(r.saving_usd, abs=1e-12)


@pytest.mark.parametrize(
    "lever, options, named",
    [
        ("prompt-cache", {"write_multiplier": -1.0}, "cache-write multiplier"),
        ("caps", {"cap_all": 0}, "cap for feature"),
        ("memory", {"k": 0}, "window k"),
    ],
)
def test_bad_options_are_refused_with_their_name(lever, options, named):
    sc = scope_of(rows_of([(0, "gpt-4o", "a", 10, "faq"), (60, "gpt-4o", "a", 10, "faq")]))
    with pytest.raises(SimulationError, match=named):
        lever_lab.run(sc, lever, **lever_lab.engine_params(sc, lever, options))
