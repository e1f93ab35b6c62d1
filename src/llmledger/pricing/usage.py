"""Token usage from raw provider response bodies (OpenAI chat/responses, Anthropic, Gemini,
Mistral, Bedrock, ... and Langfuse/LiteLLM usage blobs).

The extraction rules are data: genai-prices' per-provider `extractors` (root path, model path,
mappings with array matches, required flags, summed destinations), read from the shipped
data/pricing/genai-prices/data.json and interpreted here faithfully. `extract_usage` picks the
extractor from a provider / API flavour hint, or detects it from the body and its model name.
`to_call_usage` folds the fine-grained result into the ledger's OTel-style columns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from llmledger.config import PROJECT_ROOT
from llmledger.errors import PricingError
from llmledger.pricing.matching import clause_match

GENAI_DATA = PROJECT_ROOT / "data" / "pricing" / "genai-prices" / "data.json"

#: Langfuse usageDetails keys (and OpenInference-style details) -> genai-prices usage keys.
_LF_CACHE_READ = ("input_cache_read", "input_cached_tokens", "cache_read_input_tokens", "prompt_details.cache_read")
_LF_CACHE_WRITE = ("input_cache_creation", "cache_creation_input_tokens", "prompt_details.cache_write")
_LF_REASONING = ("output_reasoning", "output_reasoning_tokens", "completion_details.reasoning")


class ExtractionError(ValueError):
    """This extractor does not apply to this body."""


@dataclass(frozen=True)
class Extractor:
    provider_id: str
    api_flavor: str
    root: tuple
    model_path: tuple
    mappings: tuple  # (path tuple, dest, required)


@dataclass
class CallUsage:
    """Usage in the ledger's terms: input includes cache reads/writes, output includes reasoning."""

    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None


def _as_path(p) -> tuple:
    return (p,) if isinstance(p, str) else tuple(p)


@lru_cache(maxsize=4)
def load_extractors(path: str | None = None) -> tuple[Extractor, ...]:
    data = json.loads(Path(path or GENAI_DATA).read_text())
    out = []
    for prov in data:
        for e in prov.get("extractors") or []:
            out.append(Extractor(
                provider_id=prov["id"], api_flavor=e.get("api_flavor", "default"), root=_as_path(e["root"]),
                model_path=_as_path(e.get("model_path", "model")),
                mappings=tuple((_as_path(m["path"]), m["dest"], m.get("required", True)) for m in e["mappings"])))
    return tuple(out)


@lru_cache(maxsize=4)
def _provider_rules(path: str | None = None) -> tuple[tuple[str, dict | None, dict | None], ...]:
    data = json.loads(Path(path or GENAI_DATA).read_text())
    return tuple((p["id"], p.get("model_match"), p.get("provider_match")) for p in data)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _walk(path: tuple, data, want, required: bool):
    """genai-prices' path walk: dict keys and array-match steps; the last key must hold `want`."""
    *steps, last = path
    for step in steps:
        if isinstance(step, dict):  # {"type": "array-match", "field": ..., "match": clause}
            if not isinstance(data, Sequence) or isinstance(data, (str, bytes)):
                if required:
                    raise ExtractionError(f"expected a list at {step['field']}")
                return None
            found = next((item for item in data if isinstance(item, Mapping) and item.get(step["field"])
                          and isinstance(item.get(step["field"]), str)
                          and clause_match(step["match"], item[step["field"]])), None)
            if found is None:
                if required:
                    raise ExtractionError(f"no item matching {step['match']}")
                return None
            data = found
        else:
            if not isinstance(data, Mapping):
                raise ExtractionError(f"expected a mapping before {step!r}")
            if step not in data:
                if required:
                    raise ExtractionError(f"missing {step!r}")
                return None
            data = data[step]
    if data is None and not required:
        return None
    if not isinstance(data, Mapping):
        raise ExtractionError(f"expected a mapping before {last!r}")
    if last not in data:
        if required:
            raise ExtractionError(f"missing {last!r}")
        return None
    value = data[last]
    ok = _is_int(value) if want is int else isinstance(value, want)
    if ok:
        return value
    if required:
        raise ExtractionError(f"{last!r} is not a {want.__name__}")
    return None


def run_extractor(ex: Extractor, body) -> tuple[str | None, dict[str, int]]:
    """Apply one extractor; returns (model name, {usage key: tokens}) without zero values.
    Raises ExtractionError when the extractor does not fit the body."""
    model = _walk(ex.model_path, body, str, False)
    usage_obj = _walk(ex.root, body, Mapping, True)
    values: dict[str, int] = {}
    found = False
    for path, dest, required in ex.mappings:
        v = _walk(path, usage_obj, int, required)
        if v is not None:
            values[dest] = values.get(dest, 0) + v
            found = True
    if not found:
        raise ExtractionError("no usage found")
    return model, {k: v for k, v in values.items() if v}


def extract_usage(body, provider: str | None = None, api_flavor: str | None = None) -> tuple[str | None, dict[str, int], Extractor | None]:
    """Usage from one response body. With `provider` (a genai-prices id or a name its
    provider_match accepts, e.g. 'aws.bedrock') and optional `api_flavor`, that extractor is used;
    otherwise the body is tried against the provider its model name suggests, then every extractor.
    Returns (model, usage dict in genai-prices keys, extractor used)."""
    if not isinstance(body, Mapping):
        raise PricingError("a usage body must be a JSON object")
    extractors = load_extractors()
    if provider is None and api_flavor is None and _looks_langfuse(body):
        return body.get("model"), _langfuse_usage(body), None
    candidates: list[Extractor] = []
    if provider:
        pid = _provider_id(provider)
        if pid is None:
            raise PricingError(f"no usage extractor for provider {provider!r}")
        candidates = [e for e in extractors if e.provider_id == pid and (api_flavor is None or e.api_flavor == api_flavor)]
        if not candidates:
            raise PricingError(f"provider {pid!r} has no {api_flavor!r} usage extractor")
    else:
        model = body.get("model") or body.get("modelVersion")
        pid = _provider_for_model(model) if isinstance(model, str) else None
        own = [e for e in extractors if e.provider_id == pid]
        candidates = own + [e for e in extractors if e.provider_id != pid]
        if api_flavor:
            candidates = [e for e in candidates if e.api_flavor == api_flavor]
    for ex in candidates:
        try:
            model, usage = run_extractor(ex, body)
        except ExtractionError:
            continue
        return model, usage, ex
    raise PricingError("no usage extractor fits this body" + (f" for provider {provider!r}" if provider else ""))


def _provider_id(name: str) -> str | None:
    low = name.lower().strip()
    rules = _provider_rules()
    if any(pid == low for pid, _, _ in rules):
        return low
    for pid, _, pm in rules:
        if pm and clause_match(pm, low):
            return pid
    return None


def _provider_for_model(model: str) -> str | None:
    low = model.lower()
    for pid, mm, _ in _provider_rules():
        if mm and clause_match(mm, low):
            return pid
    return None


def _looks_langfuse(body: Mapping) -> bool:
    u = body.get("usage") if isinstance(body.get("usage"), Mapping) else body
    return (isinstance(u, Mapping) and "input" in u and "input_tokens" not in u and "prompt_tokens" not in u
            and "inputTokens" not in u)


def langfuse_usage(details: Mapping) -> dict[str, int]:
    """Langfuse `usageDetails` -> usage keys with OTel semantics. Langfuse keeps disjoint buckets
    (`input` excludes cache reads, `output` excludes reasoning; `total` is their sum); when the
    buckets do not add up to `total` but input + output does, the details are already inside. A
    total above input + output is output the provider billed without itemising it (Gemini's
    thinking on Vertex): it is added to output as reasoning."""
    vals = {k: v for k, v in details.items() if _is_int(v)}
    parts = {k: v for k, v in vals.items() if k != "total"}
    ins = sum(v for k, v in parts.items() if k.startswith(("input", "prompt_details.")))
    outs = sum(v for k, v in parts.items() if k.startswith(("output", "completion_details.")))
    nested = "total" in vals and ins + outs != vals["total"] and vals.get("input", 0) + vals.get("output", 0) == vals["total"]
    out = {
        "input_tokens": vals.get("input", 0) if nested else ins,
        "output_tokens": vals.get("output", 0) if nested else outs,
        "cache_read_tokens": sum(vals.get(k, 0) for k in _LF_CACHE_READ),
        "cache_write_tokens": sum(v for k, v in vals.items() if k in _LF_CACHE_WRITE or k.startswith("input_cache_creation_")),
        "output_reasoning_tokens": sum(vals.get(k, 0) for k in _LF_REASONING),
    }
    hidden = vals.get("total", 0) - out["input_tokens"] - out["output_tokens"]
    if hidden > 0 and "output" in vals:  # e.g. Vertex Gemini: thinking tokens counted only in total
        out["output_tokens"] += hidden
        out["output_reasoning_tokens"] += hidden
    return {k: v for k, v in out.items() if v}


def _langfuse_usage(body: Mapping) -> dict[str, int]:
    return langfuse_usage(body.get("usage") if isinstance(body.get("usage"), Mapping) else body)


def to_call_usage(usage: dict[str, int]) -> CallUsage:
    """genai-prices usage keys -> the ledger's columns. In genai-prices' extracted usage,
    input_tokens already includes cache reads/writes and output_tokens includes reasoning
    (its Anthropic, Bedrock and Gemini extractors sum them in), which is the OTel convention."""
    def g(*keys):
        vals = [usage[k] for k in keys if k in usage]
        return sum(vals) if vals else None

    cache_write = g("cache_write_tokens")
    if cache_write is None:
        cache_write = g("cache_write_5m_tokens", "cache_write_1h_tokens")
    return CallUsage(
        input_tokens=g("input_tokens"), output_tokens=g("output_tokens"),
        cache_read_tokens=g("cache_read_tokens"), cache_write_tokens=cache_write,
        reasoning_tokens=g("output_reasoning_tokens"))
