"""The shortlist as a product manager reads it (planning.shortlist checks constraints per
price-sheet entry; this turns that into a choice):

- the kind of use case (chat or embeddings) and the capabilities it needs, from LiteLLM's `mode`
  and `supports_*` flags;
- special-purpose models (safety classifiers, OCR, code models for a support chat...) left out,
  each with the evidence (the sheet's mode, or a name pattern listed in SPECIAL_PURPOSE);
- resellers' copies and dated snapshots folded into one row per model (the provider's own entry,
  else a cloud's, else the cheapest), the other routes listed;
- ranked with a quality signal (planning.quality): the cost/quality frontier first.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from llmledger.errors import PlanningError
from llmledger.planning.prices import ModelPrice
from llmledger.planning.quality import QualityTable, family_key
from llmledger.planning.requirements import RequirementSet, UseCase
from llmledger.planning.shortlist import EXCLUDED_COLUMNS, Latency, _money, shortlist
from llmledger.pricing.matching import route_of

KINDS = {"chat": "Chat / text generation", "embedding": "Embeddings (search, RAG indexing)"}
#: LiteLLM's capability flags a use case can require (supports_<flag> in its map).
CAPABILITIES = {
    "function_calling": "Tool / function calling",
    "vision": "Image input (vision)",
    "response_schema": "Structured output (JSON schema)",
    "prompt_caching": "Prompt caching",
    "reasoning": "Reasoning",
}
#: Sheet modes that are not chat models even when their prices look like one.
NON_CHAT_MODES = {"embedding", "image_generation", "audio_transcription", "audio_speech", "moderation", "rerank",
                  "ocr", "guardrail", "video_generation", "image_edit", "search", "vector_store", "realtime"}  # fmt: skip
#: Special-purpose models, by name, for a chat use case: (pattern, what it is, unless the use case says ...).
SPECIAL_PURPOSE = (
    (re.compile(r"guard|safety|shield|moderation"), "a safety classifier (name has guard/safety/shield/moderation)", None),
    (re.compile(r"ocr"), "an OCR model (name has ocr)", None),
    (re.compile(r"coder|codestral|devstral|starcoder|codellama|code-llama|codegemma|codex|-code-"),
     "a code model (name has coder/codestral/devstral/codex)", re.compile(r"\bcod(e|ing)\b|programm", re.I)),
    (re.compile(r"embed|rerank"), "an embedding / rerank model", None),
    (re.compile(r"whisper|tts|transcri|audio|realtime|speech"), "a speech / audio model", "audio"),
    (re.compile(r"image-|dall-e|flux|stable-diffusion|imagen|-video|veo-|sora"), "an image / video generation model", None),
    (re.compile(r"search-preview|deep-research|sonar-deep"), "a web-search / research agent (per-search fees)", None),
    (re.compile(r"math|prover"), "a math model", re.compile(r"\bmath", re.I)),
    (re.compile(r"computer-use"), "a computer-use agent model", None),
)  # fmt: skip


@dataclass(frozen=True)
class ModelInfo:
    """What LiteLLM's map says a model is: its mode and supports_* capability flags."""

    mode: str | None = None
    flags: frozenset = frozenset()


@functools.lru_cache(maxsize=1)
def _litellm_info() -> dict[str, ModelInfo]:
    import json

    from llmledger.pricing.importers import litellm_map_path

    out = {}
    for key, spec in json.loads(litellm_map_path().read_text()).items():
        if isinstance(spec, dict) and key != "sample_spec":
            flags = frozenset(k.removeprefix("supports_") for k, v in spec.items() if k.startswith("supports_") and v)
            out[key] = ModelInfo(spec.get("mode"), flags)
    return out


@functools.lru_cache(maxsize=1)
def _litellm_info_by_family() -> dict[str, ModelInfo]:
    out: dict[str, ModelInfo] = {}
    for key, info in _litellm_info().items():
        out.setdefault(family_key(key), info)
    return out


def model_info(model: str) -> ModelInfo | None:
    """LiteLLM's mode and flags for a sheet's model name (its own entry, else its family's)."""
    info = _litellm_info()
    return info.get(model) or info.get(model.lower()) or _litellm_info_by_family().get(family_key(model))


def special_purpose(model: str, uc: UseCase, kind: str, info: ModelInfo | None) -> str | None:
    """Why `model` is not a general model for this use case (None: it is)."""
    if kind == "embedding":
        if info and info.mode and info.mode != "embedding":
            return f"a {info.mode} model (mode in LiteLLM's map), not an embedding model"
        return None
    if info and info.mode in NON_CHAT_MODES:
        return f"a {info.mode} model (mode in LiteLLM's map), not a chat model"
    said = f"{uc.name} {uc.task}"
    for i in _purposes(model.lower()):
        _, what, unless = SPECIAL_PURPOSE[i]
        if unless == "audio" and "audio" in uc.modalities:
            continue
        if isinstance(unless, re.Pattern) and unless.search(said):
            continue
        return f"special-purpose: {what}"
    return None


@functools.lru_cache(maxsize=16384)
def _purposes(name: str) -> tuple[int, ...]:
    """Which SPECIAL_PURPOSE patterns a (lower-cased) model name matches (cached: names repeat)."""
    return tuple(i for i, (pattern, _, _) in enumerate(SPECIAL_PURPOSE) if pattern.search(name))


def guess_kind(uc: UseCase) -> str:
    """A use case whose name or task talks of embeddings is an embedding one; else chat."""
    return "embedding" if re.search(r"embed|vector|semantic search|rag index", f"{uc.name} {uc.task}", re.I) else "chat"


def kind_prices(con, sheet: str | None, kind: str) -> dict[str, ModelPrice]:
    """The price sheet's models of one kind (chat: its text models; embedding: its embedders)."""
    from llmledger.planning.prices import from_entry, sheet_models

    if kind == "chat":
        return sheet_models(con, sheet)
    from llmledger.errors import PricingError
    from llmledger.pricing import sheets

    try:
        s = sheets.load_sheet(con, sheet or sheets.get_active_sheet(con))
    except PricingError as exc:
        raise PlanningError(exc.msg) from exc
    return {
        e.model_id: from_entry(e, s.kind == "self-hosted")
        for e in s.latest().models
        if not e.deprecated and (e.mode == "embedding" or (e.mode is None and "embed" in e.model_id.lower()))
    }


@dataclass
class ProductShortlist:
    """One row per underlying model (`table`), every dropped entry with its reasons (`excluded`)."""

    use_case: str
    kind: str
    table: pd.DataFrame
    excluded: pd.DataFrame
    sheet_entries: int
    eligible_entries: int
    quality_source: str | None
    quality_unit: str | None
    notes: list[str] = field(default_factory=list)

    def headline(self) -> str:
        scored = int(self.table["quality"].notna().sum()) if len(self.table) else 0
        q = f", {scored} of them with a quality score" if self.quality_source else ""
        return (
            f"{len(self.table):,} models fit{q} ({self.eligible_entries:,} of {self.sheet_entries:,} price-sheet "
            f"entries are {self.kind} models meeting every constraint; resellers' copies and snapshots are folded "
            "into one row per model)."
        )


PRODUCT_COLUMNS = [
    "rank",
    "model",
    "provider",
    "route",
    "quality",
    "scored_as",
    "frontier",
    "cost_per_request_usd",
    "first_month_usd",
    "horizon_total_usd",
    "also_via",
    "cheapest_route",
    "context_window",
    "note",
]


def product_shortlist(
    rs: RequirementSet,
    use_case: str,
    prices: dict[str, ModelPrice],
    latency: dict[str, Latency] | None = None,
    *,
    kind: str = "chat",
    need: tuple[str, ...] = (),
    quality: QualityTable | None = None,
    info: Callable[[str], ModelInfo | None] = model_info,
) -> ProductShortlist:
    """The shortlist as a PM reads it: right kind, general-purpose, one row per model, ranked by
    the cost/quality frontier (no other scored model is both cheaper and better), then by quality,
    then models without a score by cost."""
    if kind not in KINDS:
        raise PlanningError(f"unknown use-case kind {kind!r} (choose {', '.join(KINDS)})")
    unknown = [n for n in need if n not in CAPABILITIES]
    if unknown:
        raise PlanningError(f"unknown capability {unknown[0]!r} (choose {', '.join(CAPABILITIES)})")
    uc = rs.use_case(use_case)
    base = shortlist(rs, use_case, prices, latency, kind=kind)
    dropped = [base.excluded]
    keep, extra = [], []
    cols = list(base.eligible.columns)
    for values in zip(*(base.eligible[c].tolist() for c in cols)):
        row = dict(zip(cols, values))
        m = row["model"]
        why = []
        mi = info(m)
        if sp := special_purpose(m, uc, kind, mi):
            why.append(sp)
        missing = [CAPABILITIES[n].lower() for n in need if not (mi and n in mi.flags)]
        if missing:
            why.append(f"no {', '.join(missing)} (supports_* flags in LiteLLM's map)")
        if why:
            extra.append({"model": m, "provider": row["provider"], "first_month_usd": row["first_month_usd"],
                          "reasons": "; ".join(why)})  # fmt: skip
        else:
            keep.append(row)
    rows = _fold(keep, prices, uc)
    if quality is not None:
        for r in rows:
            # A '-latest' alias moves to newer models than the score was measured on: not scored.
            hit = next(
                (m for m in r["_members"] if not m.endswith("latest") and quality.score_for(m) is not None), None
            )
            r["quality"] = quality.score_for(hit) if hit else None
            r["scored_as"] = quality.models.get(family_key(hit)) if hit else None
        if uc.min_quality is not None:
            low = [r for r in rows if r["quality"] is not None and quality.as_fraction(r["quality"]) < uc.min_quality]
            for r in low:
                extra.append({"model": r["model"], "provider": r["provider"], "first_month_usd": r["first_month_usd"],
                              "reasons": f"quality {r['quality']:g} < minimum {uc.min_quality * quality.scale:g} "
                                         f"({quality.unit}, {quality.source})"})  # fmt: skip
            rows = [r for r in rows if r not in low]
    table = _rank(rows)
    excluded = pd.concat([d for d in dropped + [pd.DataFrame(extra, columns=EXCLUDED_COLUMNS)] if len(d)] or [
        pd.DataFrame(columns=EXCLUDED_COLUMNS)], ignore_index=True)  # fmt: skip
    notes = list(base.notes)
    if quality is None:
        notes.append("No quality signal chosen: ranked by projected cost alone.")
    elif len(table) and table["quality"].isna().all():
        notes.append(f"None of these models has a score in {quality.source}: ranked by projected cost.")
    return ProductShortlist(
        uc.name,
        kind,
        table,
        excluded,
        len(prices),
        len(keep),
        quality.source if quality else None,
        quality.unit if quality else None,
        notes,
    )


_ROUTE_RANK = {"first-party": 0, "cloud": 1, "reseller": 2}


def _fold(rows: list[dict], prices: dict[str, ModelPrice], uc: UseCase) -> list[dict]:
    """One row per family_key: the provider's own entry (else a cloud's, else the cheapest), the
    other routes listed under also_via, and the cheapest route named when it is not the one shown.
    A self-hosted entry at $0 with no hosting cost entered has no known bill: it is shown only when
    the model has no hosted route, and it is never the cheapest route."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        free = prices[r["model"]].self_hosted and r["cost_per_request_usd"] == 0 and uc.fixed_monthly_usd == 0
        r = dict(r, route=route_of(r["model"], r["provider"]), _free=free)
        groups.setdefault(family_key(r["model"]), []).append(r)
    out = []
    for members in groups.values():
        members.sort(
            key=lambda r: (r["_free"], _ROUTE_RANK[r["route"]], r["horizon_total_usd"], len(r["model"]), r["model"])
        )
        rep = members[0]
        cheapest = min((m for m in members if not m["_free"]), key=lambda r: r["horizon_total_usd"], default=rep)
        others = sorted({(m["provider"] or "?") for m in members[1:]} - {rep["provider"] or "?"})
        also = ", ".join(others[:6]) + (f" (+{len(others) - 6} more)" if len(others) > 6 else "")
        out.append(
            dict(
                rep,
                quality=None,
                scored_as=None,
                also_via=also,
                cheapest_route=(
                    ""
                    if cheapest is rep or cheapest["horizon_total_usd"] >= rep["horizon_total_usd"]
                    else f"{cheapest['model']} ({_money(cheapest['first_month_usd'])} first month)"
                ),
                _members=[m["model"] for m in members],
            )
        )
    return out


def _rank(rows: list[dict]) -> pd.DataFrame:
    scored = [r for r in rows if r["quality"] is not None]
    for r in rows:
        r["frontier"] = (
            r["quality"] is not None
            and not r["_free"]
            and not any(
                o is not r
                and not o["_free"]
                and o["quality"] >= r["quality"]
                and o["horizon_total_usd"] <= r["horizon_total_usd"]
                and (o["quality"] > r["quality"] or o["horizon_total_usd"] < r["horizon_total_usd"])
                for o in scored
            )
        )
    rows.sort(
        key=lambda r: (
            0 if r["frontier"] else 1 if r["quality"] is not None and not r["_free"] else 2 + r["_free"],
            r["horizon_total_usd"] if r["frontier"] or r["quality"] is None else -r["quality"],
            r["model"],
        )
    )
    df = pd.DataFrame(rows, columns=[c for c in PRODUCT_COLUMNS if c != "rank"])
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df
