"""Projection maths against hand-computed cases (every expected figure is worked out by hand)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from llmledger.planning.prices import ModelPrice
from llmledger.planning.projection import PLAN, Z90, project, simulate_band, volume
from llmledger.planning.requirements import RequirementSet, UseCase

PRICES = {
    # $1 in / $2 out per 1M, batch at half price, cache reads at a tenth
    "cheap": ModelPrice(
        "cheap",
        "acme",
        1.0,
        2.0,
        cache_read_per_1m=0.1,
        batch_input_per_1m=0.5,
        batch_output_per_1m=1.0,
        context_window=128_000,
        max_output=8_000,
    ),
    "big": ModelPrice("big", "bigco", 3.0, 15.0, cache_read_per_1m=0.3, context_window=200_000, max_output=64_000),
    "unpriced": ModelPrice("unpriced", "nobody"),
}


def plan(*ucs, start="2026-01", horizon=12, candidates=()):
    return RequirementSet(
        name="t", start_month=start, horizon_months=horizon, candidates=list(candidates), use_cases=list(ucs)
    )


def test_growth_compounds_monthly_over_calendar_days():
    uc = UseCase(
        name="g", requests_per_day=1000, input_tokens=1000, output_tokens=500, growth_pct_per_month=10, model="cheap"
    )
    p = project(plan(uc, horizon=13), PRICES)
    # one request = 1000 × $1e-6 + 500 × $2e-6 = $0.002
    assert p.cost_per_request[0, 0] == pytest.approx(0.002)
    # Jan: 31 days × 1000 = 31,000 requests; Feb 2026: 28 × 1000 × 1.1 = 30,800; Mar: 31 × 1.21 k
    assert p.requests[0, :3] == pytest.approx([31_000, 30_800, 37_510])
    assert p.cost[0, 0, :3] == pytest.approx([62.0, 61.6, 75.02])
    # Jan 2027 (t = 12): 31,000 × 1.1^12 = 97,291.2797 requests → $194.5826
    assert p.requests[0, 12] == pytest.approx(97_291.2797, rel=1e-8)
    assert p.cost[0, 0, 12] == pytest.approx(194.5826, rel=1e-6)
    assert p.months[0] == "2026-01" and p.months[12] == "2027-01"
    # busiest month is the last: 1000 × 1.1^12 a day, × peak-to-average 3 (default) / 86,400 s
    assert p.summary()["peak_requests_per_s"][0] == pytest.approx(1000 * 1.1**12 * 3 / 86400)


def test_seasonality_uses_calendar_month_not_plan_month():
    season = [0.5] + [1.0] * 10 + [2.0]  # Jan ×0.5, Dec ×2
    uc = UseCase(name="s", requests_per_day=1000, seasonality=season, model="cheap")
    req = volume(plan(uc, start="2026-11"))
    # Nov: 30 × 1000; Dec: 31 × 1000 × 2; Jan 2027: 31 × 1000 × 0.5
    assert req[0, :3] == pytest.approx([30_000, 62_000, 15_500])


def test_cached_input_share_prices_cached_tokens_at_cache_read():
    uc = UseCase(
        name="c", requests_per_day=100, input_tokens=2000, output_tokens=100, cached_input_share=0.5, model="big"
    )
    p = project(plan(uc), PRICES)
    # input: 1000 × $3e-6 + 1000 × $0.3e-6 = $0.0033; output: 100 × $15e-6 = $0.0015
    assert p.cost_per_request[0, 0] == pytest.approx(0.0048)
    assert p.cost[0, 0, 0] == pytest.approx(0.0048 * 100 * 31)


def test_batch_share_and_missing_batch_price():
    uc = UseCase(name="b", requests_per_day=10, input_tokens=1000, output_tokens=1000, batch_share=0.5, model="cheap")
    p = project(plan(uc, candidates=["big"]), PRICES)
    # half at $1/$2, half at $0.5/$1: 1000 × 0.75e-6 + 1000 × 1.5e-6 = $0.00225
    assert p.cost_per_request[0, 0] == pytest.approx(0.00225)
    # "big" has no batch price: list price for the whole volume, 1000 × 3e-6 + 1000 × 15e-6
    assert p.cost_per_request[1, 0] == pytest.approx(0.018)


def test_fixed_and_one_off_costs():
    uc = UseCase(name="f", requests_per_day=0, fixed_monthly_usd=100, one_off_usd=500, model="cheap")
    p = project(plan(uc), PRICES)
    assert p.cost[0, 0, :3] == pytest.approx([600, 100, 100])
    assert p.summary()["horizon_total_usd"][0] == pytest.approx(600 + 11 * 100)


def test_budget_exceeded_month_per_use_case_and_total():
    grow = UseCase(
        name="g",
        requests_per_day=1000,
        input_tokens=1000,
        output_tokens=500,
        growth_pct_per_month=10,
        monthly_budget_usd=70,
        model="cheap",
    )  # $62, $61.6, $75.02
    flat = UseCase(name="f", requests_per_day=0, fixed_monthly_usd=10, monthly_budget_usd=20, model="cheap")
    p = project(plan(grow, flat), PRICES)
    s = p.summary().set_index("use_case")
    assert s.loc["g", "budget_exceeded_in"] == "2026-03"
    assert pd.isna(s.loc["f", "budget_exceeded_in"])
    # The plan is over budget once any use case is over its own: g in March, though the summed
    # budgets ($90) hold until May. Headline, comparison and summary say the same month.
    cmp_ = p.compare().set_index("scenario")
    assert cmp_.loc[PLAN, "budget_exceeded_in"] == "2026-03"
    assert p.budget_breach() == "2026-03" and p.budget_breaches() == {"g": "2026-03"}


def test_candidates_apply_one_model_to_every_use_case():
    a = UseCase(name="a", requests_per_day=100, input_tokens=100, output_tokens=100, model="cheap")
    b = UseCase(name="b", requests_per_day=200, input_tokens=100, output_tokens=100, model="big")
    p = project(plan(a, b, candidates=["cheap", "big"]), PRICES)
    assert p.scenarios == [PLAN, "cheap", "big"]
    assert p.models == [["cheap", "big"], ["cheap", "cheap"], ["big", "big"]]
    # Jan: a = 3,100 × $0.0003, b = 6,200 × $0.0018 (plan); all-cheap: 9,300 × $0.0003
    assert p.total(PLAN)[0] == pytest.approx(3100 * 0.0003 + 6200 * 0.0018)
    assert p.total("cheap")[0] == pytest.approx(9300 * 0.0003)
    assert p.total("big")[0] == pytest.approx(9300 * 0.0018)


def test_unpriced_model_is_left_out_with_a_note():
    a = UseCase(name="a", requests_per_day=100, model="cheap")
    b = UseCase(name="b", requests_per_day=100, model="unpriced")
    p = project(plan(a, b), PRICES)
    assert math.isnan(p.cost[0, 1, 0])
    assert p.total()[0] == pytest.approx(p.cost[0, 0, 0])
    assert any("b left out" in n and "unpriced" in n for n in p.notes)


def test_analytic_band_from_samples_hand_computed():
    # samples 100 and 300: mean 200, variance (ddof 1) 20,000; output 0; $1 per 1M input tokens
    uc = UseCase(name="s", requests_per_day=1000, input_token_samples=[100, 300], output_tokens=0, model="cheap")
    p = project(plan(uc, start="2026-04"), PRICES)  # April: 30 days → N = 30,000
    assert p.cost[0, 0, 0] == pytest.approx(6.0)  # 30,000 × 200 × 1e-6
    # sd² = N²·α²·s²/n + N·α²·s² = 9e8 × 1e-12 × 10,000 + 30,000 × 1e-12 × 20,000 = 9 + 0.0006
    assert p.sd[0, 0, 0] == pytest.approx(math.sqrt(9.0006))
    assert p.p90[0, 0, 0] == pytest.approx(6.0 + 1.2815515655 * math.sqrt(9.0006))
    no_samples = UseCase(name="t", requests_per_day=1000, input_tokens=200, output_tokens=0, model="cheap")
    assert project(plan(no_samples), PRICES).sd.max() == 0.0


def test_total_band_adds_variances_of_independent_use_cases():
    a = UseCase(name="a", requests_per_day=1000, input_token_samples=[100, 300], output_tokens=0, model="cheap")
    b = UseCase(name="b", requests_per_day=500, input_tokens=50, output_token_samples=[10, 30, 50], model="cheap")
    p = project(plan(a, b), PRICES)
    expect = p.total()[3] + Z90 * math.hypot(p.sd[0, 0, 3], p.sd[0, 1, 3])
    assert p.total_p90()[3] == pytest.approx(expect)


def test_analytic_band_agrees_with_sampling():
    rng = np.random.default_rng(7)
    samples = [int(x) for x in rng.lognormal(mean=6.5, sigma=0.6, size=60)]
    uc = UseCase(
        name="s",
        requests_per_day=5000,
        input_token_samples=samples,
        output_token_samples=[int(x) for x in rng.integers(50, 400, size=60)],
        model="big",
    )
    rs = plan(uc)
    p = project(rs, PRICES)
    p50, p90 = simulate_band(rs, PRICES, "big", 0, 5, draws=20_000, seed=3)
    assert p50 == pytest.approx(p.cost[0, 0, 5], rel=0.01)
    # bootstrap spreads by the ddof-0 variance, the analytic band by ddof 1: equal within ~3%
    assert (p90 - p50) == pytest.approx(p.p90[0, 0, 5] - p.cost[0, 0, 5], rel=0.06)


def test_vectorised_matches_a_plain_loop():
    rng = np.random.default_rng(11)
    ucs = []
    for i in range(10):
        ucs.append(
            UseCase(
                name=f"u{i}",
                requests_per_day=float(rng.integers(10, 100_000)),
                input_tokens=float(rng.integers(10, 8000)),
                output_tokens=float(rng.integers(10, 2000)),
                growth_pct_per_month=float(rng.uniform(-5, 15)),
                seasonality=[float(x) for x in rng.uniform(0.5, 1.5, 12)],
                cached_input_share=float(rng.uniform(0, 1)),
                batch_share=float(rng.uniform(0, 1)),
                fixed_monthly_usd=float(rng.uniform(0, 100)),
                one_off_usd=float(rng.uniform(0, 1000)),
                model=["cheap", "big"][i % 2],
            )
        )
    rs = plan(*ucs, start="2025-07", horizon=24, candidates=["cheap", "big"])
    p = project(rs, PRICES)
    import calendar

    for s, models in enumerate(p.models):
        for u, uc in enumerate(ucs):
            m = PRICES[models[u]]
            bi = m.batch_input_per_1m if m.batch_input_per_1m is not None else m.input_per_1m
            bo = m.batch_output_per_1m if m.batch_output_per_1m is not None else m.output_per_1m
            c, b = uc.cached_input_share, uc.batch_share
            per_in = (
                (1 - b) * ((1 - c) * m.input_per_1m + c * m.cache_read_per_1m)
                + b * ((1 - c) * bi + c * m.cache_read_per_1m)
            ) / 1e6
            per_out = ((1 - b) * m.output_per_1m + b * bo) / 1e6
            for t in range(24):
                y, mo = 2025 + (6 + t) // 12, (6 + t) % 12 + 1
                n = uc.requests_per_day * calendar.monthrange(y, mo)[1] * (1 + uc.growth_pct_per_month / 100) ** t
                n *= uc.seasonality[mo - 1]
                want = n * (uc.input_tokens * per_in + uc.output_tokens * per_out) + uc.fixed_monthly_usd
                want += uc.one_off_usd if t == 0 else 0
                assert p.cost[s, u, t] == pytest.approx(want, rel=1e-9)
