"""User sheets (CSV / YAML), uploads, base-sheet discounts, sheet management and bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llmledger.errors import PricingError
from llmledger.pricing import sheets

D = Decimal


def test_csv_sheet_with_tiers_batch_and_versions(con):
    csv = (
        b"model,provider,input_per_mtok,output_per_mtok,cache_read_per_mtok,service_tier,above_input_tokens,effective_from\n"
        b"gpt-4o,openai,2.5,10,1.25,,,\n"
        b"gpt-4o,openai,1.25,5,,batch,,\n"
        b"gpt-4o,openai,5,20,2.5,,128000,\n"
        b"gpt-4o,openai,2,8,1,,,2025-06-01\n"
    )
    name = sheets.import_sheet_bytes(con, csv, "negotiated.csv")
    s = sheets.load_sheet(con, name)
    assert name == "negotiated" and len(s.versions) == 2
    first = s.versions[0].models[0]
    assert first.row("standard", 1000).input_mtok == D("2.5")
    assert first.row("standard", 128_001).input_mtok == D(5)
    assert first.row("batch").output_mtok == D(5)
    assert s.versions[1].models[0].row().input_mtok == D(2)


def test_yaml_sheet_over_a_base_with_discount(con):
    yaml = b"""
name: acme
base_sheet: ignored-when-given-as-argument
discount_pct: 20
models:
  - model: gpt-4o            # 20% off the base sheet's gpt-4o
  - model: claude-3-haiku-20240307
    discount_pct: 50
  - model: house-model
    input_per_mtok: 0.1
    output_per_mtok: 0.2
"""
    sheets.import_sheet_bytes(
        con, b"model,input_per_mtok,output_per_mtok\ngpt-4o,2.5,10\nclaude-3-haiku-20240307,0.25,1.25\n", "base.csv"
    )
    yaml = yaml.replace(b"base_sheet: ignored-when-given-as-argument\n", b"")
    sheets.import_sheet_bytes(con, yaml, "acme.yaml", base_sheet="base")
    models = {m.model_id: m for m in sheets.load_sheet(con, "acme").latest().models}
    assert models["gpt-4o"].row().input_mtok == D(2) and models["gpt-4o"].row().output_mtok == D(8)
    assert models["claude-3-haiku-20240307"].row().input_mtok == D("0.125")
    assert models["house-model"].row().output_mtok == D("0.2")


@pytest.mark.parametrize(
    "data, fname, message",
    [
        (b"model,input_per_mtok,output_per_mtok\ngpt-4o,-1,2\n", "x.csv", "negative price"),
        (b"model,input_per_mtok,output_per_mtok\ngpt-4o,abc,2\n", "x.csv", "'abc' is not a number"),
        (b"model,input_per_mtok,output_per_mtok\ngpt-4o,2500000,2\n", "x.csv", "check the units"),
        (b"model,input_per_mtok,price\ngpt-4o,1,2\n", "x.csv", "unknown CSV column"),
        (b"name,input_per_mtok\ngpt-4o,1\n", "x.csv", "needs a 'model' column"),
        (b"model,input_per_mtok,output_per_mtok\ngpt-4o,1,2,3\n", "x.csv", "more fields than the header"),
        (b"model,input_per_mtok,output_per_mtok\nnew-model,,\n", "x.csv", "has no price"),
        (b"model,input_per_mtok,service_tier\nm,1,turbo\n", "x.csv", "service_tier 'turbo'"),
        (b"model,input_per_mtok,effective_from\nm,1,yesterday\n", "x.csv", "is not a date"),
        (b"name: y\nmodels:\n  - model: m\n    input_per_mtok: [1\n", "y.yaml", "malformed YAML"),
        (b"name: y\nmodels: 3\n", "y.yaml", "needs a 'models:' list"),
        (b"name: y\nmodels:\n  - model: m\n    cost: 1\n", "y.yaml", "unknown key"),
        (b"models:\n  - model: m\n    input_per_mtok: 1\n", "y.yaml", None),  # name comes from the argument
        (b"{not json", "z.json", "malformed JSON"),
        (b'{"a": 1}', "z.json", "neither a LiteLLM map"),
        (b"\xff\xfe", "z.csv", "not UTF-8"),
    ],
)
def test_bad_sheets_get_clear_errors(con, data, fname, message):
    if message is None:
        assert sheets.import_sheet_bytes(con, data, fname, name="named") == "named"
        return
    with pytest.raises(PricingError, match=message):
        sheets.import_sheet_bytes(con, data, fname)


def test_sheet_management(con):
    assert sheets.get_active_sheet(con) == "litellm"
    sheets.import_sheet_bytes(con, b"model,input_per_mtok,output_per_mtok\nm,1,2\n", "mine.csv")
    assert set(sheets.list_sheets(con)["sheet"]) == {"litellm", "mine"}
    sheets.set_active_sheet(con, "mine")
    assert sheets.get_active_sheet(con) == "mine"
    with pytest.raises(PricingError, match="active sheet"):
        sheets.delete_sheet(con, "mine")
    with pytest.raises(PricingError, match="unknown price sheet"):
        sheets.set_active_sheet(con, "nope")
    sheets.set_active_sheet(con, "litellm")
    sheets.delete_sheet(con, "mine")
    assert "mine" not in set(sheets.list_sheets(con)["sheet"])
    assert (
        con.execute(
            "SELECT count(*) FROM model_prices p JOIN price_versions v USING (version_id) WHERE v.sheet = 'mine'"
        ).fetchone()[0]
        == 0
    )
    cat = sheets.model_catalog(con)
    row = cat[cat["model_id"] == "gpt-4o"].iloc[0]
    assert row["context_window"] > 0 and bool(row["has_batch"])


def test_self_hosted_sheet_stored_and_priced(con):
    from llmledger.pricing.importers import self_hosted_sheet

    sheets.save_sheet(con, self_hosted_sheet("lab", "1.80", 900, 90, ["smollm2-135m"]))
    con.execute("""INSERT INTO calls (trace_id, span_id, request_model, input_tokens, output_tokens, usage_source,
                   convention, status) VALUES ('t', 's', 'smollm2-135m', 900, 90, 'reported', 'test', 'ok')""")
    sheets.set_active_sheet(con, "lab")
    # one second of input and one of output at $1.80/h: 2 x 1.80 / 3600 = $0.001 (per-1M rates rounded to 1e-9)
    cost = con.execute("SELECT cost_usd FROM llm_calls").fetchone()[0]
    assert abs(cost - D("0.001")) < D("1e-9")
