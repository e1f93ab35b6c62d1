"""Repricing: another sheet, a model swap for a feature, a discount; A -> B -> A is stable."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from llmledger.errors import PricingError
from llmledger.pricing import sheets
from llmledger.reads.reprice import reprice

D = Decimal
CSV_A = b"model,input_per_mtok,output_per_mtok\nalpha,1,2\nbeta,10,20\n"
CSV_B = b"model,input_per_mtok,output_per_mtok\nalpha,2,4\nbeta,5,10\n"


def _call(con, span, model, i, o, feature, start="2025-03-01", input_text=None):
    con.execute(
        """INSERT INTO calls (trace_id, span_id, start_time, request_model, input_tokens, output_tokens,
                       usage_source, convention, status, feature, input_text)
                   VALUES ('t', ?, ?, ?, ?, ?, 'reported', 'test', 'ok', ?, ?)""",
        [span, datetime.fromisoformat(start).replace(tzinfo=timezone.utc), model, i, o, feature, input_text],
    )


@pytest.fixture
def seeded(con):
    _call(con, "1", "alpha", 1_000_000, 100_000, "search")
    _call(con, "2", "alpha", 2_000_000, 0, "search", start="2025-04-15")
    _call(con, "3", "beta", 100_000, 100_000, "chat")
    sheets.import_sheet_bytes(con, CSV_A, "a.csv")
    sheets.import_sheet_bytes(con, CSV_B, "b.csv")
    sheets.set_active_sheet(con, "a")
    return con


def test_reprice_under_another_sheet(seeded):
    df = reprice(seeded, sheet="b").set_index("feature")
    # search under a: 1M x $1 + 0.1M x $2 + 2M x $1 = $3.20 ; under b: $6.40
    assert df.loc["search", "baseline_usd"] == D("3.2")
    assert df.loc["search", "scenario_usd"] == D("6.4")
    assert df.loc["chat", "baseline_usd"] == D(3) and df.loc["chat", "scenario_usd"] == D("1.5")
    assert df.attrs["total_baseline_usd"] == D("6.2") and df.attrs["total_scenario_usd"] == D("7.9")


def test_reprice_is_consistent_a_b_a(seeded):
    first = reprice(seeded, sheet="a").attrs["total_scenario_usd"]
    reprice(seeded, sheet="b")
    sheets.set_active_sheet(seeded, "b")
    middle = seeded.execute("SELECT sum(cost_usd) FROM llm_calls").fetchone()[0]
    sheets.set_active_sheet(seeded, "a")
    again = reprice(seeded, sheet="a").attrs["total_scenario_usd"]
    assert first == again == seeded.execute("SELECT sum(cost_usd) FROM llm_calls").fetchone()[0] == D("6.2")
    assert middle == D("7.9")


def test_swap_discount_and_period(seeded):
    df = reprice(seeded, model_swap={"chat": "alpha"}, discount_pct=10).set_index("feature")
    # chat moved to alpha (token-for-token, no text): 0.1M x $1 + 0.1M x $2 = $0.30, less 10%
    assert df.loc["chat", "scenario_usd"] == D("0.27")
    assert df.loc["chat", "token_mapping"] == "token-for-token"
    assert df.loc["search", "scenario_usd"] == D("3.2") * D("0.9")
    march = reprice(
        seeded, period=(datetime(2025, 3, 1, tzinfo=timezone.utc), datetime(2025, 4, 1, tzinfo=timezone.utc))
    )
    assert int(march["calls"].sum()) == 2
    by_model = reprice(seeded, model_swap={"model:beta": "alpha"}, group_by=["request_model"]).set_index(
        "request_model"
    )
    assert by_model.loc["beta", "scenario_usd"] == D("0.3")


def test_swap_maps_tokens_through_the_target_tokenizer(con):
    text = "Grüße aus Zürich! " * 200
    _call(con, "1", "alpha", 1000, 10, "docs", input_text=text)
    sheets.import_sheet_bytes(con, b"model,input_per_mtok,output_per_mtok\nalpha,1,1\nclaude-3-haiku,1,1\n", "s.csv")
    sheets.set_active_sheet(con, "s")
    from llmledger.tokens import count_text

    ratio = count_text(text, model="claude-3-haiku").tokens / count_text(text, model="alpha").tokens
    assert ratio != 1  # the two tokenizers differ on this text, so the mapping is visible
    df = reprice(con, model_swap={"docs": "claude-3-haiku"})
    assert df.loc[0, "token_mapping"] == "tokenizer"
    assert df.loc[0, "scenario_usd"] == (D(round(1000 * ratio)) + 10) / 10**6


def test_reprice_errors(seeded):
    with pytest.raises(PricingError, match="unknown price sheet"):
        reprice(seeded, sheet="nope")
    with pytest.raises(PricingError, match="neither a feature nor a model"):
        reprice(seeded, model_swap={"ghost": "alpha"})
    with pytest.raises(PricingError, match="has no price"):
        reprice(seeded, model_swap={"chat": "no-such-model"})
    with pytest.raises(PricingError, match="between 0 and 100"):
        reprice(seeded, discount_pct=150)
    with pytest.raises(PricingError, match="cannot group"):
        reprice(seeded, group_by=["cost_usd; DROP TABLE calls"])
