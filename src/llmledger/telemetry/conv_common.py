"""Shared pieces of the convention mapping: the Call row, number/JSON coercion, provider names,
message text extraction and the cache-token normalisation rule.

Everything here runs only for spans that already look like model calls, so it may parse JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

TEXT_CAP = 64 * 1024  # characters kept of prompt/completion text per call


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


# ---------------------------------------------------------------- coercion

#: Token counts are stored as BIGINT; reported costs as DECIMAL(18, 9) (below 10^9 USD).
I64 = 1 << 63
MAX_COST = Decimal(10) ** 9


class InvalidValue(ValueError):
    """A usage or cost value no real call can have (1e300 tokens, an infinite cost). The span is
    rejected with this reason rather than stored with a made-up or clipped number."""


def to_int(v: Any) -> int | None:
    """Token counts arrive as int, float, or (after some backends re-serialise) strings."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int):
        n = v
    elif isinstance(v, float):
        if v != v:
            return None
        if not -I64 < v < I64:
            raise InvalidValue(f"token count {v!r} is out of range")
        n = int(v)
    elif isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        try:
            n = int(s)
        except ValueError:
            try:
                f = float(s)
            except ValueError:
                return None
            return to_int(f)
    else:
        return None
    if not -I64 <= n < I64:
        raise InvalidValue(f"token count {n} is out of range")
    return n


def first_int(a: dict, keys: Iterable[str]) -> int | None:
    for k in keys:
        v = a.get(k)
        if v is not None:
            n = to_int(v)
            if n is not None:
                return n
    return None


def first_str(a: dict, keys: Iterable[str]) -> str | None:
    for k in keys:
        v = a.get(k)
        if v is not None and v != "":
            return str(v)
    return None


def to_decimal(v: Any) -> Decimal | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        d = Decimal(str(v).strip())
    except (InvalidOperation, ValueError):
        return None
    if d.is_infinite() or (d.is_finite() and d >= MAX_COST):
        raise InvalidValue(f"reported cost {str(v)[:40]} USD is out of range")
    return d if d.is_finite() and d >= 0 else None


def maybe_json(v: Any) -> Any:
    """Parse a JSON-looking string; other values pass through unchanged."""
    if isinstance(v, str):
        s = v.lstrip()
        if s[:1] in ("{", "["):
            try:
                return json.loads(s)
            except ValueError:
                return v
    return v


# ---------------------------------------------------------------- providers

# Values seen in the wild -> OTel gen_ai.provider.name well-known values.
_PROVIDERS = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure-openai": "azure.ai.openai",
    "az.ai.openai": "azure.ai.openai",
    "azure.ai.openai": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "az.ai.inference": "azure.ai.inference",
    "azure.ai.inference": "azure.ai.inference",
    "anthropic": "anthropic",
    "claude": "anthropic",
    "bedrock": "aws.bedrock",
    "aws": "aws.bedrock",
    "aws.bedrock": "aws.bedrock",
    "aws_bedrock": "aws.bedrock",
    "amazon-bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "vertex": "gcp.vertex_ai",
    "gcp.vertex_ai": "gcp.vertex_ai",
    "google-vertex": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "google": "gcp.gemini",
    "gemini": "gcp.gemini",
    "gcp.gemini": "gcp.gemini",
    "google_genai": "gcp.gemini",
    "google-gla": "gcp.gemini",
    "google.generative-ai": "gcp.gemini",
    "google_ai_studio": "gcp.gemini",
    "gcp.gen_ai": "gcp.gen_ai",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "mistral_ai": "mistral_ai",
    "cohere": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
    "xai": "x_ai",
    "x_ai": "x_ai",
    "x-ai": "x_ai",
    "grok": "x_ai",
    "watsonx": "ibm.watsonx.ai",
    "ibm": "ibm.watsonx.ai",
    "ibm.watsonx.ai": "ibm.watsonx.ai",
}


def norm_provider(v: Any) -> str | None:
    if v is None or v == "":
        return None
    s = str(v).strip().lower()
    hit = _PROVIDERS.get(s)
    if hit:
        return hit
    # Vercel-style 'openai.chat', 'anthropic.messages', 'google.vertex.chat', 'azure-openai.responses'
    if "vertex" in s:
        return "gcp.vertex_ai"
    if "bedrock" in s:
        return "aws.bedrock"
    head = s.split(".", 1)[0].split("/", 1)[0]
    return _PROVIDERS.get(head, s)


# Provider implied by an instrumentation that wraps one provider's SDK, when no attribute says.
SCOPE_PROVIDERS = {
    "openai": "openai",
    "openai_v2": "openai",
    "anthropic": "anthropic",
    "vertexai": "gcp.vertex_ai",
    "google_genai": "gcp.gemini",
    "bedrock": "aws.bedrock",
    "botocore": "aws.bedrock",
    "mistralai": "mistral_ai",
    "groq": "groq",
    "cohere": "cohere",
}


def scope_provider(scope: str) -> str | None:
    tail = (
        scope.rsplit(".", 1)[-1]
        if scope.startswith(("openinference.instrumentation.", "opentelemetry.instrumentation."))
        else ""
    )
    if tail in ("v1", "v0"):  # OpenLLMetry's opentelemetry.instrumentation.openai.v1
        tail = scope.rsplit(".", 2)[-2]
    return SCOPE_PROVIDERS.get(tail)


# ---------------------------------------------------------------- operations

_OPERATIONS = {
    "chat": "chat",
    "completion": "text_completion",
    "text_completion": "text_completion",
    "embedding": "embeddings",
    "embeddings": "embeddings",
    "generate_content": "generate_content",
    "rerank": "rerank",
    "image_generation": "image_generation",
}

# Operation names that describe agents, tools and chains: never a model call of their own.
NOT_CALL_OPERATIONS = frozenset(
    {
        "invoke_agent",
        "create_agent",
        "execute_tool",
        "chain",
        "workflow",
        "task",
        "agent",
        "tool",
        "invoke_workflow",
        "retrieval",
        "retriever",
    }
)


def norm_operation(v: Any) -> str | None:
    if v is None or v == "":
        return None
    s = str(v).strip().lower()
    return _OPERATIONS.get(s, s)


# ---------------------------------------------------------------- tokens


def normalise_cache(c: Call, input_excludes_cache: bool) -> None:
    """Make input_tokens include cache reads and writes (the OTel GenAI rule).

    A source that reports input *excluding* cache (Anthropic-native counts, Langfuse's `input`)
    gets the cache counts added. Independently of the source's declared semantics, an input
    smaller than its own cache reads plus writes cannot be inclusive, so it is summed too.
    """
    if c.input_tokens is None:
        return
    cached = (c.cache_read_tokens or 0) + (c.cache_write_tokens or 0)
    if cached and (input_excludes_cache or c.input_tokens < cached):
        c.input_tokens += cached


def set_usage_source(c: Call) -> None:
    if any(
        x is not None
        for x in (c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens)
    ):
        c.usage_source = "reported"


# ---------------------------------------------------------------- text

_TEXT_KEYS = frozenset(
    {
        "content",
        "text",
        "parts",
        "arguments",
        "args",
        "input",
        "contents",
        "message",
        "messages",
        "prompt",
        "system",
        "result",
        "output",
    }
)
_ARG_KEYS = frozenset({"arguments", "args", "input"})  # tool-call arguments: text the model wrote


def collect_text(obj: Any, out: list[str], budget: list[int], depth: int = 0) -> None:
    """Gather the human/model text inside a message structure (OTel parts, OpenAI messages,
    Vercel content parts), skipping roles, ids and other metadata."""
    if budget[0] <= 0 or depth > 12:
        return
    t = type(obj)
    if t is str:
        if obj[:1] in ("[", "{"):
            parsed = maybe_json(obj)
            if parsed is not obj:
                before = len(out)
                collect_text(parsed, out, budget, depth + 1)
                if len(out) > before:
                    return
        if obj:  # plain text, or JSON with no message text in it
            out.append(obj)
            budget[0] -= len(obj)
    elif t is list:
        for x in obj:
            collect_text(x, out, budget, depth + 1)
    elif t is dict:
        for k, v in obj.items():
            if k in _TEXT_KEYS:
                if k in _ARG_KEYS and type(v) in (dict, list):
                    v = json.dumps(v, ensure_ascii=False)
                    out.append(v)
                    budget[0] -= len(v)
                else:
                    collect_text(v, out, budget, depth + 1)


def join_text(pieces: Iterable[Any]) -> str | None:
    out: list[str] = []
    budget = [TEXT_CAP]
    for p in pieces:
        collect_text(p, out, budget)
    if not out:
        return None
    s = "\n".join(out)
    return s[:TEXT_CAP]


def indexed_values(a: dict, prefix: str, suffix: str) -> list[Any]:
    """Values of flattened keys `prefix<N>suffix` in index order (gen_ai.prompt.0.content, ...)."""
    found = []
    lp = len(prefix)
    for k, v in a.items():
        if k.startswith(prefix) and k.endswith(suffix):
            idx = k[lp : len(k) - len(suffix)] if suffix else k[lp:]
            if idx.isdigit():
                found.append((int(idx), v))
    found.sort(key=lambda t: t[0])
    return [v for _, v in found]
