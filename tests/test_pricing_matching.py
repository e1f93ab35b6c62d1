"""Model matching against the real sheets: exact, provider-prefixed, snapshots, Bedrock/Vertex,
Langfuse regex and genai-prices rules; unknown models resolve to nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger.pricing import importers
from llmledger.pricing.matching import Matcher, base_name, clause_match, normalize, route_of
from llmledger.pricing.model import EPOCH, ModelEntry, PriceRow, Sheet, SheetVersion

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def litellm():
    return Matcher(importers.litellm_sheet())


@pytest.fixture(scope="module")
def langfuse():
    return Matcher(
        importers.langfuse_sheet(json.loads((ROOT / "data/pricing/langfuse/default-model-prices.json").read_text()))
    )


@pytest.fixture(scope="module")
def genai():
    return Matcher(importers.genai_prices_sheet(json.loads((ROOT / "data/pricing/genai-prices/data.json").read_text())))


@pytest.mark.parametrize(
    "name, provider, model_id, kind",
    [
        ("gpt-4o", None, "gpt-4o", "exact"),
        ("GPT-4o", None, "gpt-4o", "exact"),
        ("openai/gpt-4o", None, "gpt-4o", "prefixed"),
        ("gpt-4o", "azure.ai.openai", "azure/gpt-4o", "provider"),
        ("gpt-4o-2024-08-06", None, "gpt-4o-2024-08-06", "exact"),  # the sheet has the snapshot
        ("gpt-4o-2031-01-01", None, "gpt-4o", "snapshot"),  # it lacks this one: base name
        (
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "aws.bedrock",
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "exact",
        ),
        (
            "bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0",
            None,
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "prefixed",
        ),
        ("claude-3-5-sonnet-20241022", None, "anthropic.claude-3-5-sonnet-20241022-v2:0", "normalized"),
        ("claude-3-5-sonnet@20240620", "gcp.vertex_ai", "vertex_ai/claude-3-5-sonnet@20240620", "provider"),
    ],
)
def test_litellm_matching(litellm, name, provider, model_id, kind):
    hit = litellm.resolve(name, provider)
    assert hit is not None and (hit.model_id, hit.kind) == (model_id, kind)


def test_unknown_models_do_not_match(litellm, langfuse, genai):
    for m in (litellm, langfuse, genai):
        assert m.resolve("acme-internal-llm-7") is None
        assert m.resolve("") is None and m.resolve(None) is None


def test_langfuse_regex(langfuse):
    assert langfuse.resolve("openai/gpt-4o").model_id == "gpt-4o"
    assert langfuse.resolve("openai/gpt-4o").kind == "regex"
    hit = langfuse.resolve("us.anthropic.claude-3-5-sonnet-20241022-v2:0")
    assert hit.kind == "regex" and "claude-3" in hit.model_id and "sonnet" in hit.model_id


def test_genai_prices_rules(genai):
    assert genai.resolve("gpt-4o").model_id == "openai:gpt-4o"
    assert genai.resolve("gpt-4o-2024-08-06").model_id == "openai:gpt-4o"
    assert genai.resolve("openai/gpt-4o").model_id == "openai:gpt-4o"  # prefix names the provider
    assert genai.resolve("claude-3-5-sonnet-20241022").model_id == "anthropic:claude-3-5-sonnet"
    # provider hint through provider_match ('aws.bedrock' contains 'bedrock' -> aws)
    assert genai.resolve("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "aws.bedrock").model_id.startswith("aws:")
    # Google offers Anthropic models: fallback_model_providers
    assert genai.resolve("claude-3-5-sonnet@20240620", "gcp.vertex_ai").model_id == "google:claude-3-5-sonnet"


def test_clause_logic():
    rule = {
        "or": [{"starts_with": "gpt-4o"}, {"and": [{"contains": "mini"}, {"ends_with": "-x"}]}, {"regex": "^o[13]"}]
    }
    assert clause_match(rule, "gpt-4o-mini")
    assert clause_match(rule, "foo-mini-x")
    assert clause_match(rule, "o3-pro")
    assert not clause_match(rule, "foo-mini-y")
    assert not clause_match({"equals": "a"}, "ab")


def test_normalisation_helpers():
    assert normalize("eu.anthropic.claude-3-haiku-20240307-v1:0") == "claude-3-haiku-20240307"
    assert normalize("claude-3-5-sonnet@20240620") == "claude-3-5-sonnet-20240620"
    assert base_name("gpt-4o-2024-08-06") == "gpt-4o"
    assert base_name("gpt-4-0613") == "gpt-4"
    assert base_name("gpt-4o") is None


def test_snapshot_falls_back_only_when_missing():
    row = PriceRow(input_mtok=1, output_mtok=2)
    sheet = Sheet(
        "s",
        "csv",
        "t",
        [SheetVersion(EPOCH, [ModelEntry("gpt-4o", prices=[row]), ModelEntry("gpt-4o-2024-05-13", prices=[row])])],
    )
    m = Matcher(sheet)
    assert m.resolve("gpt-4o-2024-05-13").model_id == "gpt-4o-2024-05-13"
    assert m.resolve("gpt-4o-2024-08-06").model_id == "gpt-4o"
    assert m.resolve("gpt-4o-2024-08-06").kind == "snapshot"


# ----------------------------------------------------------------- who sells the matched entry


def _entry(model_id, provider, price=1):
    return ModelEntry(model_id, provider, prices=[PriceRow(input_mtok=price, output_mtok=price)])


def _sheet(*entries):
    return Sheet("s", "litellm", "t", [SheetVersion(EPOCH, list(entries))])


def test_provider_own_entry_then_cloud_then_reseller():
    reseller = _entry("snowflake/claude-3-5-sonnet", "snowflake")
    cloud = _entry("vertex_ai/claude-3-5-sonnet", "vertex_ai-anthropic_models")
    own = _entry("anthropic/claude-3-5-sonnet", "anthropic")
    # Whatever the sheet's order, the provider's own entry wins, then the cloud's, then a reseller's.
    for order in ([reseller, cloud, own], [own, reseller, cloud], [cloud, own, reseller]):
        hit = Matcher(_sheet(*order)).resolve("claude-3-5-sonnet")
        assert (hit.model_id, hit.route, hit.note) == ("anthropic/claude-3-5-sonnet", "first-party", "")
    hit = Matcher(_sheet(reseller, cloud)).resolve("claude-3-5-sonnet")
    assert (hit.model_id, hit.route) == ("vertex_ai/claude-3-5-sonnet", "cloud")
    assert "via the cloud vertex_ai-anthropic_models" in hit.note
    hit = Matcher(_sheet(reseller)).resolve("claude-3-5-sonnet")
    assert (hit.model_id, hit.route) == ("snowflake/claude-3-5-sonnet", "reseller")
    assert hit.note.startswith("via reseller snowflake")
    # The call's own provider still wins over everything (a call made through Vertex AI is Vertex's).
    assert Matcher(_sheet(own, cloud)).resolve("claude-3-5-sonnet", "gcp.vertex_ai").model_id == cloud.model_id


def test_a_dated_snapshot_of_a_cloud_beats_a_resellers_undated_copy():
    sheet = _sheet(
        _entry("vercel_ai_gateway/anthropic/claude-3-7-sonnet", "vercel_ai_gateway"),
        _entry("anthropic.claude-3-7-sonnet-20240101-v1:0", "bedrock"),
        _entry("anthropic.claude-3-7-sonnet-20250219-v1:0", "bedrock"),
        _entry("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "bedrock"),
    )
    hit = Matcher(sheet).resolve("claude-3-7-sonnet")
    assert (hit.model_id, hit.kind, hit.route) == ("anthropic.claude-3-7-sonnet-20250219-v1:0", "normalized", "cloud")


@pytest.mark.parametrize(
    "model_id, provider, route",
    [
        ("gpt-4o", "openai", "first-party"),
        ("gpt-4o", None, "first-party"),
        ("gpt-4o", float("nan"), "first-party"),  # a sheet of one's own has no provider: NULL -> NaN
        ("openrouter/openai/gpt-4o", float("nan"), "reseller"),
        ("azure/gpt-4o", "azure", "cloud"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "bedrock_converse", "cloud"),
        ("vertex_ai/claude-3-5-sonnet", "vertex_ai-anthropic_models", "cloud"),
        ("openrouter/openai/gpt-4o", None, "reseller"),
        ("snowflake/claude-3-5-sonnet", "snowflake", "reseller"),
        ("perplexity/sonar-pro", "perplexity", "first-party"),
        ("perplexity/llama-3.1-70b-instruct", "perplexity", "reseller"),  # Perplexity hosts Meta's model
        ("mistral/mistral-large-latest", "mistral", "first-party"),
        ("deepinfra/meta-llama/Llama-Guard-3-8B", "deepinfra", "reseller"),
    ],
)
def test_route_of(model_id, provider, route):
    assert route_of(model_id, provider) == route


def test_claude_3_5_sonnet_is_not_priced_through_a_reseller_in_litellms_map(litellm):
    """The reported case: `claude-3-5-sonnet` used to resolve to `snowflake/claude-3-5-sonnet`."""
    hit = litellm.resolve("claude-3-5-sonnet")
    assert hit is not None and hit.route != "reseller", hit
    assert not hit.model_id.startswith("snowflake/")
    # Every name the map prices both first-party and through a reseller resolves first-party.
    for name in ("gpt-4o", "gpt-4o-mini", "o3-mini", "mistral-large", "deepseek-chat"):
        assert litellm.resolve(name).route == "first-party", name


# ----------------------------------------------------------------- limits the provider would refuse


def test_estimate_warns_when_a_prompt_exceeds_the_context_window():
    from llmledger.pricing.estimate import check_plan, monthly_bill

    sheet = importers.litellm_sheet()
    gpt4o = next(m for m in sheet.latest().models if m.model_id == "gpt-4o")
    b = monthly_bill("gpt-4o", 1_100_000, 300, 1000, sheet=sheet)
    assert len(b.warnings) == 1 and f"{gpt4o.context_window:,}" in b.warnings[0] and "gpt-4o" in b.warnings[0]
    assert monthly_bill("gpt-4o", 2000, 300, 1000, sheet=sheet).warnings == []
    b = monthly_bill("gpt-4o", 2000, gpt4o.max_output_tokens + 1, 1000, sheet=sheet)
    assert "max_output_tokens" in b.warnings[0]
    # 10^9 input tokens per request is refused outright, not billed.
    with pytest.raises(Exception, match="beyond any model's context"):
        check_plan(1000, 1e9, 300, 0, 12)
    # A reseller-priced model says so in the bill's notes.
    reseller = _sheet(_entry("snowflake/claude-3-5-sonnet", "snowflake"))
    b = monthly_bill("claude-3-5-sonnet", 1000, 100, 10, sheet=reseller)
    assert b.route == "reseller" and "via reseller snowflake" in b.notes[0]


@settings(max_examples=60, deadline=None)
@given(n_in=st.integers(0, 10**8), n_out=st.integers(0, 10**6))
def test_limit_warnings_name_the_limit_exactly_when_it_is_crossed(n_in, n_out):
    from llmledger.pricing.estimate import limit_warnings

    e = ModelEntry("m", "openai", context_window=128_000, max_output_tokens=16_384)
    w = limit_warnings(e, n_in, n_out, "s")
    assert any("128,000" in x for x in w) == (n_in > 128_000)
    assert any("16,384" in x for x in w) == (n_out > 16_384)


def test_resolutions_stored_under_older_rules_are_redone(con):
    """A ledger resolved before the route order keeps no reseller match the rules no longer make."""
    from datetime import UTC, datetime

    from llmledger.pricing import sheets
    from llmledger.pricing.matching import MATCH_RULES_KEY

    con.execute(
        "INSERT INTO calls (trace_id, span_id, start_time, provider, request_model, response_model, input_tokens,"
        " output_tokens, usage_source, convention, status) VALUES ('t', 's', ?, 'anthropic', 'claude-3-5-sonnet',"
        " 'claude-3-5-sonnet', 1000, 100, 'reported', 'test', 'ok')",
        [datetime(2026, 1, 5, tzinfo=UTC)],
    )
    sheets.set_active_sheet(con, "litellm")
    priced = "SELECT priced_model, match_kind FROM llm_calls"
    assert con.execute(priced).fetchone()[0] == "vertex_ai/claude-3-5-sonnet"
    # What an older release stored: the reseller, and no rules marker.
    con.execute("UPDATE price_resolution SET model_id = 'snowflake/claude-3-5-sonnet'")
    con.execute("DELETE FROM settings WHERE key = ?", [MATCH_RULES_KEY])
    assert con.execute(priced).fetchone()[0] == "snowflake/claude-3-5-sonnet"
    sheets.unknown_models(con)  # any read that refreshes resolutions
    assert con.execute(priced).fetchone() == ("vertex_ai/claude-3-5-sonnet", "normalized")
