"""Shortlist: constraints filter the sheet's models, the rest are ranked by projected cost."""

from __future__ import annotations

import pytest

from llmledger.planning.prices import ModelPrice, from_record
from llmledger.planning.requirements import RequirementSet, UseCase
from llmledger.planning.shortlist import Latency, shortlist

PRICES = {
    p.model: p
    for p in [
        ModelPrice(
            "mini", "openai", 0.15, 0.60, context_window=128_000, max_output=16_384, modalities=("image", "text")
        ),
        ModelPrice(
            "big", "openai", 2.50, 10.0, context_window=128_000, max_output=16_384, modalities=("image", "text")
        ),
        ModelPrice("haiku", "anthropic", 0.80, 4.0, context_window=200_000, max_output=8_192),
        ModelPrice("tiny-ctx", "acme", 0.05, 0.10, context_window=4_096, max_output=4_096),
        ModelPrice("smol-q4", "local", 0.0, 0.0, context_window=8_192, max_output=2_048, self_hosted=True),
        ModelPrice("mystery", "acme"),
        ModelPrice("free-preview", "acme", 0.0, 0.0, context_window=1_000_000),
        ModelPrice("embedder", "acme", 0.02, 0.0),
    ]
}


def rs_with(**kw) -> RequirementSet:
    base = dict(name="chat", requests_per_day=1000, input_tokens=3000, output_tokens=500)
    base.update(kw)
    return RequirementSet(start_month="2026-01", horizon_months=12, use_cases=[UseCase(**base)])


def test_ranked_by_projected_cost_with_reasons_for_every_exclusion():
    s = shortlist(rs_with(), "chat", PRICES)
    # smol-q4 costs $0 per token and no hosting cost was entered: ranked after the known bills
    assert list(s.eligible["model"]) == ["tiny-ctx", "mini", "haiku", "big", "smol-q4"]
    assert list(s.eligible["rank"]) == [1, 2, 3, 4, 5]
    # mini: 3000 × 0.15e-6 + 500 × 0.6e-6 = $0.00075 per request; Jan 31,000 requests = $23.25
    mini = s.eligible.set_index("model").loc["mini"]
    assert mini["cost_per_request_usd"] == pytest.approx(0.00075)
    assert mini["first_month_usd"] == pytest.approx(23.25)
    assert mini["horizon_total_usd"] == pytest.approx(0.00075 * 1000 * 365)
    assert dict(zip(s.excluded["model"], s.excluded["reasons"])) == {
        "mystery": "no input/output price in this sheet",
        "free-preview": "listed at $0 (a free or preview entry, not a price to plan on)",
        "embedder": "output priced at $0 (an embedding or other non-generative entry)",
    }
    assert s.eligible.set_index("model").loc["smol-q4", "note"] == "self-hosted: add hosting as a fixed cost"
    # with hosting entered as a fixed cost ($50/month, added to every option) it ranks on its bill
    hosted = shortlist(rs_with(fixed_monthly_usd=50), "chat", PRICES)
    assert list(hosted.eligible["model"]) == ["smol-q4", "tiny-ctx", "mini", "haiku", "big"]
    assert hosted.eligible["horizon_total_usd"][0] == pytest.approx(600)


def test_context_max_output_and_modalities():
    s = shortlist(rs_with(input_tokens=6000, output_tokens=3000, modalities=["text", "image"]), "chat", PRICES)
    why = dict(zip(s.excluded["model"], s.excluded["reasons"]))
    assert why["tiny-ctx"] == "context window 4,096 < 9,000 needed; no image input"
    assert why["smol-q4"] == (
        "context window 8,192 < 9,000 needed; max output 2,048 < 3,000 per request; no image input"
    )
    assert why["haiku"] == "no image input"
    assert list(s.eligible["model"]) == ["mini", "big"]


def test_no_third_party_api_leaves_only_self_hosted():
    s = shortlist(rs_with(privacy="no_third_party_api"), "chat", PRICES)
    assert list(s.eligible["model"]) == ["smol-q4"]
    why = dict(zip(s.excluded["model"], s.excluded["reasons"]))
    assert why["mini"] == "hosted third-party API, but the privacy rule allows only self-hosted/local"


def test_provider_allow_and_deny_lists():
    s = shortlist(rs_with(provider_allow=["openai", "anthropic"], provider_deny=["anthropic"]), "chat", PRICES)
    assert list(s.eligible["model"]) == ["mini", "big"]
    why = dict(zip(s.excluded["model"], s.excluded["reasons"]))
    assert why["haiku"] == "provider anthropic is denied"
    assert why["smol-q4"] == "provider local not in the allow list"


def test_latency_only_where_measured_and_business_targets():
    lat = {"smol-q4": Latency(p95_ms=9000, ttft_ms=120)}
    s = shortlist(rs_with(p95_latency_ms=3000, ttft_ms=500, cost_per_txn_target_usd=0.003), "chat", PRICES, lat)
    why = dict(zip(s.excluded["model"], s.excluded["reasons"]))
    assert why["smol-q4"] == "measured p95 9,000 ms > SLO 3,000 ms"
    # big: 3000 × 2.5e-6 + 500 × 10e-6 = $0.0125 per request
    assert why["big"] == "$0.0125 per request > target $0.003"
    assert set(s.eligible["note"]) == {"latency not measured"}  # tiny-ctx and mini
    budget = shortlist(rs_with(monthly_budget_usd=100), "chat", PRICES)
    why_b = dict(zip(budget.excluded["model"], budget.excluded["reasons"]))
    assert why_b["big"] == "first month $387.50 > budget $100.00"  # 31,000 × $0.0125


def test_multi_model_stance_counts_providers():
    s = shortlist(rs_with(lock_in="multi_model", provider_allow=["openai"]), "chat", PRICES)
    assert s.notes == ["Multi-model stance: 1 provider(s) remain eligible — fewer than the 2 a multi-model plan needs"]


def test_from_record_reads_per_token_and_per_million_prices():
    p = from_record(
        {
            "model": "x",
            "litellm_provider": "openai",
            "input_cost_per_token": 2.5e-6,
            "output_cost_per_token": 1e-5,
            "max_input_tokens": 128000,
            "max_output_tokens": 16384,
            "supports_vision": True,
        }
    )
    assert (p.input_per_1m, p.output_per_1m, p.context_window, p.max_output) == (2.5, 10.0, 128000, 16384)
    assert not p.self_hosted
    q = from_record({"model": "y.gguf", "provider": "local", "input_per_1m": 0, "output_per_1m": 0})
    assert q.self_hosted and q.priced


def test_latency_measured_by_the_local_lab_excludes_a_slow_variant(con):
    from llmledger.planning.shortlist import lab_latency

    # Two timed runs of one variant, as the local lab records them: TTFT 200/300 ms, 50/40 tokens/s
    for i, (ttft, tps) in enumerate(((200.0, 50.0), (300.0, 40.0))):
        con.execute(
            "INSERT INTO local_runs (run_id, batch_id, started_at, model, variant, ttft_ms, gen_tps) "
            "VALUES (?, 'b', now(), 'SmolLM2-135M-Instruct', 'Q4_1', ?, ?)",
            [f"r{i}", ttft, tps],
        )
    lat = lab_latency(con)
    got = lat["SmolLM2-135M-Instruct-Q4_1"]
    assert got.runs == 2
    assert got.ttft_ms == pytest.approx(295.0)  # p95 of 200, 300 (linear interpolation)
    assert got.ms_per_token == pytest.approx(24.75)  # p95 of 20 and 25 ms per token
    prices = {
        "SmolLM2-135M-Instruct-Q4_1": ModelPrice(
            "SmolLM2-135M-Instruct-Q4_1",
            "self-hosted",
            0.02,
            0.05,
            context_window=8192,
            max_output=2048,
            self_hosted=True,
        )
    }
    # 500 output tokens: 295 + 500 × 24.75 = 12,670 ms against a 5 s SLO
    s = shortlist(rs_with(p95_latency_ms=5000), "chat", prices, lat)
    assert s.excluded["reasons"][0] == "lab-estimated p95 12,670 ms > SLO 5,000 ms"
    ok = shortlist(rs_with(p95_latency_ms=20_000), "chat", prices, lat)
    assert ok.eligible["measured_p95_ms"][0] == pytest.approx(12_670)
    assert ok.eligible["note"][0] == "self-hosted: add hosting as a fixed cost"


def test_sheet_models_reads_a_stored_sheet_and_skips_non_text_models(con):
    from llmledger.planning.prices import sheet_models
    from llmledger.pricing import sheets

    csv = (
        "model,provider,input_per_mtok,output_per_mtok,service_tier,context_window,max_output_tokens\n"
        "gpt-x,openai,2,8,standard,128000,16384\ngpt-x,openai,1,4,batch,,\n"
        "titan-embed-text-v2,bedrock,0.02,0,standard,,\n"
    )
    sheets.import_sheet_bytes(con, csv.encode(), "s.csv", "mine")
    got = sheet_models(con, "mine")
    assert list(got) == ["gpt-x"]
    p = got["gpt-x"]
    assert (p.input_per_1m, p.output_per_1m, p.batch_input_per_1m, p.batch_output_per_1m) == (2.0, 8.0, 1.0, 4.0)
    assert (p.context_window, p.max_output, p.self_hosted) == (128000, 16384, False)
