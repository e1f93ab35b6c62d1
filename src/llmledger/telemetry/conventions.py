"""Convention mapping: one raw span in, at most one model call out.

Understands OTel GenAI (current and deprecated names), OpenInference, OpenLLMetry/Traceloop,
OpenLIT, LiteLLM's callback, the Vercel AI SDK and Langfuse's own attributes. Wrapper spans
(workflows, agents, tools, HTTP clients, LiteLLM's raw request twin) map to None.

Token semantics follow OTel GenAI: `input_tokens` includes cache reads and writes. A count that
the instrumentation did not report is None, never 0, and `usage_source` says 'missing'.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from llmledger.telemetry.otlp import Span


@dataclass(slots=True)
class Call:
    convention: str
    provider: str | None = None
    operation: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    usage_source: str = "missing"  # 'reported' | 'estimated' | 'missing'
    status: str = "ok"  # 'ok' | 'error'
    reported_cost_usd: Decimal | None = None
    input_text: str | None = None  # prompt content when the span carries it (for token estimates)
    output_text: str | None = None


def map_span(span: Span) -> Call | None:
    """Map one span to a call, or None when it is not a model call."""
    raise NotImplementedError  # implemented by the mapping work


def drop_nested_duplicates(cur, trace_ids: list[str]) -> int:
    """Delete calls that merely wrap another call of the same trace (two instrumentations of one
    request, e.g. a framework span around the provider SDK's span). Runs inside the loader's
    transaction on `cur`; returns the number of rows deleted. Order-independent across batches."""
    return 0
