"""Local $/1M tokens, break-even volume, and the self-hosted sheet saved through pricing."""

from decimal import Decimal

import pytest

from llmledger.errors import LocalModelError
from llmledger.local import price


def test_usd_per_million_tokens():
    # $0.36/h at 100 tokens/s: 360,000 tokens per hour -> $1 per 1M tokens
    assert price.usd_per_mtok("0.36", 100) == Decimal(1)
    r = price.rates("0.36", 400, 100)
    assert r.input_mtok == Decimal("0.25") and r.output_mtok == Decimal(1)
    assert r.blended_mtok("0.5") == Decimal("0.625")


def test_break_even_volume():
    r = price.rates("0.36", 400, 100)  # blended at 50% output: $0.625 per 1M
    # API at $1.25/1M blended: one machine (730 h x $0.36 = $262.80/month) wins above 210.24M tokens
    be = price.break_even_mtok(r, "0.5", "2.0", "0.5")
    assert be == Decimal("262.80") / Decimal("1.25")
    assert price.monthly_cost_local(r, be, "0.5") == price.api_mtok("0.5", "2.0", "0.5") * be
    # the API is cheaper per token than local even at full use: local never wins
    assert price.break_even_mtok(r, "0.1", "0.2", "0.5") is None


def test_break_even_always_fits_one_machine():
    r = price.rates("10", 1, 1)  # a slow, dear machine: 2.628M tokens/month, $2,777.78 per 1M
    assert price.capacity_mtok_per_month(r, "0.5") == pytest.approx(Decimal("2.628"))
    be = price.break_even_mtok(r, "3900", "3900", "0.5")
    assert be == pytest.approx(Decimal(7300) / Decimal(3900)) and be <= price.capacity_mtok_per_month(r, "0.5")
    assert price.break_even_mtok(r, "2700", "2700", "0.5") is None


def test_curve_and_comparison():
    r = price.rates("0.36", 400, 100)
    curve = price.break_even_curve(r, {"api": ("0.5", "2.0")}, "0.5", points=10)
    assert {c["option"] for c in curve} == {"local (always on)", "api"}
    local = [c["usd_per_month"] for c in curve if c["option"] == "local (always on)"]
    assert local[0] == pytest.approx(262.8) and local == sorted(local)
    table, bes = price.comparison(r, "local Q8_0", {"api": ("0.5", "2.0")}, "0.5")
    assert table[0]["option"] == "local Q8_0" and bes["api"] == pytest.approx(210.24)


def test_bad_inputs():
    with pytest.raises(LocalModelError):
        price.rates(0, 100, 100)
    with pytest.raises(LocalModelError):
        price.rates(1, "fast", 100)


def test_saved_self_hosted_sheet_prices_the_local_model(con):
    from llmledger.pricing.sheets import load_sheet, save_sheet

    r = price.rates("0.36", 400, 100)
    save_sheet(con, price.self_hosted_sheet("my-laptop", r, ["SmolLM2-135M-Instruct-Q8_0"]))
    sheet = load_sheet(con, "my-laptop")
    entry = sheet.latest().models[0]
    assert sheet.kind == "self-hosted" and entry.model_id == "SmolLM2-135M-Instruct-Q8_0"
    assert entry.prices[0].input_mtok == Decimal("0.25") and entry.prices[0].output_mtok == Decimal(1)
