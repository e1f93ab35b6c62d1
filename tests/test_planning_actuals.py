"""Plan vs actual on real telemetry: OTLP ingested through the loader, priced by the pricing view."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from llmledger.errors import PlanningError
from llmledger.planning import actuals, prices
from llmledger.planning.requirements import RequirementSet, UseCase
from llmledger.pricing import sheets
from llmledger.reads import actuals as recorded
from llmledger.telemetry import loader, otlp

ACTUAL_SHEET = "model,provider,input_per_mtok,output_per_mtok\ngpt-4o-mini,openai,0.15,0.6\ngpt-4o,openai,2.5,10\n"
PLAN_SHEET = "model,provider,input_per_mtok,output_per_mtok\ngpt-4o-mini,openai,0.3,1.2\ngpt-4o,openai,5,20\n"


def _span(i: int, day: int, model: str, inp: int, out: int, feature: str) -> dict:
    t0 = int(dt.datetime(2026, 1, day, 10, i, tzinfo=dt.timezone.utc).timestamp() * 1e9)
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": inp,
        "gen_ai.usage.output_tokens": out,
        "app.feature": feature,
    }
    return {
        "traceId": f"{i + 1:032x}",
        "spanId": f"{i + 1:016x}",
        "name": f"chat {model}",
        "kind": 3,
        "startTimeUnixNano": str(t0),
        "endTimeUnixNano": str(t0 + 800_000_000),
        "attributes": [
            {"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
            for k, v in attrs.items()
        ],
    }


def ingest(con, spans: list[dict]) -> None:
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "t"}}]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
            }
        ]
    }
    res = loader.load(con, otlp.decode_json(json.dumps(doc)), batch_id="t1", source="test")
    assert res.calls_new == len(spans)


@pytest.fixture
def hand_case(con):
    """Jan 5–6 2026: 6 calls of gpt-4o-mini (1000 in / 100 out), 4 of gpt-4o (2000 / 300)."""
    spans = [_span(i, 5 + i % 2, "gpt-4o-mini", 1000, 100, "chat") for i in range(6)]
    spans += [_span(6 + i, 5 + i % 2, "gpt-4o", 2000, 300, "chat") for i in range(4)]
    spans.append(_span(20, 5, "gpt-4o", 5000, 500, "other-feature"))
    ingest(con, spans)
    sheets.import_sheet_bytes(con, ACTUAL_SHEET.encode(), "actual.csv", "actual")
    sheets.import_sheet_bytes(con, PLAN_SHEET.encode(), "plan.csv", "plan")
    sheets.set_active_sheet(con, "actual")
    rs = RequirementSet(
        name="p",
        start_month="2026-01",
        sheet="plan",
        use_cases=[
            UseCase(
                name="Chat",
                requests_per_day=4,
                input_tokens=800,
                output_tokens=150,
                model="gpt-4o-mini",
                feature_tag="chat",
            )
        ],
    )
    return rs, prices.sheet_models(con, "plan")


def test_hand_computed_variance_decomposition(con, hand_case):
    rs, plan_prices = hand_case
    assert plan_prices["gpt-4o"].input_per_1m == 5.0  # the adapter read the stored sheet
    r = actuals.plan_vs_actual(con, rs, "Chat", plan_prices, dt.date(2026, 1, 5), dt.date(2026, 1, 7))
    cmp_ = r.comparison.set_index("metric")
    # planned: 4/day × 2 days = 8 calls at 800 × $0.3e-6 + 150 × $1.2e-6 = $0.00042
    assert cmp_.loc["calls", "planned"] == pytest.approx(8)
    assert cmp_.loc["calls", "actual"] == 10
    assert cmp_.loc["input tokens per call", "actual"] == pytest.approx(1400)  # (6×1000 + 4×2000) / 10
    assert cmp_.loc["output tokens per call", "actual"] == pytest.approx(180)  # (6×100 + 4×300) / 10
    assert r.planned_cost == pytest.approx(0.00336)
    # recorded under the active 'actual' sheet: 6 × $0.00021 + 4 × $0.008
    assert r.actual_cost == pytest.approx(0.03326)
    eff = dict(zip(r.effects["effect"], r.effects["usd"]))
    assert eff["volume"] == pytest.approx(0.00084)  # (10 − 8) × 0.00042
    assert eff["input tokens per call"] == pytest.approx(0.0018)  # 10 × 600 × 0.3e-6
    assert eff["output tokens per call"] == pytest.approx(0.00036)  # 10 × 30 × 1.2e-6
    # at plan prices: 6 × $0.00042 + 4 × $0.016 = $0.06652, less 10 × (1400 × 0.3e-6 + 180 × 1.2e-6)
    assert eff["model mix"] == pytest.approx(0.06652 - 0.00636)
    assert eff["price"] == pytest.approx(0.03326 - 0.06652)  # the actual sheet is half the plan's
    assert r.cost_variance == pytest.approx(r.actual_cost - r.planned_cost)
    by_model = r.by_model.set_index("model")
    assert by_model.loc["gpt-4o", "share"] == pytest.approx(0.4)
    assert list(r.by_day["actual_calls"]) == [5, 5]


def test_errors_and_notes(con, hand_case):
    rs, plan_prices = hand_case
    with pytest.raises(PlanningError, match="no telemetry feature tag"):
        actuals.plan_vs_actual(
            con,
            RequirementSet(use_cases=[UseCase(name="x", model="gpt-4o")]),
            "x",
            plan_prices,
            dt.date(2026, 1, 1),
            dt.date(2026, 1, 2),
        )
    with pytest.raises(PlanningError, match="must end after it starts"):
        actuals.plan_vs_actual(con, rs, "Chat", plan_prices, dt.date(2026, 1, 5), dt.date(2026, 1, 5))
    r = actuals.plan_vs_actual(con, rs, "Chat", plan_prices, dt.date(2025, 12, 20), dt.date(2025, 12, 21))
    assert any("outside the plan" in n for n in r.notes)
    assert any("no calls tagged feature = 'chat'" in n for n in r.notes)
    assert recorded.feature_span(con, "chat") == (dt.date(2026, 1, 5), dt.date(2026, 1, 7), 10)
    assert set(recorded.features(con)["feature"]) == {"chat", "other-feature"}


def test_plan_vs_actual_on_demo_traffic(con):
    from llmledger.telemetry import demo

    now = dt.datetime(2026, 3, 31, 12, tzinfo=dt.timezone.utc)
    demo.generate(con, n_calls=3000, days=60, seed=3, now=now)
    span = recorded.feature_span(con, "demo-support-chat")
    assert span is not None
    lo, hi, n = span
    rs = RequirementSet(
        name="demo",
        start_month="2026-01",
        sheet="litellm",
        use_cases=[
            UseCase(
                name="Support",
                requests_per_day=10,
                input_tokens=1500,
                output_tokens=200,
                model="gpt-4o-mini",
                feature_tag="demo-support-chat",
            )
        ],
    )
    sheet = prices.sheet_models(con, "litellm")
    r = actuals.plan_vs_actual(con, rs, "Support", sheet, lo, hi)
    # the effects add up to the variance, and actual figures are what llm_calls holds
    assert float(r.effects["usd"].sum()) == pytest.approx(r.actual_cost - r.planned_cost, rel=1e-9, abs=1e-9)
    raw = con.execute(
        "SELECT request_model, input_tokens, output_tokens, cost_usd FROM llm_calls WHERE feature = 'demo-support-chat'"
    ).df()
    assert r.comparison.set_index("metric").loc["calls", "actual"] == len(raw) == n
    assert r.actual_cost == pytest.approx(float(raw["cost_usd"].fillna(0).sum()))
    # demo support chat mixes gpt-4o-mini with gpt-4o and an unpriced fine-tune: model mix raises cost
    eff = dict(zip(r.effects["effect"], r.effects["usd"]))
    assert eff["model mix"] > 0
    assert set(r.by_model["model"]) == set(raw["request_model"])
    assert any("demo-acme-llama-3.1-8b-ft" in n for n in r.notes)
    assert any("reported no token usage" in n for n in r.notes)
    # planned calls follow the plan's curve day by day (no growth, no seasonality: 10 a day)
    assert r.comparison.set_index("metric").loc["calls", "planned"] == pytest.approx(10 * (hi - lo).days)
    assert isinstance(r.by_day, pd.DataFrame) and r.by_day["actual_calls"].sum() == n
