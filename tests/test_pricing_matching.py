"""Model matching against the real sheets: exact, provider-prefixed, snapshots, Bedrock/Vertex,
Langfuse regex and genai-prices rules; unknown models resolve to nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmledger.pricing import importers
from llmledger.pricing.matching import Matcher, base_name, clause_match, normalize
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
