"""Conventions with their own namespaces: OpenInference (`llm.*`), the Vercel AI SDK (`ai.*`)
and Langfuse's own attributes (`langfuse.observation.*`).
"""

from __future__ import annotations

import re
from typing import Any

from llmledger.telemetry.conv_common import (
    Call,
    first_int,
    first_str,
    join_text,
    maybe_json,
    norm_provider,
    normalise_cache,
    scope_provider,
    set_usage_source,
    to_decimal,
    to_int,
)
from llmledger.telemetry.conv_genai import map_genai
from llmledger.telemetry.otlp import Span

# ---------------------------------------------------------------- OpenInference

# Old BeeAI instrumentation (<0.2) emits one LLM span per emitter event; the `start` event span
# carries the request and stands for the call, the other events repeat it.
_BEEAI_ECHO_EVENTS = frozenset({"finish", "success", "newToken", "partialUpdate", "error", "retry"})


def _beeai_echo(span: Span, a: dict) -> bool:
    # The event is in the `name` attribute, and in the span name: 'backend.openai.chat.success-16'
    ev = a.get("name") if "target" in a else span.name.rsplit(".", 1)[-1].split("-", 1)[0]
    return ev in _BEEAI_ECHO_EVENTS


_DIGITS = re.compile(r"\d+")  # only used on the few message keys of an LLM span, for ordering


def map_openinference(span: Span, a: dict, kind: Any) -> Call | None:
    k = str(kind).upper()
    if k == "EMBEDDING":
        op = "embeddings"
    elif k == "LLM":
        op = "chat"
    else:
        return None  # CHAIN, AGENT, TOOL, RETRIEVER, RERANKER, GUARDRAIL, EVALUATOR: wrappers
    if span.scope_name == "openinference.instrumentation.beeai" and _beeai_echo(span, a):
        return None
    params = maybe_json(a.get("llm.invocation_parameters"))
    asked = params.get("model") or params.get("model_name") if isinstance(params, dict) else None
    model = first_str(a, ("llm.model_name", "embedding.model_name"))
    c = Call(
        convention="openinference",
        provider=norm_provider(a.get("llm.provider") or a.get("llm.system")) or scope_provider(span.scope_name),
        operation=op,
        # llm.model_name is what the instrumentation saw last: the response's model when there
        # was one. The invocation parameters keep what was asked for.
        request_model=str(asked) if asked else model,
        response_model=model,
        input_tokens=first_int(a, ("llm.token_count.prompt",)),
        output_tokens=first_int(a, ("llm.token_count.completion",)),
        cache_read_tokens=first_int(a, ("llm.token_count.prompt_details.cache_read",)),
        cache_write_tokens=first_int(a, ("llm.token_count.prompt_details.cache_write",)),
        reasoning_tokens=first_int(a, ("llm.token_count.completion_details.reasoning",)),
        reported_cost_usd=to_decimal(a.get("llm.cost.total")),
        input_text=_oi_text(a, "llm.input_messages.") or _plain(a, "input.value", "input.mime_type"),
        output_text=_oi_text(a, "llm.output_messages.") or _plain(a, "output.value", "output.mime_type"),
    )
    if op == "embeddings" and c.input_tokens is None:
        c.input_tokens = first_int(a, ("llm.token_count.total",))
    if op == "embeddings" and c.input_text is None:
        c.input_text = join_text(
            v for key, v in a.items() if key.startswith("embedding.embeddings.") and key.endswith(".embedding.text")
        )
    # OpenInference's prompt count includes prompt_details (cache read/write); the inclusive
    # check still repairs an instrumentor that passed Anthropic's exclusive count through.
    normalise_cache(c, False)
    set_usage_source(c)
    return c


def _oi_text(a: dict, prefix: str) -> str | None:
    found = []
    for key, v in a.items():
        if key.startswith(prefix) and (
            key.endswith(".message.content")
            or key.endswith(".message_content.text")
            or key.endswith(".function.arguments")
        ):
            found.append((tuple(int(d) for d in _DIGITS.findall(key[len(prefix) :])), v))
    if not found:
        return None
    found.sort(key=lambda t: t[0])
    return join_text(v for _, v in found)


def _plain(a: dict, key: str, mime_key: str) -> str | None:
    v = a.get(key)
    if v is None:
        return None
    return join_text([v]) if a.get(mime_key) == "application/json" else str(v)[: 64 * 1024]


# ---------------------------------------------------------------- Vercel AI SDK

VERCEL_CALLS = {
    "ai.generateText.doGenerate": "chat",
    "ai.streamText.doStream": "chat",
    "ai.generateObject.doGenerate": "chat",
    "ai.streamObject.doStream": "chat",
    "ai.embed.doEmbed": "embeddings",
    "ai.embedMany.doEmbed": "embeddings",
}


def map_vercel(span: Span, a: dict, op_id: str) -> Call | None:
    op = VERCEL_CALLS.get(op_id)
    if op is None:
        return None  # ai.generateText & co. sum their steps; ai.toolCall is a tool
    provider = norm_provider(a.get("gen_ai.system") or a.get("ai.model.provider"))
    c = Call(
        convention="vercel_ai",
        provider=provider,
        operation=op,
        request_model=first_str(a, ("gen_ai.request.model", "ai.model.id")),
        response_model=first_str(a, ("ai.response.model", "gen_ai.response.model")),
        # v5 names, v4 names, then the gen_ai mirror the SDK also writes
        input_tokens=first_int(
            a, ("ai.usage.inputTokens", "ai.usage.promptTokens", "ai.usage.tokens", "gen_ai.usage.input_tokens")
        ),
        output_tokens=None
        if op == "embeddings"
        else first_int(a, ("ai.usage.outputTokens", "ai.usage.completionTokens", "gen_ai.usage.output_tokens")),
        cache_read_tokens=first_int(a, ("ai.usage.cachedInputTokens",)),
        reasoning_tokens=first_int(a, ("ai.usage.reasoningTokens",)),
    )
    excludes = _vercel_provider_metadata(c, a.get("ai.response.providerMetadata"), span.scope_version)
    normalise_cache(c, excludes)
    set_usage_source(c)
    if op == "embeddings":
        c.input_text = join_text([a.get("ai.value"), a.get("ai.values")])
    else:
        c.input_text = join_text([a.get("ai.prompt.messages") or a.get("ai.prompt")])
        c.output_text = join_text(
            [a.get("ai.response.text"), a.get("ai.response.toolCalls"), a.get("ai.response.object")]
        )
    return c


def _vercel_provider_metadata(c: Call, raw: Any, version: str) -> bool:
    """Fill cache/reasoning counts from providerMetadata; True when input excludes the cache.

    OpenAI's cachedPromptTokens and Gemini's cachedContentTokenCount are part of the prompt count.
    Anthropic (AI SDK < 6) and Bedrock report input without cache reads/writes.
    """
    md = maybe_json(raw)
    if not isinstance(md, dict):
        return False
    excludes = False
    oa = md.get("openai") or md.get("azure")
    if isinstance(oa, dict):
        c.cache_read_tokens = (
            c.cache_read_tokens if c.cache_read_tokens is not None else to_int(oa.get("cachedPromptTokens"))
        )
        c.reasoning_tokens = c.reasoning_tokens if c.reasoning_tokens is not None else to_int(oa.get("reasoningTokens"))
    an = md.get("anthropic")
    if isinstance(an, dict):
        cr, cw = to_int(an.get("cacheReadInputTokens")), to_int(an.get("cacheCreationInputTokens"))
        if cr is not None or cw is not None:
            c.cache_read_tokens, c.cache_write_tokens = cr, cw
            major = to_int(version.split(".", 1)[0]) if version else None
            excludes = major is None or major < 6  # AI SDK 6 made inputTokens include the cache
    br = md.get("bedrock")
    if isinstance(br, dict) and isinstance(br.get("usage"), dict):
        u = br["usage"]
        cr, cw = to_int(u.get("cacheReadInputTokens")), to_int(u.get("cacheWriteInputTokens"))
        if cr is not None or cw is not None:
            c.cache_read_tokens, c.cache_write_tokens = cr, cw
            excludes = True  # Bedrock Converse inputTokens excludes cache reads and writes
    go = md.get("google") or md.get("vertex")
    if isinstance(go, dict) and isinstance(go.get("usageMetadata"), dict):
        u = go["usageMetadata"]
        if c.cache_read_tokens is None:
            c.cache_read_tokens = to_int(u.get("cachedContentTokenCount"))
        if c.reasoning_tokens is None:
            c.reasoning_tokens = to_int(u.get("thoughtsTokenCount"))
    ds = md.get("deepseek")
    if isinstance(ds, dict) and c.cache_read_tokens is None:
        c.cache_read_tokens = to_int(ds.get("promptCacheHitTokens"))
    return excludes


# ---------------------------------------------------------------- Langfuse

_LF_CALL_TYPES = frozenset({"generation", "embedding"})


def map_langfuse(span: Span, a: dict, obs_type: Any) -> Call | None:
    t = str(obs_type).lower()
    if t not in _LF_CALL_TYPES:
        return None  # span, event, agent, tool, chain, retriever, evaluator, guardrail
    usage = maybe_json(a.get("langfuse.observation.usage_details"))
    base = map_genai(span, a) if ("gen_ai.request.model" in a or "gen_ai.response.model" in a) else None
    c = Call(convention="langfuse", operation="embeddings" if t == "embedding" else "chat")
    if base is not None:  # a Langfuse generation that also speaks gen_ai.*: keep those fields
        for f in Call.__slots__:
            if f != "convention":
                setattr(c, f, getattr(base, f))
    c.request_model = first_str(a, ("langfuse.observation.model.name",)) or c.request_model
    if isinstance(usage, dict) and usage:
        _langfuse_usage(c, usage)
    cost = maybe_json(a.get("langfuse.observation.cost_details"))
    if isinstance(cost, dict):
        total = cost.get("total")
        if total is None and cost:
            vals = [to_decimal(v) for v in cost.values()]
            total = sum(v for v in vals if v is not None) if any(v is not None for v in vals) else None
        c.reported_cost_usd = to_decimal(total)
    c.usage_source = "missing"
    set_usage_source(c)
    if c.input_text is None:
        c.input_text = join_text([a.get("langfuse.observation.input")])
    if c.output_text is None:
        c.output_text = join_text([a.get("langfuse.observation.output")])
    if span.status_code == "ERROR" or a.get("langfuse.observation.level") == "ERROR":
        c.status = "error"
    return c


def _langfuse_usage(c: Call, u: dict) -> None:
    """The ledger's one usage normaliser for usage dictionaries (tests/test_usage_golden.py runs
    genai-prices' golden usages through it). Langfuse usage_details come in four shapes:
    - Langfuse's own: `input`/`output` plus disjoint `input_*`/`output_*` parts (its SDKs subtract
      cached, audio and reasoning counts from `input`/`output`), so the totals are the sums. When
      the parts do not add up to `total` but input + output does, they are already inside; a
      `total` above the sums is output billed without being itemised (Vertex Gemini's thinking),
      added to output as reasoning;
    - OpenAI's: prompt_tokens/completion_tokens, cache already included;
    - Anthropic's: input_tokens plus cache_read_input_tokens/cache_creation_input_tokens, exclusive;
    - genai-prices' (pydantic-ai's): input_tokens including cache_read_tokens/cache_write_tokens
      (or cache_write_5m/1h_tokens), output_tokens including output_reasoning_tokens.
    """
    n = {k: to_int(v) for k, v in u.items()}
    cr = _pick(
        n,
        (
            "input_cached_tokens",
            "input_cache_read",
            "cache_read_input_tokens",
            "input_cached",
            "cache_read",
            "prompt_details.cache_read",
            "cache_read_tokens",
        ),
    )
    cw = _pick(
        n,
        (
            "input_cache_creation",
            "input_cache_write",
            "cache_creation_input_tokens",
            "cache_write",
            "prompt_details.cache_write",
            "cache_write_tokens",
        ),
    )
    if cw is None and (n.get("cache_write_5m_tokens") is not None or n.get("cache_write_1h_tokens") is not None):
        cw = (n.get("cache_write_5m_tokens") or 0) + (n.get("cache_write_1h_tokens") or 0)
    rs = _pick(n, ("output_reasoning", "output_reasoning_tokens", "reasoning_tokens", "completion_details.reasoning"))
    if "input" in n or "output" in n:
        ins = [v for k, v in n.items() if (k == "input" or k.startswith("input_")) and v is not None]
        outs = [v for k, v in n.items() if (k == "output" or k.startswith("output_")) and v is not None]
        inp, out, total = (sum(ins) if ins else None), (sum(outs) if outs else None), n.get("total")
        if (
            total is not None
            and (inp or 0) + (out or 0) != total
            and (n.get("input") or 0) + (n.get("output") or 0) == total
        ):
            inp, out = n.get("input"), n.get("output")
        hidden = total - (inp or 0) - (out or 0) if total is not None else 0
        if hidden > 0 and n.get("output") is not None:
            out, rs = out + hidden, (rs or 0) + hidden
        if inp is not None:
            inp += (n.get("cache_read_input_tokens") or 0) + (n.get("cache_creation_input_tokens") or 0)
        c.input_tokens, c.output_tokens = inp, out
        c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens = cr, cw, rs
        normalise_cache(c, False)
    elif "prompt_tokens" in n or "completion_tokens" in n:
        c.input_tokens, c.output_tokens = n.get("prompt_tokens"), n.get("completion_tokens")
        c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens = cr, cw, rs
        normalise_cache(c, False)
    elif "input_tokens" in n or "output_tokens" in n:
        c.input_tokens, c.output_tokens = n.get("input_tokens"), n.get("output_tokens")
        c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens = cr, cw, rs
        # Anthropic's own cache counts are apart from input_tokens; genai-prices' are inside it.
        normalise_cache(c, "cache_read_input_tokens" in n or "cache_creation_input_tokens" in n)


def _pick(n: dict, keys: tuple[str, ...]) -> int | None:
    for k in keys:
        if n.get(k) is not None:
            return n[k]
    return None
