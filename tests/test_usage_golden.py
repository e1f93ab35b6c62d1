"""Golden test: genai-prices' 1,577 real provider usages through the ledger's live usage path.

genai-prices extracted each response body's usage into its own keys (input_tokens including cache
reads and writes, output_tokens including reasoning, per-modality parts) and priced it. Here each
extracted usage is sent the way instrumentation sends a usage dictionary, as a Langfuse
generation's `langfuse.observation.usage_details`, and mapped by the live convention mapping
(telemetry.conventions.map_span: the one usage normaliser the loader uses). Two measures, printed:
1. columns: the ledger's columns must hold exactly genai-prices' counts with OTel semantics;
2. pricing: those columns priced by our genai-prices sheet against the golden input+output prices.
   Known mismatch classes, asserted explicitly:
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
from llmledger.telemetry.conventions import map_span
from llmledger.telemetry.otlp import Span

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((ROOT / "data/pricing/genai-prices/usages_golden.json").read_text())
MODALITY_KEYS = {
    "input_audio_tokens",
    "input_video_tokens",
    "input_image_tokens",
    "output_image_tokens",
    "output_audio_tokens",
    "cache_audio_read_tokens",
    "cache_video_read_tokens",
    "cache_image_read_tokens",
}


def live_call(usage: dict, model: str | None = None):
    """The call the live mapping makes of a generation span reporting `usage`."""
    span = Span(
        trace_id="0" * 31 + "1",
        span_id="0" * 15 + "1",
        parent_span_id=None,
        name="generation",
        kind="client",
        start_ns=0,
        end_ns=1,
        status_code="OK",
        status_message=None,
        attributes={
            "langfuse.observation.type": "generation",
            "langfuse.observation.model.name": model or "model",
            "langfuse.observation.usage_details": json.dumps(usage),
        },
        resource={},
        scope_name="langfuse-sdk",
        scope_version="",
    )
    call = map_span(span)
    assert call is not None and call.convention == "langfuse"
    return call


def _expected(usage: dict) -> tuple:
    """genai-prices' usage in the ledger's columns (its semantics already match OTel's)."""

    def g(*keys):
        vals = [usage[k] for k in keys if k in usage]
        return sum(vals) if vals else None

    cache_write = g("cache_write_tokens")
    if cache_write is None:
        cache_write = g("cache_write_5m_tokens", "cache_write_1h_tokens")
    return (g("input_tokens"), g("output_tokens"), g("cache_read_tokens"), cache_write, g("output_reasoning_tokens"))


def _columns(call) -> tuple:
    return (
        call.input_tokens,
        call.output_tokens,
        call.cache_read_tokens,
        call.cache_write_tokens,
        call.reasoning_tokens,
    )


def test_live_mapping_reproduces_every_golden_usage():
    assert len(GOLDEN) == 1577
    total = 0
    misses = Counter()
    for item in GOLDEN:
        for grp in item["extracted"]:
            total += 1
            call = live_call(grp["usage"], item.get("model"))
            if _columns(call) != _expected(grp["usage"]):
                misses[tuple(sorted(grp["usage"]))] += 1
            cached = (call.cache_read_tokens or 0) + (call.cache_write_tokens or 0)
            if call.input_tokens is not None:
                assert cached <= call.input_tokens  # input includes cache reads and writes
            if call.reasoning_tokens and call.output_tokens is not None:
                assert call.reasoning_tokens <= call.output_tokens  # output includes reasoning
            assert call.usage_source == ("reported" if grp["usage"] else "missing")  # nine report nothing
    print(f"\nlive mapping: {total - sum(misses.values())}/{total} golden usages reproduced; misses: {dict(misses)}")
    assert total == 2332 and not misses


def test_anthropic_native_counts_stay_exclusive():
    """Anthropic's own usage keeps cache counts apart from input_tokens; genai-prices' keeps them
    inside. Same numbers, two meanings: the key names decide."""
    native = live_call({"input_tokens": 22, "cache_read_input_tokens": 2492, "output_tokens": 13})
    assert (native.input_tokens, native.cache_read_tokens) == (2514, 2492)
    golden = live_call({"input_tokens": 2514, "cache_read_tokens": 2492, "output_tokens": 13})
    assert (golden.input_tokens, golden.cache_read_tokens) == (2514, 2492)


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
            c = live_call(grp["usage"], item.get("model"))
            for e in grp["extractors"]:
                if "input_price" not in e:
                    continue
                total += 1
                hit = matcher.resolve(item["model"], e["provider_id"])
                if hit is None:
                    classes["unresolved"] += 1
                    continue
                got = cost_of_usage(
                    by_id[hit.model_id],
                    Usage(
                        c.input_tokens or 0,
                        c.output_tokens or 0,
                        c.cache_read_tokens or 0,
                        c.cache_write_tokens or 0,
                        reasoning_tokens=c.reasoning_tokens or 0,
                    ),
                ).exact_total
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
    """Langfuse's stored usageDetails (42+ real generations) through the live mapping:
    input/output with OTel semantics must add up to Langfuse's own `total`, with cache reads
    inside input, reasoning inside output."""
    seen = with_reasoning = 0
    for f in sorted((ROOT / "tests/data/framework-traces").glob("*.trace.json")):
        for gen in _generations(json.loads(f.read_text())):
            d = gen["usageDetails"]
            u = live_call(d)
            if "total" in d and u.output_tokens is not None:
                assert (u.input_tokens or 0) + u.output_tokens == d["total"], (f.name, d)
            if u.reasoning_tokens:
                with_reasoning += 1
                assert u.reasoning_tokens <= u.output_tokens
            seen += 1
    print(f"\nLangfuse usageDetails checked: {seen} generations, {with_reasoning} with reasoning tokens")
    assert seen >= 42 and with_reasoning >= 1
