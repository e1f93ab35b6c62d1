"""Hostile names for the markup-escaping tests: strings that Plotly (HTML subset) or Streamlit
(Markdown) would render as links, images, bold or script if they were not escaped, and a real
OTLP/JSON request whose spans carry them as span, model, feature, team, user and service names."""

from __future__ import annotations

import json
import random
import time

HOST = "example.invalid"  # never resolves; any request to it means a name was rendered as markup

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
ANCHOR = f'<a href="http://{HOST}/x">click</a>'
BOLD = "<b>bold</b>"
MD_LINK = f"[link](http://{HOST})"
MD_IMG = f"![img](http://{HOST}/i.png)"
HOSTILE = [SCRIPT, IMG, ANCHOR, BOLD, MD_LINK, MD_IMG]

FEATURES = [BOLD, ANCHOR, MD_LINK]
TEAM, USER, SERVICE = MD_IMG, IMG, MD_LINK
ROOT_SPAN = f"{SCRIPT} root"
CALL_SPAN = f"chat {IMG}"
PRICED_MODEL = "gpt-4o-mini"
HOSTILE_MODEL = f"{BOLD}-model"


def _attr(key: str, value) -> dict:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def otlp_request(traces: int = 12, seed: int = 7, now: float | None = None) -> dict:
    """One ExportTraceServiceRequest (OTLP/JSON): per trace a root span and one GenAI chat call
    under it, over the last two days; most calls use a priced model, every fourth a hostile one."""
    rnd = random.Random(seed)
    now = time.time() if now is None else now
    spans = []
    for i in range(traces):
        trace_id = f"{rnd.getrandbits(128) | 1:032x}"
        root_id, call_id = f"{rnd.getrandbits(64) | 1:016x}", f"{rnd.getrandbits(64) | 1:016x}"
        start = int((now - 3600 * (1 + i * 4)) * 1e9)
        model = HOSTILE_MODEL if i % 4 == 3 else PRICED_MODEL
        spans.append(
            {
                "traceId": trace_id,
                "spanId": root_id,
                "name": ROOT_SPAN,
                "kind": 2,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(start + 2_000_000_000),
                "attributes": [
                    _attr("app.feature", FEATURES[i % len(FEATURES)]),
                    _attr("app.team", TEAM),
                    _attr("user.id", USER),
                ],
            }
        )
        spans.append(
            {
                "traceId": trace_id,
                "spanId": call_id,
                "parentSpanId": root_id,
                "name": CALL_SPAN,
                "kind": 3,
                "startTimeUnixNano": str(start + 100_000_000),
                "endTimeUnixNano": str(start + 1_500_000_000),
                "attributes": [
                    _attr("gen_ai.operation.name", "chat"),
                    _attr("gen_ai.system", "openai"),
                    _attr("gen_ai.request.model", model),
                    _attr("gen_ai.response.model", model),
                    _attr("gen_ai.usage.input_tokens", 1000 + 10 * i),
                    _attr("gen_ai.usage.output_tokens", 200 + i),
                ],
            }
        )
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attr("service.name", SERVICE)]},
                "scopeSpans": [{"scope": {"name": "hostile-test"}, "spans": spans}],
            }
        ]
    }


def load_hostile(con, traces: int = 12) -> dict:
    """Import the hostile request through the real file-import path; returns its summary."""
    from llmledger.telemetry.ingest import ingest_blobs

    blob = json.dumps(otlp_request(traces)).encode()
    result = ingest_blobs(con, [("hostile <b>names</b>.json", blob)], source="upload").as_dict()
    assert result["llm_calls"] == traces and not result["rejected"], result
    return result
