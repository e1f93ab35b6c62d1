"""The small price interface planning computes with: per-1M-token prices and model limits.

`ModelPrice` is what projection, shortlist and plan-vs-actual need from a price sheet. The
adapter `sheet_models()` reads it from the pricing package (the sheets in DuckDB), so the maths
here stays testable with hand-made prices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb

from llmledger.errors import PlanningError

LOCAL_PROVIDERS = {
    "local",
    "llama.cpp",
    "llama_cpp",
    "ollama",
    "self-hosted",
    "self_hosted",
    "vllm",
    "huggingface_local",
    "lm_studio",
    "llamafile",
    "gguf",
}


@dataclass(frozen=True)
class ModelPrice:
    model: str
    provider: str = ""
    input_per_1m: float | None = None
    output_per_1m: float | None = None
    cache_read_per_1m: float | None = None
    batch_input_per_1m: float | None = None
    batch_output_per_1m: float | None = None
    context_window: int | None = None
    max_output: int | None = None
    modalities: tuple[str, ...] = field(default=("text",))
    self_hosted: bool = False

    @property
    def priced(self) -> bool:
        return self.input_per_1m is not None and self.output_per_1m is not None


def is_self_hosted(provider: str, model: str = "") -> bool:
    p, m = (provider or "").lower(), model.lower()
    if m.endswith("-cloud") or ":cloud" in m:  # e.g. Ollama's hosted "…:120b-cloud" models
        return False
    return p in LOCAL_PROVIDERS or p.startswith("local") or model.lower().endswith(".gguf")


def _num(v) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _get(obj, *names):
    for n in names:
        if isinstance(obj, dict) and obj.get(n) is not None:
            return obj[n]
        if not isinstance(obj, dict) and getattr(obj, n, None) is not None:
            return getattr(obj, n)
    return None


def from_record(rec) -> ModelPrice:
    """Build a ModelPrice from a pricing row (dict or object), per-1M or per-token prices."""
    model = str(_get(rec, "model", "name", "model_name"))

    def price(per_1m: tuple[str, ...], per_token: tuple[str, ...]) -> float | None:
        v = _num(_get(rec, *per_1m))
        if v is not None:
            return v
        v = _num(_get(rec, *per_token))
        return None if v is None else v * 1e6

    provider = str(_get(rec, "provider", "litellm_provider") or "")
    mods = _get(rec, "modalities", "input_modalities") or ("text",)
    if isinstance(mods, str):
        mods = [m.strip() for m in mods.replace(";", ",").split(",") if m.strip()]
    ctx = _num(_get(rec, "context_window", "max_input_tokens"))
    mo = _num(_get(rec, "max_output", "max_output_tokens"))
    sh = _get(rec, "self_hosted", "is_local")
    return ModelPrice(
        model=model,
        provider=provider,
        input_per_1m=price(("input_per_1m", "input_usd_per_1m", "input_price_per_1m"), ("input_cost_per_token",)),
        output_per_1m=price(("output_per_1m", "output_usd_per_1m", "output_price_per_1m"), ("output_cost_per_token",)),
        cache_read_per_1m=price(("cache_read_per_1m", "cache_read_usd_per_1m"), ("cache_read_input_token_cost",)),
        batch_input_per_1m=price(("batch_input_per_1m", "batch_input_usd_per_1m"), ("input_cost_per_token_batches",)),
        batch_output_per_1m=price(
            ("batch_output_per_1m", "batch_output_usd_per_1m"), ("output_cost_per_token_batches",)
        ),
        context_window=int(ctx) if ctx else None,
        max_output=int(mo) if mo else None,
        modalities=tuple(sorted({str(m).lower() for m in mods} | {"text"})),
        self_hosted=bool(sh) if sh is not None else is_self_hosted(provider, model),
    )


#: Sheet modes whose models answer prompts with text (embeddings, image generation etc. are not).
TEXT_MODES = {None, "", "chat", "completion", "responses"}
#: Names that mark an image, embedding or speech model even where a sheet calls its mode "chat"
#: (LiteLLM's map lists e.g. titan-embed and flux-1 entries as chat).
NON_TEXT_HINTS = (
    "embed",
    "flux-",
    "stable-diffusion",
    "dall-e",
    "whisper",
    "tts-",
    "rerank",
    "moderation",
    "controlnet",
    "imagen",
)


def _f(d) -> float | None:
    return None if d is None else float(d)


def from_entry(entry, self_hosted_sheet: bool = False) -> ModelPrice:
    """A pricing `ModelEntry` (base tier, standard and batch rows) as a planning ModelPrice."""
    std = entry.row("standard")
    batch = entry.row("batch")
    mods = entry.input_modalities or ["text"]
    provider = entry.provider or ""
    return ModelPrice(
        model=entry.model_id,
        provider=provider,
        input_per_1m=_f(std.input_mtok) if std else None,
        output_per_1m=_f(std.output_mtok) if std else None,
        cache_read_per_1m=_f(std.cache_read_mtok) if std else None,
        batch_input_per_1m=_f(batch.input_mtok) if batch else None,
        batch_output_per_1m=_f(batch.output_mtok) if batch else None,
        context_window=entry.context_window,
        max_output=entry.max_output_tokens,
        modalities=tuple(sorted({str(m).lower() for m in mods} | {"text"})),
        self_hosted=self_hosted_sheet or is_self_hosted(provider, entry.model_id),
    )


def sheet_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Stored sheets, the default one imported first if needed; the active sheet comes first."""
    from llmledger.pricing import sheets

    sheets.ensure_default_sheet(con)
    names = sheets.sheet_names(con)
    active = sheets.get_active_sheet(con)
    return [active] + [n for n in names if n != active] if active in names else names


def sheet_models(con: duckdb.DuckDBPyConnection, sheet: str | None = None) -> dict[str, ModelPrice]:
    """Text models of a price sheet's latest version (default: the active sheet), by name."""
    from llmledger.errors import PricingError
    from llmledger.pricing import sheets

    try:
        name = sheet or sheets.get_active_sheet(con)
        s = sheets.load_sheet(con, name)
    except PricingError as exc:
        raise PlanningError(exc.msg) from exc
    local = s.kind == "self-hosted"
    out = {}
    for e in s.latest().models:
        if e.mode in TEXT_MODES and not e.deprecated and not any(h in e.model_id.lower() for h in NON_TEXT_HINTS):
            out[e.model_id] = from_entry(e, local)
    return out
