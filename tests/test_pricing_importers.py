"""Each importer on its real file: counts and a few prices checked against the raw JSON, read
independently here."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from llmledger.errors import PricingError
from llmledger.pricing import importers, sheets

ROOT = Path(__file__).resolve().parents[1]
LANGFUSE = ROOT / "data" / "pricing" / "langfuse" / "default-model-prices.json"
GENAI = ROOT / "data" / "pricing" / "genai-prices" / "data.json"


def per_m(x) -> Decimal:
    return Decimal(repr(x)) * 1_000_000


def _entry(sheet, model_id, version=None):
    v = version or sheet.latest()
    return next(m for m in v.models if m.model_id == model_id)


def test_litellm_sheet_from_installed_package():
    raw = json.loads(importers.litellm_map_path().read_text())
    sheet = importers.litellm_sheet()
    assert sheet.kind == "litellm" and importers.litellm_version() in sheet.source
    with_token_price = [
        k
        for k, v in raw.items()
        if k != "sample_spec"
        and isinstance(v, dict)
        and any(
            isinstance(v.get(f), (int, float))
            for f in ("input_cost_per_token", "output_cost_per_token", "input_cost_per_request")
        )
    ]
    ids = {m.model_id for m in sheet.latest().models}
    assert set(with_token_price) <= ids
    assert len(ids) >= 3000
    gpt4o = _entry(sheet, "gpt-4o")
    std = gpt4o.row("standard", 1000)
    assert std.input_mtok == per_m(raw["gpt-4o"]["input_cost_per_token"])
    assert std.output_mtok == per_m(raw["gpt-4o"]["output_cost_per_token"])
    assert std.cache_read_mtok == per_m(raw["gpt-4o"]["cache_read_input_token_cost"])
    assert gpt4o.row("batch").input_mtok == per_m(raw["gpt-4o"]["input_cost_per_token_batches"])
    assert gpt4o.row("priority").output_mtok == per_m(raw["gpt-4o"]["output_cost_per_token_priority"])
    assert gpt4o.context_window == raw["gpt-4o"]["max_input_tokens"]
    # a long-context tier: all tokens of a call above the threshold use the higher price
    key = next(
        k
        for k, v in raw.items()
        if isinstance(v, dict)
        and "input_cost_per_token_above_200k_tokens" in v
        and "output_cost_per_token_above_200k_tokens" in v
    )
    e = _entry(sheet, key)
    assert e.row("standard", 200_000).input_mtok == per_m(raw[key]["input_cost_per_token"])
    assert e.row("standard", 200_001).input_mtok == per_m(raw[key]["input_cost_per_token_above_200k_tokens"])
    assert e.row("standard", 200_001).output_mtok == per_m(raw[key]["output_cost_per_token_above_200k_tokens"])
    # 1-hour cache writes and per-request fees
    key = next(k for k, v in raw.items() if isinstance(v, dict) and "cache_creation_input_token_cost_above_1hr" in v)
    assert _entry(sheet, key).row().cache_write_1h_mtok == per_m(raw[key]["cache_creation_input_token_cost_above_1hr"])
    key = next(k for k, v in raw.items() if isinstance(v, dict) and "input_cost_per_request" in v)
    assert _entry(sheet, key).row().request_usd == Decimal(repr(raw[key]["input_cost_per_request"]))


def test_langfuse_sheet():
    raw = json.loads(LANGFUSE.read_text())
    sheet = importers.langfuse_sheet(raw)
    models = {m.model_id: m for m in sheet.latest().models}
    assert len(raw) == 167
    assert len(models) == len([m for m in raw if any(t["prices"] for t in m["pricingTiers"])])
    gpt4o = next(m for m in raw if m["modelName"] == "gpt-4o")
    e = models["gpt-4o"]
    assert e.match_regex == gpt4o["matchPattern"]
    default = next(t for t in gpt4o["pricingTiers"] if t["isDefault"])
    assert e.row().input_mtok == per_m(default["prices"]["input"])
    assert e.row().output_mtok == per_m(default["prices"]["output"])
    fast = next(t for t in gpt4o["pricingTiers"] if not t["isDefault"])
    assert e.row("priority").input_mtok == per_m(fast["prices"]["input"])
    # usage-threshold tier (usageDetailPattern gt N) becomes a long-context row
    lc = next(m for m in raw if any("usageDetailPattern" in c for t in m["pricingTiers"] for c in t["conditions"]))
    tier = next(t for t in lc["pricingTiers"] if any("usageDetailPattern" in c for c in t["conditions"]))
    n = next(c["value"] for c in tier["conditions"] if "usageDetailPattern" in c)
    row = models[lc["modelName"]].row(
        "priority" if any(c.get("key") for c in tier["conditions"]) else "standard", n + 1
    )
    assert row.above_input_tokens == n and row.input_mtok == per_m(tier["prices"]["input"])
    # 1 h cache writes kept apart from 5 min ones
    sonnet = next(m for m in raw if "input_cache_creation_1h" in m["pricingTiers"][0]["prices"])
    r = models[sonnet["modelName"]].row()
    assert r.cache_write_1h_mtok == per_m(sonnet["pricingTiers"][0]["prices"]["input_cache_creation_1h"])
    assert r.cache_write_mtok == per_m(sonnet["pricingTiers"][0]["prices"]["input_cache_creation_5m"])


def test_genai_prices_sheet_versions_and_tiers():
    raw = json.loads(GENAI.read_text())
    sheet = importers.genai_prices_sheet(raw)
    assert len(raw) == 36 and sum(len(p["models"]) for p in raw) == 1466
    dates = {
        cp["constraint"]["start_date"]
        for p in raw
        for m in p["models"]
        if isinstance(m["prices"], list)
        for cp in m["prices"]
        if "start_date" in cp.get("constraint", {})
    }
    assert len(sheet.versions) == 1 + len(dates)
    # claude-sonnet-5: $2/$10 until 2026-09-01, then $3/$15 (a dated conditional price)
    before = sheet.version_at(datetime(2026, 8, 31, tzinfo=timezone.utc))
    after = sheet.version_at(datetime(2026, 9, 1, tzinfo=timezone.utc))
    anthropic = next(p for p in raw if p["id"] == "anthropic")
    s5 = next(m for m in anthropic["models"] if m["id"] == "claude-sonnet-5")
    assert _entry(sheet, "anthropic:claude-sonnet-5", before).row().input_mtok == Decimal(
        str(s5["prices"][0]["prices"]["input_mtok"])
    )
    assert _entry(sheet, "anthropic:claude-sonnet-5", after).row().input_mtok == Decimal(
        str(s5["prices"][1]["prices"]["input_mtok"])
    )
    # tiered prices: base below the first tier start, tier price above it
    m = next(
        m
        for m in anthropic["models"]
        if isinstance(m["prices"], dict) and isinstance(m["prices"].get("input_mtok"), dict)
    )
    tiers = m["prices"]["input_mtok"]
    e = _entry(sheet, f"anthropic:{m['id']}")
    start = tiers["tiers"][0]["start"]
    assert e.row("standard", start).input_mtok == Decimal(str(tiers["base"]))
    assert e.row("standard", start + 1).input_mtok == Decimal(str(tiers["tiers"][0]["price"]))
    # free models (empty prices) are explicitly $0, not unknown
    free = next(p for p in raw if p["id"] == "openrouter")
    fm = next(m for m in free["models"] if m["prices"] == {})
    assert _entry(sheet, f"openrouter:{fm['id']}").row().input_mtok == 0


def test_self_hosted_sheet():
    s = importers.self_hosted_sheet("lab", 2.0, 1000, 100, ["smollm2"])
    row = s.latest().models[0].row()
    # $2/h over 3600 s at 1000 tok/s in: 2 / 3.6e6 * 1e6 = 0.555555556 per 1M
    assert row.input_mtok == (Decimal(2) / Decimal(3_600_000) * 1_000_000).quantize(Decimal("1e-9"))
    assert row.output_mtok == (Decimal(2) / Decimal(360_000) * 1_000_000).quantize(Decimal("1e-9"))
    with pytest.raises(PricingError, match="tokens_per_s_output"):
        importers.self_hosted_sheet("lab", 2.0, 1000, 0, ["m"])
    with pytest.raises(PricingError, match="negative"):
        importers.self_hosted_sheet("lab", -1, 1000, 10, ["m"])


def test_stored_sheets_round_trip(con):
    sheets.ensure_default_sheet(con)
    sheets.import_file(con, LANGFUSE)
    sheets.import_file(con, GENAI)
    listed = sheets.list_sheets(con).set_index("sheet")
    assert set(listed.index) == {"litellm", "langfuse", "genai-prices"}
    assert bool(listed.loc["litellm", "active"])
    assert importers.litellm_version() in listed.loc["litellm", "source"]
    mem = importers.langfuse_sheet(json.loads(LANGFUSE.read_text()))
    back = sheets.load_sheet(con, "langfuse")
    assert len(back.latest().models) == len(mem.latest().models) == listed.loc["langfuse", "models"]
    a, b = _entry(mem, "gpt-4o"), _entry(back, "gpt-4o")
    assert sorted((r.service_tier, r.above_input_tokens, r.input_mtok, r.output_mtok) for r in a.prices) == sorted(
        (r.service_tier, r.above_input_tokens, r.input_mtok, r.output_mtok) for r in b.prices
    )
    # importing the default again is a no-op; the same source is recorded once
    sheets.ensure_default_sheet(con)
    assert con.execute("SELECT count(*) FROM price_versions WHERE sheet = 'litellm'").fetchone()[0] == 1
