"""Golden test: usage extraction (and pricing) on genai-prices' 1,577 real provider usage bodies.

Three measures, printed:
1. extractor level - every (body, provider extractor) pair: the extractor must produce exactly the
   expected usage when genai-prices lists it for that body, and must refuse the body otherwise;
2. auto-detection - `extract_usage(body)` with no provider hint must land on an extractor whose
   expected usage it reproduces;
3. pricing - the ledger's columns (to_call_usage) priced by our genai-prices sheet against the
   golden input+output prices. Known mismatch classes, asserted explicitly:
   - `modality`: audio / image / video tokens that the sheet prices apart from text; the ledger
     has one input and one output column, so they are priced at the text rate;
   - `time_of_day`: DeepSeek's off-peak prices (a daily time window); the golden prices were
     computed inside the peak window and the ledger does not model time-of-day prices.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from llmledger.pricing import importers
from llmledger.pricing.engine import Usage, cost_of_usage
from llmledger.pricing.matching import Matcher
from llmledger.pricing.usage import ExtractionError, extract_usage, load_extractors, run_extractor, to_call_usage

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "data/pricing/genai-prices/usages_golden.json").read_text())
MODALITY_KEYS = {"input_audio_tokens", "input_video_tokens", "input_image_tokens", "output_image_tokens",
                 "output_audio_tokens", "cache_audio_read_tokens", "cache_video_read_tokens", "cache_image_read_tokens"}


def _expected(item):
    return {(e["provider_id"], e["api_flavor"]): grp["usage"] for grp in item["extracted"] for e in grp["extractors"]}


def test_extractor_level_match_rate():
    extractors = load_extractors()
    assert len(GOLDEN) == 1577
    listed = matched = wrongly_accepted = 0
    misses = Counter()
    for item in GOLDEN:
        expected = _expected(item)
        for ex in extractors:
            try:
                _, usage = run_extractor(ex, item["body"])
            except ExtractionError:
                usage = None
            key = (ex.provider_id, ex.api_flavor)
            if key in expected:
                listed += 1
                matched += usage == expected[key]
                if usage != expected[key]:
                    misses[key] += 1
            elif usage is not None:
                wrongly_accepted += 1
    rate = matched / listed
    print(f"\nextractor level: {matched}/{listed} = {rate:.2%}; refused correctly: all but {wrongly_accepted}")
    assert listed == 19321
    assert rate == 1.0 and not misses and wrongly_accepted == 0


def test_auto_detection_without_hints():
    hits = 0
    for item in GOLDEN:
        model, usage, ex = extract_usage(item["body"])
        assert model == item.get("model")
        hits += _expected(item).get((ex.provider_id, ex.api_flavor)) == usage
    print(f"\nauto-detected extractor reproduces the golden usage: {hits}/{len(GOLDEN)} = {hits / len(GOLDEN):.2%}")
    assert hits == len(GOLDEN)


def test_ledger_columns_follow_otel_semantics():
    for item in GOLDEN:
        for grp in item["extracted"]:
            u = to_call_usage(grp["usage"])
            cached = (u.cache_read_tokens or 0) + (u.cache_write_tokens or 0)
            if u.input_tokens is not None:
                assert cached <= u.input_tokens  # input includes cache reads and writes
            if u.reasoning_tokens and u.output_tokens is not None:
                assert u.reasoning_tokens <= u.output_tokens  # output includes reasoning


@pytest.fixture(scope="module")
def genai_sheet():
    return importers.genai_prices_sheet(json.loads((ROOT / "data/pricing/genai-prices/data.json").read_text()))


def test_golden_prices(genai_sheet):
    # The golden prices predate the 2026-07-30 price changes in data.json; price at that time.
    version = genai_sheet.version_at(datetime(2026, 7, 1, tzinfo=timezone.utc))
    matcher = Matcher(genai_sheet, version.models)
    by_id = {m.model_id: m for m in version.models}
    total = ok = 0
    classes = Counter()
    for item in GOLDEN:
        for grp in item["extracted"]:
            u = to_call_usage(grp["usage"])
            for e in grp["extractors"]:
                if "input_price" not in e:
                    continue
                total += 1
                hit = matcher.resolve(item["model"], e["provider_id"])
                if hit is None:
                    classes["unresolved"] += 1
                    continue
                got = cost_of_usage(by_id[hit.model_id], Usage(
                    u.input_tokens or 0, u.output_tokens or 0, u.cache_read_tokens or 0, u.cache_write_tokens or 0,
                    reasoning_tokens=u.reasoning_tokens or 0)).exact_total
                want = Decimal(e["input_price"]) + Decimal(e["output_price"])
                if got == want:
                    ok += 1
                elif MODALITY_KEYS & set(grp["usage"]):
                    classes["modality"] += 1
                elif hit.model_id.startswith("deepseek:"):
                    classes["time_of_day"] += 1
                else:
                    classes[f"other {e['provider_id']} {item['model']}"] += 1
    rate = ok / total
    print(f"\ngolden prices: {ok}/{total} = {rate:.2%}; mismatches by class: {dict(classes)}")
    assert rate >= 0.985
    assert set(classes) == {"modality", "time_of_day"}
    assert classes["modality"] == 44 and classes["time_of_day"] == 3


def _generations(x):
    if isinstance(x, dict):
        if isinstance(x.get("usageDetails"), dict) and x["usageDetails"]:
            yield x
        for v in x.values():
            yield from _generations(v)
    elif isinstance(x, list):
        for v in x:
            yield from _generations(v)


def test_langfuse_usage_details_from_framework_traces():
    """Langfuse's stored usageDetails (42+ real generations): input/output with OTel semantics
    must add up to Langfuse's own `total`, with cache reads inside input, reasoning inside output."""
    from llmledger.pricing.usage import langfuse_usage

    seen = with_reasoning = 0
    for f in sorted((ROOT / "tests/data/framework-traces").glob("*.trace.json")):
        for gen in _generations(json.loads(f.read_text())):
            d = gen["usageDetails"]
            u = to_call_usage(langfuse_usage(d))
            if "total" in d and u.output_tokens is not None:
                assert (u.input_tokens or 0) + u.output_tokens == d["total"], (f.name, d)
            if u.reasoning_tokens:
                with_reasoning += 1
                assert u.reasoning_tokens <= u.output_tokens
            seen += 1
    print(f"\nLangfuse usageDetails checked: {seen} generations, {with_reasoning} with reasoning tokens")
    assert seen >= 42 and with_reasoning >= 1
