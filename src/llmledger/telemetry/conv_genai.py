"""The `gen_ai.*` family: OTel GenAI semantic conventions (current and deprecated names) and the
dialects that build on them: OpenLLMetry/Traceloop, OpenLIT, LiteLLM's callback and LangSmith.
"""

from __future__ import annotations

from typing import Any

from llmledger.telemetry.conv_common import (
    NOT_CALL_OPERATIONS,
    Call,
    first_int,
    first_str,
    indexed_values,
    join_text,
    maybe_json,
    norm_operation,
    norm_provider,
    normalise_cache,
    scope_provider,
    set_usage_source,
    to_decimal,
)
from llmledger.telemetry.otlp import Span

# Keys whose presence makes a span a candidate for this family (checked by the dispatcher).
MODEL_KEYS = ("gen_ai.request.model", "gen_ai.response.model", "llm.request.model", "llm.response.model")

INPUT_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens")
OUTPUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.usage.completion_tokens")
TOTAL_KEYS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens")
CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
    "gen_ai.usage.cached_input_tokens",
    "gen_ai.usage.cache_read_tokens",
    "gen_ai.usage.details.cache_read_tokens",
    "llm.usage.cache_read_input_tokens",
)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.input_tokens.cache_write",
    "gen_ai.usage.cache_write_tokens",
    "gen_ai.usage.details.cache_write_tokens",
    "llm.usage.cache_creation_input_tokens",
)
REASONING_KEYS = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.usage.output_tokens.reasoning",
    "gen_ai.usage.details.reasoning_tokens",
    "gen_ai.usage.details.thoughts_tokens",
    "llm.usage.reasoning_tokens",
)
COST_KEYS = (
    "gen_ai.usage.cost",
    "gen_ai.cost.total_cost",
    "gen_ai.usage.cost_usd",
    "operation.cost",
    "llm.usage.cost",
    "gen_ai.cost",
)

_CALL_OPERATIONS = frozenset(
    {
        "chat",
        "text_completion",
        "generate_content",
        "embeddings",
        "completion",
        "embedding",
        "rerank",
        "image_generation",
        "responses",
        "realtime",
    }
)

# Traceloop wrapper kinds: the model call is a separate child span.
TRACELOOP_WRAPPERS = frozenset({"workflow", "task", "agent", "tool"})


def _convention(span: Span, a: dict) -> str:
    scope = span.scope_name
    if (
        scope == "litellm"
        or span.name == "litellm_request"
        or a.get("gen_ai.framework") == "litellm"
        or "litellm.call_id" in a
        or "litellm.model_group" in a
    ):
        return "litellm"
    if (
        scope.startswith("openlit")
        or span.resource.get("telemetry.sdk.name") == "openlit"
        or "gen_ai.application_name" in a
        or "gen_ai.usage.cost" in a
        or "gen_ai.environment" in a
    ):
        return "openlit"
    if (
        "llm.request.type" in a
        or "traceloop.workflow.name" in a
        or "traceloop.entity.name" in a
        or "llm.usage.total_tokens" in a
        or "gen_ai.is_streaming" in a
        or scope.startswith("opentelemetry.instrumentation.openai.v")
        or scope == "traceloop.tracer"
    ):
        return "openllmetry"
    return "otel_genai"


def _operation(conv: str, a: dict) -> str | None:
    raw = a.get("gen_ai.operation.name") or a.get("llm.request.type")
    if conv == "litellm" and isinstance(raw, str):
        # LiteLLM names the python entry point: completion/acompletion (chat API), aembedding, ...
        s = (
            raw.lower().removeprefix("a")
            if raw.lower() in ("acompletion", "aembedding", "atext_completion", "aimage_generation", "aresponses")
            else raw.lower()
        )
        return {"completion": "chat", "embedding": "embeddings", "responses": "chat"}.get(s, norm_operation(s))
    return norm_operation(raw)


def map_genai(span: Span, a: dict) -> Call | None:
    if span.name == "raw_gen_ai_request":
        return None  # LiteLLM's twin of litellm_request: the same call seen from the raw HTTP side
    conv = _convention(span, a)
    op = _operation(conv, a)
    if op in NOT_CALL_OPERATIONS:
        return None
    ls_kind = a.get("langsmith.span.kind")
    if ls_kind is not None and ls_kind != "llm" and ls_kind != "embedding":
        return None
    request_model = first_str(a, ("gen_ai.request.model", "llm.request.model"))
    response_model = first_str(a, ("gen_ai.response.model", "llm.response.model"))
    # Agent-run and orchestration spans (pydantic-ai 'agent run', Microsoft.Extensions.AI
    # 'orchestrate_tools') carry summed gen_ai.usage.* but name no model and no model operation.
    if request_model is None and response_model is None and op not in _CALL_OPERATIONS:
        return None
    c = Call(
        convention=conv,
        provider=norm_provider(a.get("gen_ai.provider.name") or a.get("gen_ai.system") or a.get("llm.vendor"))
        or scope_provider(span.scope_name),
        operation=op or "chat",
        request_model=request_model,
        response_model=response_model,
        input_tokens=first_int(a, INPUT_KEYS),
        output_tokens=first_int(a, OUTPUT_KEYS),
        cache_read_tokens=first_int(a, CACHE_READ_KEYS),
        cache_write_tokens=first_int(a, CACHE_WRITE_KEYS),
        reasoning_tokens=first_int(a, REASONING_KEYS),
        reported_cost_usd=_cost(a, conv),
    )
    if c.input_tokens is None and c.operation == "embeddings":
        c.input_tokens = first_int(a, TOTAL_KEYS)  # embeddings report only prompt/total tokens
    # OpenLIT writes Anthropic's own input_tokens, which exclude cache reads and writes. Every
    # other dialect here reports the OTel/OpenAI total (LiteLLM normalises to prompt_tokens,
    # OpenLLMetry sums Anthropic's three counts); the inclusive check in normalise_cache covers
    # any that do not.
    normalise_cache(c, conv == "openlit" and c.provider in ("anthropic", "aws.bedrock"))
    set_usage_source(c)
    c.input_text, c.output_text = _texts(span, a)
    return c


def _cost(a: dict, conv: str):
    for k in COST_KEYS:
        if k in a:
            d = to_decimal(a[k])
            if d is not None:
                return d
    if conv == "litellm" and "hidden_params" in a:
        hp = maybe_json(a["hidden_params"])
        if isinstance(hp, dict):
            return to_decimal(hp.get("response_cost"))
    return None


# ---------------------------------------------------------------- content

_FLAT_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.", "llm.prompts.", "llm.completions.")
_PROMPT_EVENTS = ("gen_ai.system.message", "gen_ai.user.message", "gen_ai.tool.message")
_OUTPUT_EVENTS = ("gen_ai.choice", "gen_ai.assistant.message")


def _texts(span: Span, a: dict) -> tuple[str | None, str | None]:
    ins: list[Any] = []
    outs: list[Any] = []
    for k in ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.prompt"):
        if k in a:
            ins.append(a[k])
    for k in ("gen_ai.output.messages", "gen_ai.completion"):
        if k in a:
            outs.append(a[k])
    if not (ins and outs):
        # Deprecated flattened form: gen_ai.prompt.N.content / llm.prompts.N.content. One scan of
        # the keys finds them; most spans have none, and the indexed lookups are skipped.
        flat = {k: a[k] for k in a if k.startswith(_FLAT_PREFIXES)}
        if flat:
            if not ins:
                ins = indexed_values(flat, "gen_ai.prompt.", ".content") or indexed_values(
                    flat, "llm.prompts.", ".content"
                )
            if not outs:
                outs = (
                    indexed_values(flat, "gen_ai.completion.", ".content")
                    or indexed_values(flat, "gen_ai.completion.", ".function_call.arguments")
                    or indexed_values(flat, "llm.completions.", ".content")
                )
    if not ins and not outs and "events" in a:
        _pydantic_events(a["events"], ins, outs)
    for e in span.events:
        name = e.get("name") or ""
        ea = e.get("attributes") or {}
        if name == "gen_ai.content.prompt" or name in _PROMPT_EVENTS:
            ins.append(ea.get("gen_ai.prompt") or ea.get("content") or ea.get("message"))
        elif name == "gen_ai.content.completion" or name in _OUTPUT_EVENTS:
            outs.append(ea.get("gen_ai.completion") or ea.get("message") or ea.get("content"))
        elif "gen_ai.input.messages" in ea or "gen_ai.output.messages" in ea:
            # gen_ai.client.inference.operation.details carries the messages as event attributes
            ins.append(ea.get("gen_ai.system_instructions"))
            ins.append(ea.get("gen_ai.input.messages"))
            outs.append(ea.get("gen_ai.output.messages"))
    return join_text(ins), join_text(outs)


def _pydantic_events(raw: Any, ins: list, outs: list) -> None:
    """Older pydantic-ai/logfire put the message events into one JSON `events` attribute."""
    evs = maybe_json(raw)
    if not isinstance(evs, list):
        return
    for ev in evs:
        if not isinstance(ev, dict):
            continue
        if ev.get("event.name") == "gen_ai.choice" or ev.get("role") == "assistant":
            outs.append(ev.get("message") or ev.get("content"))
        else:
            ins.append(ev.get("content"))
