"""Turn price sheets in their native formats into `Sheet`s (pure: no database, no network).

- LiteLLM's bundled `model_prices_and_context_window_backup.json` (read from the installed package)
- Langfuse's `default-model-prices.json` (regex matchPattern, pricingTiers with conditions)
- pydantic genai-prices `data.json` (providers, match clauses, tiered and dated prices)
- a user's CSV or YAML of negotiated rates (see USER_COLUMNS), optionally over a base sheet
- a self-hosted sheet from $/GPU-hour and measured throughput
"""

from __future__ import annotations

import csv
import functools
import importlib.metadata
import importlib.util
import io
import json
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from llmledger.errors import PricingError
from llmledger.pricing.model import EPOCH, SERVICE_TIERS, ModelEntry, PriceRow, Sheet, SheetVersion, money

# --------------------------------------------------------------------------- LiteLLM

_LL_FIELDS = {  # LiteLLM key stem -> PriceRow field
    "input_cost_per_token": "input_mtok",
    "output_cost_per_token": "output_mtok",
    "cache_read_input_token_cost": "cache_read_mtok",
    "cache_creation_input_token_cost": "cache_write_mtok",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h_mtok",
    "output_cost_per_reasoning_token": "reasoning_mtok",
}
_LL_TIERS = {"": "standard", "_batches": "batch", "_flex": "flex", "_priority": "priority"}
_LL_KEY = re.compile(
    r"^(?P<stem>input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|"
    r"cache_creation_input_token_cost_above_1hr|cache_creation_input_token_cost|output_cost_per_reasoning_token)"
    r"(?:_above_(?P<n>\d+)k_tokens)?(?P<tier>_batches|_flex|_priority)?$"
)


def litellm_map_path() -> Path:
    """The price map inside the installed litellm wheel (found without importing litellm)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise PricingError("litellm is not installed: its bundled price map is the default sheet")
    path = Path(list(spec.submodule_search_locations)[0]) / "model_prices_and_context_window_backup.json"
    if not path.exists():
        raise PricingError(f"litellm's price map is missing at {path}")
    return path


@functools.cache
def litellm_version() -> str:
    """The installed litellm's version (read once per process: it scans every installed
    distribution, ~50 ms, and ensure_default_sheet asks on every pricing read)."""
    return importlib.metadata.version("litellm")


def litellm_sheet(name: str = "litellm", data: dict | None = None, source: str | None = None) -> Sheet:
    if data is None:
        data = json.loads(litellm_map_path().read_text())
        source = source or f"litellm {litellm_version()} (bundled model_prices_and_context_window_backup.json)"
    models = [m for key, spec in data.items() if (m := _litellm_entry(key, spec)) is not None]
    if not models:
        raise PricingError("the LiteLLM price map holds no token prices")
    return Sheet(name, "litellm", source or "LiteLLM price map", [SheetVersion(EPOCH, models)])


def _litellm_entry(key: str, spec) -> ModelEntry | None:
    if key == "sample_spec" or not isinstance(spec, dict):
        return None
    rows: dict[tuple[str, int], PriceRow] = {}
    for k, v in spec.items():
        m = _LL_KEY.match(k)
        if not m or not isinstance(v, (int, float)):
            continue
        tier = _LL_TIERS[m["tier"] or ""]
        above = int(m["n"]) * 1000 if m["n"] else 0
        row = rows.setdefault((tier, above), PriceRow(tier, above))
        setattr(row, _LL_FIELDS[m["stem"]], money(v, f"{key}.{k}", per_million=True))
    if isinstance(spec.get("input_cost_per_request"), (int, float)):
        row = rows.setdefault(("standard", 0), PriceRow())
        row.request_usd = money(spec["input_cost_per_request"], f"{key}.input_cost_per_request")
    for rng in spec.get("tiered_pricing") or []:  # [{"range": [lo, hi], "input_cost_per_token": ..}]
        if not isinstance(rng, dict) or "range" not in rng:
            continue
        above = int(rng["range"][0])
        row = rows.setdefault(("standard", above), PriceRow("standard", above))
        for stem, f in _LL_FIELDS.items():
            if isinstance(rng.get(stem), (int, float)):
                setattr(row, f, money(rng[stem], f"{key}.tiered_pricing", per_million=True))
    _inherit_long_context(rows)
    if not rows or not any(r.has_token_price() for r in rows.values()):
        return None
    mods = spec.get("supported_modalities")
    outs = spec.get("supported_output_modalities")
    return ModelEntry(
        model_id=key,
        provider=spec.get("litellm_provider"),
        prices=sorted(rows.values(), key=lambda r: (SERVICE_TIERS.index(r.service_tier), r.above_input_tokens)),
        mode=spec.get("mode"),
        context_window=_int(spec.get("max_input_tokens")),
        max_output_tokens=_int(spec.get("max_output_tokens")),
        input_modalities=mods if isinstance(mods, list) else None,
        output_modalities=outs if isinstance(outs, list) else None,
    )


def _inherit_long_context(rows: dict[tuple[str, int], PriceRow]) -> None:
    """A long-context row lists only what changes above the threshold; the rest is the base row's."""
    for (tier, above), row in rows.items():
        base = rows.get((tier, 0))
        if above and base is not None:
            for f in (
                "input_mtok",
                "output_mtok",
                "cache_read_mtok",
                "cache_write_mtok",
                "cache_write_1h_mtok",
                "reasoning_mtok",
                "request_usd",
            ):
                if getattr(row, f) is None:
                    setattr(row, f, getattr(base, f))


def _int(v) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# --------------------------------------------------------------------------- Langfuse

_LF_FIELDS = {  # PriceRow field -> Langfuse usage keys, first present wins
    "input_mtok": (
        "input",
        "input_tokens",
        "input_text",
        "input_text_tokens",
        "prompt_token_count",
        "promptTokenCount",
    ),
    "output_mtok": (
        "output",
        "output_tokens",
        "output_text",
        "output_text_tokens",
        "candidates_token_count",
        "candidatesTokenCount",
    ),
    "cache_read_mtok": (
        "input_cache_read",
        "input_cached_tokens",
        "cache_read_input_tokens",
        "cached_content_token_count",
        "input_cached_text_tokens",
    ),
    "cache_write_mtok": (
        "input_cache_creation_5m",
        "input_cache_creation",
        "cache_creation_input_tokens",
        "cache_write_tokens",
    ),
    "cache_write_1h_mtok": ("input_cache_creation_1h",),
    "reasoning_mtok": (
        "output_reasoning_tokens",
        "output_reasoning",
        "reasoning_tokens",
        "thoughtsTokenCount",
        "thoughts_token_count",
    ),
}
_LF_SERVICE = {"priority": "priority", "fast": "priority", "flex": "flex", "batch": "batch"}


def langfuse_sheet(data, name: str = "langfuse", source: str = "Langfuse default-model-prices.json") -> Sheet:
    if not isinstance(data, list) or not all(isinstance(m, dict) and "matchPattern" in m for m in data):
        raise PricingError("not a Langfuse model price list (expected a JSON list of models with matchPattern)")
    models = []
    for m in data:
        name_ = m.get("modelName") or m.get("id")
        rows = []
        for t in m.get("pricingTiers") or []:
            tier, above = "standard", 0
            for cond in t.get("conditions") or []:
                if "usageDetailPattern" in cond:
                    if cond.get("operator") not in ("gt", "gte"):
                        raise PricingError(
                            f"Langfuse model {name_}: unsupported tier operator {cond.get('operator')!r}"
                        )
                    above = int(cond["value"])
                elif cond.get("key") in ("service_tier", "speed"):
                    tiers = {_LF_SERVICE.get(str(v).lower()) for v in cond.get("values") or []} - {None}
                    tier = sorted(tiers)[0] if tiers else "priority"
            prices = t.get("prices") or {}
            row = PriceRow(tier, above)
            for f, keys in _LF_FIELDS.items():
                for k in keys:
                    if k in prices:
                        setattr(row, f, money(prices[k], f"Langfuse {name_}.{k}", per_million=True))
                        break
            if "total" in prices and row.input_mtok is None and row.output_mtok is None:
                row.input_mtok = row.output_mtok = money(prices["total"], f"Langfuse {name_}.total", per_million=True)
            if row.has_token_price():
                rows.append(row)
        if not rows:
            continue
        try:
            re.compile(m["matchPattern"])
        except re.error as exc:
            raise PricingError(f"Langfuse model {name_}: bad matchPattern: {exc}") from None
        prov = {"openai": "openai", "claude": "anthropic"}.get(m.get("tokenizerId") or "")
        models.append(ModelEntry(model_id=name_, provider=prov, prices=rows, match_regex=m["matchPattern"]))
    return Sheet(name, "langfuse", source, [SheetVersion(EPOCH, models)])


# --------------------------------------------------------------------------- genai-prices

_GP_FIELDS = {
    "input_mtok": ("input_mtok", "input_text_mtok"),
    "output_mtok": ("output_mtok", "output_text_mtok"),
    "cache_read_mtok": ("cache_read_mtok", "cache_text_read_mtok"),
    "cache_write_mtok": ("cache_write_mtok", "cache_write_5m_mtok", "cache_text_write_mtok"),
    "cache_write_1h_mtok": ("cache_write_1h_mtok", "cache_text_write_1h_mtok"),
    "reasoning_mtok": ("output_reasoning_mtok",),
}


def genai_prices_sheet(data, name: str = "genai-prices", source: str = "pydantic genai-prices data.json") -> Sheet:
    if not isinstance(data, list) or not all(isinstance(p, dict) and "models" in p and "id" in p for p in data):
        raise PricingError("not a genai-prices data.json (expected a JSON list of providers with models)")
    # Every dated price change becomes a sheet version holding the whole sheet as of that date.
    dates = sorted(
        {
            date.fromisoformat(cp["constraint"]["start_date"])
            for p in data
            for m in p["models"]
            if isinstance(m.get("prices"), list)
            for cp in m["prices"]
            if "start_date" in (cp.get("constraint") or {})
        }
    )
    starts = [EPOCH] + [datetime(d.year, d.month, d.day, tzinfo=timezone.utc) for d in dates]
    versions = []
    for when in starts:
        models = []
        for p in data:
            for m in p["models"]:
                rows = _gp_rows(_gp_prices_at(m, when), f"{p['id']}:{m['id']}")
                if rows:
                    models.append(
                        ModelEntry(
                            model_id=f"{p['id']}:{m['id']}",
                            provider=p["id"],
                            prices=rows,
                            match_rule=m["match"],
                            context_window=_int(m.get("context_window")),
                            deprecated=m.get("deprecated"),
                        )
                    )
        versions.append(SheetVersion(when, models))
    providers = [
        {k: p.get(k) for k in ("id", "model_match", "provider_match", "fallback_model_providers")} for p in data
    ]
    return Sheet(name, "genai-prices", source, versions, providers=providers)


def _gp_prices_at(model: dict, when: datetime) -> dict:
    prices = model["prices"]
    if isinstance(prices, dict):
        return prices
    # Last active conditional price wins; none active -> the first. Time-of-day (off-peak)
    # constraints are not modelled: such prices never count as active here.
    for cp in reversed(prices):
        c = cp.get("constraint")
        if c is None or ("start_date" in c and when.date() >= date.fromisoformat(c["start_date"])):
            return cp["prices"]
    return prices[0]["prices"]


def _gp_rows(prices: dict, what: str) -> list[PriceRow]:
    if not prices:  # genai-prices lists free models (e.g. OpenRouter ':free') with empty prices
        return [PriceRow("standard", 0, input_mtok=Decimal(0), output_mtok=Decimal(0))]
    starts = {0}
    for v in prices.values():
        if isinstance(v, dict):
            starts.update(int(t["start"]) for t in v.get("tiers", []))
    rows = []
    for start in sorted(starts):
        row = PriceRow("standard", start)
        for f, keys in _GP_FIELDS.items():
            for k in keys:
                if k in prices:
                    setattr(row, f, money(_gp_at(prices[k], start), f"{what}.{k}"))
                    break
        if "requests_kcount" in prices:
            row.request_usd = money(Decimal(repr(prices["requests_kcount"])) / 1000, f"{what}.requests_kcount")
        if row.has_token_price():
            rows.append(row)
    return rows


def _gp_at(v, start: int):
    if not isinstance(v, dict):
        return v
    price = v["base"]
    for t in sorted(v.get("tiers", []), key=lambda t: t["start"]):
        if start >= int(t["start"]):
            price = t["price"]
    return price


# --------------------------------------------------------------------------- user CSV / YAML

#: Columns of a user's CSV (and keys of each YAML `models:` item). Prices are USD per 1M tokens.
USER_COLUMNS = {
    "model": "model name as it appears in calls (required)",
    "provider": "provider, e.g. openai (optional)",
    "input_per_mtok": "uncached input, USD per 1M tokens",
    "output_per_mtok": "output, USD per 1M tokens (reasoning included unless reasoning_per_mtok)",
    "cache_read_per_mtok": "cache reads, USD per 1M tokens (default: the input price)",
    "cache_write_per_mtok": "cache writes (5 min TTL), USD per 1M tokens (default: the input price)",
    "cache_write_1h_per_mtok": "cache writes (1 h TTL), USD per 1M tokens",
    "reasoning_per_mtok": "reasoning tokens when billed apart from output, USD per 1M tokens",
    "request_usd": "fee per request, USD",
    "service_tier": "standard (default) | batch | flex | priority",
    "above_input_tokens": "long-context tier: these prices apply above N input tokens (default 0)",
    "discount_pct": "percent off this row's prices, or off the base sheet's prices when no price is given",
    "match_regex": "regular expression matching more model names (optional)",
    "context_window": "max input tokens (optional)",
    "max_output_tokens": "max output tokens (optional)",
    "effective_from": "date these prices start (optional; default: the import's date argument or always)",
}
_USER_PRICE = {
    "input_per_mtok": "input_mtok",
    "output_per_mtok": "output_mtok",
    "cache_read_per_mtok": "cache_read_mtok",
    "cache_write_per_mtok": "cache_write_mtok",
    "cache_write_1h_per_mtok": "cache_write_1h_mtok",
    "reasoning_per_mtok": "reasoning_mtok",
    "request_usd": "request_usd",
}


def csv_sheet(
    text: str,
    name: str,
    effective_from: datetime | None = None,
    base: Sheet | None = None,
    discount_pct=None,
    source: str = "user CSV",
) -> Sheet:
    try:
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        if not reader.fieldnames:
            raise PricingError(f"sheet {name!r}: the CSV is empty")
        cols = [c.strip() for c in reader.fieldnames]
        rows = []
        for i, raw in enumerate(reader, start=2):
            if None in raw:
                raise PricingError(f"sheet {name!r}: CSV line {i} has more fields than the header")
            rows.append(
                ({k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items()}, f"CSV line {i}")
            )
    except csv.Error as exc:
        raise PricingError(f"sheet {name!r}: malformed CSV: {exc}") from None
    if "model" not in cols:
        raise PricingError(f"sheet {name!r}: the CSV needs a 'model' column")
    unknown = [c for c in cols if c not in USER_COLUMNS]
    if unknown:
        raise PricingError(
            f"sheet {name!r}: unknown CSV column(s) {', '.join(unknown)}; allowed: {', '.join(USER_COLUMNS)}"
        )
    return user_sheet(rows, name, "csv", source, effective_from, base, discount_pct)


def yaml_sheet(
    text: str,
    name: str | None = None,
    effective_from: datetime | None = None,
    base: Sheet | None = None,
    discount_pct=None,
    source: str = "user YAML",
) -> Sheet:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PricingError(f"malformed YAML: {' '.join(str(exc).split())}") from None
    if isinstance(doc, list):
        doc = {"models": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), list):
        raise PricingError("YAML sheet needs a 'models:' list (see USER_COLUMNS for the keys of each item)")
    extra = set(doc) - {"name", "base_sheet", "discount_pct", "effective_from", "models"}
    if extra:
        raise PricingError(f"YAML sheet: unknown top-level key(s) {', '.join(sorted(extra))}")
    name = name or doc.get("name")
    if not name:
        raise PricingError("YAML sheet has no name (give `name:` or a name when importing)")
    if effective_from is None and doc.get("effective_from") is not None:
        effective_from = parse_when(doc["effective_from"], f"sheet {name!r} effective_from")
    if discount_pct is None:
        discount_pct = doc.get("discount_pct")
    rows = []
    for i, item in enumerate(doc["models"], start=1):
        if not isinstance(item, dict):
            raise PricingError(f"sheet {name!r}: models item {i} is not a mapping")
        unknown = [k for k in item if k not in USER_COLUMNS]
        if unknown:
            raise PricingError(f"sheet {name!r}: models item {i}: unknown key(s) {', '.join(map(str, unknown))}")
        rows.append(({k: ("" if v is None else v) for k, v in item.items()}, f"models item {i}"))
    return user_sheet(rows, name, "yaml", source, effective_from, base, discount_pct)


def user_sheet(
    rows: list[tuple[dict, str]],
    name: str,
    kind: str,
    source: str,
    effective_from: datetime | None,
    base: Sheet | None,
    discount_pct,
) -> Sheet:
    """Build a sheet from parsed user rows: optional base-sheet copy, sheet-wide discount, overrides."""
    sheet_discount = _pct(discount_pct, f"sheet {name!r} discount_pct")
    by_when: dict[datetime, dict[str, ModelEntry]] = {}
    from_base: set[tuple[datetime, str]] = set()  # entries copied from the base, replaced by user rows
    default_when = effective_from or EPOCH
    if base is not None:
        for m in base.latest().models:
            by_when.setdefault(default_when, {})[m.model_id] = _discounted(m, sheet_discount)
            from_base.add((default_when, m.model_id))
    if not rows and base is None:
        raise PricingError(f"sheet {name!r} has no models")
    for row, where in rows:
        model = str(row.get("model") or "").strip()
        if not model:
            raise PricingError(f"sheet {name!r}: {where}: 'model' is empty")
        when = (
            parse_when(row["effective_from"], f"{where} effective_from")
            if row.get("effective_from") not in (None, "")
            else default_when
        )
        tier = str(row.get("service_tier") or "standard").strip().lower()
        if tier not in SERVICE_TIERS:
            raise PricingError(
                f"sheet {name!r}: {where}: service_tier {tier!r} is not one of {', '.join(SERVICE_TIERS)}"
            )
        above = _nonneg_int(row.get("above_input_tokens"), f"{where} above_input_tokens") or 0
        price = PriceRow(tier, above)
        for col, f in _USER_PRICE.items():
            setattr(price, f, money(row.get(col), f"sheet {name!r}: {where} {col}"))
        row_discount = _pct(row.get("discount_pct"), f"sheet {name!r}: {where} discount_pct")
        models = by_when.setdefault(when, {})
        if not price.has_token_price():  # discount (or plain copy) of the base sheet's price
            based = _base_entry(base, model)
            if based is None:
                raise PricingError(
                    f"sheet {name!r}: {where}: model {model!r} has no price "
                    + (
                        "and is not in the base sheet"
                        if base
                        else "(give input_per_mtok/output_per_mtok, or a base sheet)"
                    )
                )
            new = _discounted(based, row_discount if row_discount is not None else sheet_discount)
            new.model_id = model
            models[model] = new
            from_base.discard((when, model))
            continue
        if row_discount:
            price = _discount_row(price, row_discount)
        entry = models.get(model)
        if entry is None or (when, model) in from_base:
            entry = models[model] = ModelEntry(model_id=model)
            from_base.discard((when, model))
        entry.provider = str(row.get("provider") or "").strip() or entry.provider
        if row.get("match_regex"):
            try:
                re.compile(str(row["match_regex"]))
            except re.error as exc:
                raise PricingError(f"sheet {name!r}: {where}: bad match_regex: {exc}") from None
            entry.match_regex = str(row["match_regex"])
        entry.context_window = _nonneg_int(row.get("context_window"), f"{where} context_window") or entry.context_window
        entry.max_output_tokens = (
            _nonneg_int(row.get("max_output_tokens"), f"{where} max_output_tokens") or entry.max_output_tokens
        )
        if any(r.service_tier == tier and r.above_input_tokens == above for r in entry.prices):
            raise PricingError(f"sheet {name!r}: {where}: duplicate row for {model} ({tier}, above {above})")
        entry.prices.append(price)
    versions = []
    for when in sorted(by_when):
        models = by_when[when]
        for m in models.values():
            if not any(r.service_tier == "standard" and r.above_input_tokens == 0 for r in m.prices):
                raise PricingError(f"sheet {name!r}: model {m.model_id!r} has tier rows but no base standard price")
        versions.append(SheetVersion(when, list(models.values())))
    return Sheet(name, kind, source, versions, base_sheet=base.name if base else None, discount_pct=sheet_discount)


def _base_entry(base: Sheet | None, model: str) -> ModelEntry | None:
    if base is None:
        return None
    from llmledger.pricing.matching import Matcher

    hit = Matcher(base).resolve(model)
    return next((m for m in base.latest().models if m.model_id == hit.model_id), None) if hit else None


def _discount_row(r: PriceRow, pct: Decimal) -> PriceRow:
    f = (Decimal(100) - pct) / Decimal(100)
    out = PriceRow(r.service_tier, r.above_input_tokens)
    for k in (
        "input_mtok",
        "output_mtok",
        "cache_read_mtok",
        "cache_write_mtok",
        "cache_write_1h_mtok",
        "reasoning_mtok",
        "request_usd",
    ):
        v = getattr(r, k)
        setattr(out, k, None if v is None else (v * f).quantize(Decimal("0.000000001")))
    return out


def _discounted(m: ModelEntry, pct: Decimal | None) -> ModelEntry:
    from dataclasses import replace

    return replace(m, prices=[_discount_row(r, pct) if pct else replace(r) for r in m.prices])


def _pct(v, what: str) -> Decimal | None:
    if v is None or v == "":
        return None
    d = money(v, what)
    if d > 100:
        raise PricingError(f"{what}: {v!r} is more than 100%")
    return d


def _nonneg_int(v, what: str) -> int | None:
    if v is None or v == "":
        return None
    try:
        n = int(str(v).strip().replace("_", ""))
    except ValueError:
        raise PricingError(f"{what}: {v!r} is not a whole number") from None
    if n < 0:
        raise PricingError(f"{what}: negative value {v!r}")
    return n


def parse_when(v, what: str = "effective date") -> datetime:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day, tzinfo=timezone.utc)
    try:
        d = datetime.fromisoformat(str(v).strip().replace("Z", "+00:00"))
    except ValueError:
        raise PricingError(f"{what}: {v!r} is not a date (use YYYY-MM-DD)") from None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


# --------------------------------------------------------------------------- self-hosted


def self_hosted_sheet(
    name: str, usd_per_hour, tokens_per_s_input, tokens_per_s_output, models, effective_from: datetime | None = None
) -> Sheet:
    """$/token from what the GPU costs per hour and the measured throughput (tokens per second).

    input $/1M = usd_per_hour / (3600 * tokens_per_s_input) * 1e6, likewise for output."""
    hour = money(usd_per_hour, f"sheet {name!r} usd_per_hour")
    if hour is None:
        raise PricingError(f"sheet {name!r}: usd_per_hour is required")
    rates = []
    for label, tps in (("tokens_per_s_input", tokens_per_s_input), ("tokens_per_s_output", tokens_per_s_output)):
        d = money(tps, f"sheet {name!r} {label}")
        if not d:
            raise PricingError(f"sheet {name!r}: {label} must be a positive throughput")
        rates.append(money(hour / (Decimal(3600) * d) * Decimal(1_000_000), f"sheet {name!r} {label}"))
    if isinstance(models, str):
        models = [models]
    if not models:
        raise PricingError(f"sheet {name!r}: give at least one model")
    entries = [
        ModelEntry(
            model_id=str(m),
            provider="self-hosted",
            prices=[PriceRow("standard", 0, input_mtok=rates[0], output_mtok=rates[1])],
        )
        for m in models
    ]
    src = f"self-hosted: ${hour}/h, {tokens_per_s_input} input tok/s, {tokens_per_s_output} output tok/s"
    return Sheet(name, "self-hosted", src, [SheetVersion(effective_from or EPOCH, entries)])
