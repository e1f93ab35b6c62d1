"""Shortlist: constraints filter the sheet's models, the rest are ranked by projected cost."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# ------------------------------------------------------------------ the product manager's view


def _info(table):
    from llmledger.planning.product_shortlist import ModelInfo

    return lambda m: ModelInfo(*table[m]) if m in table else None


PM_PRICES = {
    p.model: p
    for p in [
        ModelPrice("gpt-4o", "openai", 2.5, 10.0, context_window=128_000),
        ModelPrice("azure/gpt-4o", "azure", 2.5, 10.0, context_window=128_000),
        ModelPrice("openrouter/openai/gpt-4o", "openrouter", 2.0, 9.0, context_window=128_000),
        ModelPrice("gpt-4o-mini", "openai", 0.15, 0.6, context_window=128_000),
        ModelPrice("deepinfra/meta-llama/Llama-Guard-3-8B", "deepinfra", 0.05, 0.05, context_window=128_000),
        ModelPrice("novita/paddlepaddle/paddleocr-vl", "novita", 0.02, 0.02, context_window=16_000),
        ModelPrice("nebius/Qwen/Qwen2.5-Coder-7B", "nebius", 0.01, 0.03, context_window=32_000),
        ModelPrice("snowflake/claude-3-5-sonnet", "snowflake", 3.0, 15.0, context_window=200_000),
        ModelPrice("vertex_ai/claude-3-5-sonnet", "vertex_ai-anthropic_models", 3.0, 15.0, context_window=200_000),
        ModelPrice("acme-new-model", "acme", 0.1, 0.1, context_window=128_000),
    ]
}
QUALITY_ROWS = {"gpt-4o-2024-05-13": 79.2, "gpt-4o-mini-2024-07-18": 74.9, "claude-3-5-sonnet-20240620": 79.4}


def _support_chat(**kw):
    return rs_with(name="Support chat", task="Answer customer questions", **kw)


def test_support_chat_shortlist_drops_special_purpose_models_and_folds_resellers():
    from llmledger.planning.product_shortlist import product_shortlist
    from llmledger.planning.quality import from_scores

    q = from_scores(QUALITY_ROWS, "test table", "win rate (%)", 100)
    ps = product_shortlist(_support_chat(), "Support chat", PM_PRICES, quality=q, info=_info({}))
    t = ps.table.set_index("model")
    # The safety classifier, the OCR model and the code model are gone, each with its reason.
    why = dict(zip(ps.excluded["model"], ps.excluded["reasons"]))
    assert "safety classifier" in why["deepinfra/meta-llama/Llama-Guard-3-8B"]
    assert "OCR" in why["novita/paddlepaddle/paddleocr-vl"]
    assert "code model" in why["nebius/Qwen/Qwen2.5-Coder-7B"]
    # One row per model: the provider's own entry (else the cloud's), the other routes under also_via.
    assert sorted(t.index) == ["acme-new-model", "gpt-4o", "gpt-4o-mini", "vertex_ai/claude-3-5-sonnet"]
    assert t.loc["gpt-4o", "also_via"] == "azure, openrouter" and t.loc["gpt-4o", "route"] == "first-party"
    assert t.loc["gpt-4o", "cheapest_route"].startswith("openrouter/openai/gpt-4o")
    assert t.loc["vertex_ai/claude-3-5-sonnet", "also_via"] == "snowflake"
    # Ranked by the cost/quality frontier, not price alone: the unscored model (cheap) comes last.
    assert list(ps.table["model"]) == ["gpt-4o-mini", "gpt-4o", "vertex_ai/claude-3-5-sonnet", "acme-new-model"]
    assert list(ps.table["frontier"]) == [True, True, True, False]
    assert t.loc["gpt-4o", "scored_as"] == "gpt-4o-2024-05-13"
    assert ps.headline().startswith(
        "4 models fit, 3 of them with a quality score (7 of 10 price-sheet entries are chat models"
    )


def test_a_code_use_case_keeps_code_models_and_min_quality_excludes_with_the_source():
    from llmledger.planning.product_shortlist import product_shortlist
    from llmledger.planning.quality import from_scores

    q = from_scores(QUALITY_ROWS, "test table", "win rate (%)", 100)
    rs = rs_with(name="Code review bot", task="Review pull requests for coding mistakes", min_quality=0.78)
    ps = product_shortlist(rs, "Code review bot", PM_PRICES, quality=q, info=_info({}))
    assert "nebius/Qwen/Qwen2.5-Coder-7B" in set(ps.table["model"])
    why = dict(zip(ps.excluded["model"], ps.excluded["reasons"]))
    assert why["gpt-4o-mini"] == "quality 74.9 < minimum 78 (win rate (%), test table)"


def test_capabilities_and_kind_come_from_the_sheet_mode_and_flags():
    from llmledger.planning.product_shortlist import product_shortlist

    info = _info(
        {
            "gpt-4o": ("chat", frozenset({"function_calling", "vision"})),
            "gpt-4o-mini": ("chat", frozenset({"function_calling"})),
            "acme-new-model": ("rerank", frozenset()),
        }
    )
    ps = product_shortlist(_support_chat(), "Support chat", PM_PRICES, need=("vision",), info=info)
    assert list(ps.table["model"]) == ["gpt-4o"]
    why = dict(zip(ps.excluded["model"], ps.excluded["reasons"]))
    assert why["gpt-4o-mini"] == "no image input (vision) (supports_* flags in LiteLLM's map)"
    assert why["acme-new-model"].startswith("a rerank model (mode in LiteLLM's map)")
    assert ps.notes[-1] == "No quality signal chosen: ranked by projected cost alone."
    with pytest.raises(Exception, match="unknown capability"):
        product_shortlist(_support_chat(), "Support chat", PM_PRICES, need=("telepathy",), info=info)


def test_embedding_use_case_keeps_zero_output_prices():
    from llmledger.planning.product_shortlist import product_shortlist

    prices = {"text-embedding-3-small": ModelPrice("text-embedding-3-small", "openai", 0.02, 0.0)}
    info = _info({"text-embedding-3-small": ("embedding", frozenset())})
    ps = product_shortlist(rs_with(name="RAG index"), "RAG index", prices, kind="embedding", info=info)
    assert list(ps.table["model"]) == ["text-embedding-3-small"]
    assert ps.table["cost_per_request_usd"][0] == pytest.approx(3000 * 0.02e-6)


def test_litellm_support_chat_top_picks_are_general_chat_models(con):
    """The reported case: a support chat's top picks were Llama-Guard, paddleocr-vl and Qwen2.5-Coder."""
    from llmledger.planning.product_shortlist import kind_prices, product_shortlist
    from llmledger.planning.quality import public_table

    prices = kind_prices(con, None, "chat")
    ps = product_shortlist(_support_chat(), "Support chat", prices, quality=public_table())
    top = list(ps.table["model"].head(10))
    assert not any(w in m.lower() for m in top for w in ("guard", "ocr", "coder"))
    assert ps.table["frontier"].head(3).all() and ps.table["quality"].head(3).notna().all()
    assert len(ps.table) < ps.eligible_entries  # resellers folded
    assert len(set(ps.table["model"].map(lambda m: m.lower()))) == len(ps.table)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=20), st.floats(allow_nan=True, allow_infinity=True), max_size=5))
def test_quality_from_scores_accepts_or_rejects_with_a_reason(scores):
    from llmledger.errors import PlanningError
    from llmledger.planning.quality import from_scores

    try:
        t = from_scores(scores, "x")
    except PlanningError as exc:
        assert "x:" in exc.msg
    else:
        assert all(0 <= v <= 1 for v in t.scores.values()) and t.scores


def test_quality_csv_upload_messages():
    from llmledger.errors import PlanningError
    from llmledger.planning.quality import from_csv_bytes

    t = from_csv_bytes(b"model,score\ngpt-4o,0.9\nclaude-3-5-sonnet-20240620,0.92\n", "mine.csv")
    assert t.score_for("vertex_ai/claude-3-5-sonnet") == 0.92 and t.scale == 1
    assert from_csv_bytes(b"model,score\na,85\n").scale == 100
    for data, msg in (
        (b"\xff\xfe", "not UTF-8"),
        (b"name,value\na,1\n", "model and score"),
        (b"model,score\na,high\n", "line 2: score 'high' is not a number"),
        (b"model,score\na,-3\n", "outside"),
    ):
        with pytest.raises(PlanningError, match=msg):
            from_csv_bytes(data, "mine.csv")


def test_plan_page_shortlist_tab_names_its_quality_source_and_folds_resellers():
    from apptest_helpers import frame, page

    at = page("plan")
    at.session_state["pf_tab"] = "Shortlist"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.exception]
    assert at.selectbox(key="pf_short_quality").value == "public"
    assert any("models fit" in m.value and "folded into one row per model" in m.value for m in at.markdown)
    assert any("Quality: Arena-Hard-Auto v0.1" in c.value for c in at.caption)
    table = frame(at, "rank", "model", "quality", "also_via")
    assert not table["model"].str.contains("guard|ocr|coder", case=False).any()
    assert table["quality"].head(3).notna().all()
    at.radio(key="pf_short_kind_Support chat").set_value("embedding").run()
    table = frame(at, "rank", "model", "quality", "also_via")
    from llmledger.planning.product_shortlist import model_info

    assert len(table) > 3 and all(model_info(m).mode in ("embedding", None) for m in table["model"])
