"""Validation: each impossible value gets a clear message naming the use case and the field."""

from __future__ import annotations

import pytest

from llmledger.errors import PlanningError
from llmledger.planning.prices import ModelPrice
from llmledger.planning.requirements import RequirementSet, UseCase, parse_samples, split_prompts
from llmledger.planning.validation import check, errors, validate

PRICES = {
    "small": ModelPrice("small", "openai", 0.15, 0.6, context_window=16_000, max_output=4_096),
    "local-q4": ModelPrice("local-q4", "local", 0.0, 0.0, context_window=8_192, max_output=2_048, self_hosted=True),
}


def msgs(rs, prices=None, level="error"):
    return [str(i) for i in validate(rs, prices) if i.level == level]


def one(**kw) -> RequirementSet:
    return RequirementSet(name="p", start_month="2026-01", use_cases=[UseCase(name="chat", **kw)])


def test_a_sound_plan_has_no_errors():
    assert errors(validate(one(model="small"), PRICES)) == []


def test_negative_volumes_and_tokens():
    m = msgs(one(requests_per_day=-5, input_tokens=-1))
    assert "chat: Requests per day cannot be negative (-5)" in m
    assert "chat: Input tokens per request cannot be negative (-1)" in m


def test_output_tokens_above_the_model_limit():
    m = msgs(one(model="small", output_tokens=5000), PRICES)
    assert "chat: output of 5,000 tokens per request is above small's limit of 4,096 output tokens" in m


def test_context_window_uses_the_largest_sample():
    m = msgs(one(model="small", input_token_samples=[1000, 15_000], output_tokens=2000), PRICES)
    assert any("needs 17,000 tokens of context but small's window is 16,000" in x for x in m)


def test_privacy_rule_rejects_a_hosted_model_but_not_a_local_one():
    assert any(
        "'no third-party API' forbids" in x for x in msgs(one(model="small", privacy="no_third_party_api"), PRICES)
    )
    assert msgs(one(model="local-q4", privacy="no_third_party_api"), PRICES) == []


def test_shares_quality_availability_and_peak():
    m = msgs(one(cached_input_share=1.5, batch_share=-0.1, min_quality=85, availability_pct=120, peak_to_avg=0.5))
    assert "chat: Cached-input share must be between 0 and 1, not 1.5" in m
    assert "chat: Batch share must be between 0 and 1, not -0.1" in m
    assert "chat: Minimum quality must be between 0 and 1, not 85 (enter 0.85 for 85%)" in m
    assert "chat: availability must be above 0% and at most 100%, not 120%" in m
    assert "chat: peak-to-average ratio must be at least 1 (peak ≥ average), not 0.5" in m


def test_latency_slos_and_throughput():
    m = msgs(one(p95_latency_ms=500, ttft_ms=900, requests_per_day=864_000, peak_rps=5))
    assert "chat: time to first token (900 ms) cannot exceed the p95 latency of the whole response (500 ms)" in m
    assert any("peak throughput 5/s is below the average 10/s" in x for x in m)


def test_seasonality_growth_and_horizon():
    rs = one(seasonality=[1.0] * 11, growth_pct_per_month=-100)
    rs.horizon_months = 36
    m = msgs(rs)
    assert "chat: seasonality needs 12 monthly multipliers (Jan…Dec), got 11" in m
    assert "chat: growth of -100%/month would drive volume to zero or below" in m
    assert "plan: horizon must be 12 to 24 months, not 36" in m
    w = msgs(one(seasonality=[2.0] * 12), level="warning")
    assert any("seasonality averages 2.00" in x for x in w)


def test_duplicate_names_unknown_choices_and_conflicting_providers():
    rs = one(privacy="nope", provider_allow=["openai"], provider_deny=["openai"], modalities=["smell"])
    rs.use_cases.append(UseCase(name="chat"))
    m = msgs(rs)
    assert "chat: two use cases are both called 'chat'" in m
    assert any("unknown privacy rule 'nope'" in x for x in m)
    assert any("provider openai is both allowed and denied" in x for x in m)
    assert any("unknown modality smell" in x for x in m)


def test_non_numbers_are_caught_before_arithmetic():
    m = msgs(one(requests_per_day=float("nan")))
    assert m == ["chat: Requests per day must be a finite number, not nan"]


def test_check_raises_one_planning_error_listing_all_errors():
    with pytest.raises(PlanningError) as e:
        check(one(requests_per_day=-1, output_tokens=-2))
    assert "Requests per day cannot be negative" in e.value.msg
    assert "Output tokens per request cannot be negative" in e.value.msg
    assert e.value.title == "Invalid requirements"


def test_warning_for_target_above_value_and_missing_batch_price():
    w = msgs(
        one(value_per_success_usd=0.01, cost_per_txn_target_usd=0.05, model="small", batch_share=0.5),
        PRICES,
        level="warning",
    )
    assert any("every request would lose money" in x for x in w)
    assert any("small has no batch price" in x for x in w)


def test_parse_samples_and_split_prompts():
    assert parse_samples("120, 340 95;7") == [120, 340, 95, 7]
    with pytest.raises(ValueError, match="'abc' is not a number"):
        parse_samples("1 abc")
    assert split_prompts("hello\n---\nworld\nagain\n---\n\n") == ["hello", "world\nagain"]
