"""Ledgers built through the real import path for the money tests (Spend, Reprice, Estimate,
cost consistency): OTLP sample files, calls that report their own cost, and demo traffic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from helpers import TEST_DATA

from llmledger.pricing import sheets
from llmledger.store.db import connect
from llmledger.telemetry import demo, loader
from llmledger.telemetry.otlp import decode_file_bytes, decode_json

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _attr(k, v):
    if isinstance(v, bool):
        return {"key": k, "value": {"boolValue": v}}
    if isinstance(v, int):
        return {"key": k, "value": {"intValue": str(v)}}
    if isinstance(v, float):
        return {"key": k, "value": {"doubleValue": v}}
    return {"key": k, "value": {"stringValue": v}}


def reported_cost_doc(when: datetime, id_base: int = 0) -> dict:
    """Three GenAI calls that carry their own reported cost (gen_ai.usage.cost)."""
    spans = []
    for i, (model, n_in, n_out, cost, feature) in enumerate(
        [
            ("gpt-4o-mini", 1000, 100, 0.5, "costed-a"),  # far above the sheet's price: a big difference
            ("gpt-4o-mini", 2000, 200, 0.0006, "costed-a"),
            ("acme-private-model-x", 500, 50, 0.01, "costed-b"),  # no sheet prices it
        ]
    ):
        start = int((when + timedelta(minutes=i)).timestamp() * 1e9)
        spans.append(
            {
                "traceId": f"{id_base + i + 1:032x}",
                "spanId": f"{id_base + i + 1:016x}",
                "name": f"chat {model}",
                "kind": 3,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + 500_000_000),
                "attributes": [
                    _attr("gen_ai.operation.name", "chat"),
                    _attr("gen_ai.request.model", model),
                    _attr("gen_ai.response.model", model),
                    _attr("gen_ai.provider.name", "openai"),
                    _attr("gen_ai.usage.input_tokens", n_in),
                    _attr("gen_ai.usage.output_tokens", n_out),
                    _attr("gen_ai.usage.cost", cost),
                    _attr("feature", feature),
                ],
                "status": {"code": 1},
            }
        )
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr("service.name", "costed-svc")]},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
            }
        ]
    }


def build_ledger(path) -> None:
    con = connect(path)
    for f in sorted((TEST_DATA / "otlp").glob("*/in.json")):
        loader.load(con, decode_file_bytes(f.name, f.read_bytes()), f"file-{f.parent.name}", str(f))
    loader.load(con, decode_json(json.dumps(reported_cost_doc(NOW - timedelta(days=2)))), "costed", "test")
    demo.generate(con, n_calls=2500, days=60, now=NOW)
    sheets.set_active_sheet(con, "litellm")  # resolves every model name seen so far
    con.close()
