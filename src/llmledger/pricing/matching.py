"""Which price in a sheet belongs to a model name seen in telemetry.

Tried in this order, first hit wins (the `kind` recorded in price_resolution):
1. `provider`  the provider-qualified key (`azure` + `gpt-4o` -> `azure/gpt-4o`) when the sheet has one
2. `exact`     the name itself, case-insensitively
3. `regex`     a sheet-provided pattern (Langfuse matchPattern, a user's match_regex), in sheet order
4. `rule`      genai-prices match clauses: provider by id/provider_match (else by model_match), then
               the provider's models in order, then its fallback providers, then every provider
5. `prefixed`  the name without its routing prefix (`openai/gpt-4o`, `openrouter/openai/gpt-4o`)
6. `normalized` Bedrock / Vertex ids (`us.anthropic.claude-...-v2:0`, `claude-3-5-sonnet@20240620`)
               and resellers' copies (`snowflake/claude-3-5-sonnet`); among several candidates the
               provider's own entry wins, then the big clouds (Bedrock, Vertex AI, Azure), and a
               reseller only when nothing else matches (see `route_of`). A dated snapshot of the
               provider's own or a cloud's (`anthropic.claude-3-7-sonnet-20250219-v1:0`) beats a
               reseller's undated copy.
7. `snapshot`  a dated snapshot (`gpt-4o-2024-08-06`) falls back to its base name (`gpt-4o`), only
               when nothing above matched the snapshot itself.
No match means no price: the model is listed by `unknown_models`, never priced at $0.
Every match says which route it prices through (`Match.route`: first-party, cloud or reseller) so
the pages can say "via reseller" wherever a match is shown.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import duckdb

from llmledger.pricing.model import ModelEntry, Sheet

# OTel GenAI provider names -> the prefixes price sheets use for the same route.
PROVIDER_ALIASES = {
    "aws.bedrock": "bedrock",
    "bedrock": "bedrock",
    "gcp.vertex_ai": "vertex_ai",
    "vertex_ai": "vertex_ai",
    "gcp.gemini": "gemini",
    "gcp.gen_ai": "gemini",
    "azure.ai.openai": "azure",
    "az.ai.openai": "azure",
    "azure": "azure",
    "azure.ai.inference": "azure_ai",
    "openrouter": "openrouter",
    "groq": "groq",
    "mistral_ai": "mistral",
    "mistral": "mistral",
    "x_ai": "xai",
    "xai": "xai",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
    "cohere": "cohere",
    "together_ai": "together_ai",
    "fireworks_ai": "fireworks_ai",
}
_REGION = re.compile(r"^(?:us|eu|apac|ap|global|us-gov|jp|au|ca)\.")
_VENDOR = re.compile(r"^(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|qwen|openai|writer|twelvelabs)\.")
_VERSION = re.compile(r"(?:-v\d+(?::\d+)?|:\d+)$")
_SNAPSHOT = re.compile(r"(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})|-latest|-preview-\d{2}-\d{2})$")


#: Who sells a sheet entry: the model's maker (first-party), one of the big clouds, or a reseller.
ROUTES = ("first-party", "cloud", "reseller")
#: Sheet providers (LiteLLM's litellm_provider, genai-prices' ids) that are a model maker's own API.
FIRST_PARTY_PROVIDERS = frozenset(
    {
        "openai", "text-completion-openai", "chatgpt", "anthropic", "gemini", "google", "mistral",
        "codestral", "text-completion-codestral", "cohere", "cohere_chat", "deepseek", "xai", "x-ai",
        "ai21", "ai21_chat", "perplexity", "moonshot", "moonshotai", "dashscope", "qwen", "alibaba",
        "meta_llama", "meta", "zai", "minimax", "voyage", "amazon_nova", "amazon", "inception",
        "xiaomi_mimo", "mistralai",
    }
)  # fmt: skip
#: The big clouds: Bedrock, Vertex AI (every `vertex_ai-*` LiteLLM provider) and Azure.
CLOUD_PREFIXES = ("bedrock", "vertex_ai", "azure", "aws", "google-vertex", "gcp")
#: Model families whose maker is known: a first-party provider serving another maker's family
#: (Perplexity serving Llama) is a reseller for it.
_MAKERS = (
    (re.compile(r"claude"), {"anthropic"}),
    (re.compile(r"gpt-|^o\d|chatgpt|dall-e|whisper|tts-1"), {"openai", "text-completion-openai", "chatgpt"}),
    (re.compile(r"gemini|gemma|palm|imagen"), {"gemini", "google"}),
    (re.compile(r"llama"), {"meta_llama", "meta"}),
    (re.compile(r"mistral|mixtral|codestral|ministral|magistral|devstral|pixtral"), {"mistral", "codestral", "text-completion-codestral", "mistralai"}),
    (re.compile(r"qwen|qwq"), {"dashscope", "qwen", "alibaba"}),
    (re.compile(r"deepseek"), {"deepseek"}),
    (re.compile(r"grok"), {"xai", "x-ai"}),
    (re.compile(r"command|embed-english|embed-multilingual"), {"cohere", "cohere_chat"}),
    (re.compile(r"jamba"), {"ai21", "ai21_chat"}),
    (re.compile(r"sonar"), {"perplexity"}),
    (re.compile(r"kimi|moonshot"), {"moonshot", "moonshotai"}),
    (re.compile(r"glm"), {"zai"}),
)  # fmt: skip


def route_of(model_id: str, provider: str | None) -> str:
    """'first-party', 'cloud' or 'reseller' for a sheet entry, from its provider (else its id's
    routing prefix: `openrouter/...` is a reseller, a bare `gpt-4o` is the maker's own)."""
    prov = provider.strip().lower() if isinstance(provider, str) else ""  # NULL reaches here as NaN
    if not prov:
        prov = model_id.lower().split("/", 1)[0] if "/" in model_id else ""
        if not prov:
            return "first-party"
    if prov.startswith(CLOUD_PREFIXES):
        return "cloud"
    leaf = model_id.lower().rsplit("/", 1)[-1]
    for pattern, makers in _MAKERS:
        if pattern.search(leaf):
            return "first-party" if prov in makers else "reseller"
    return "first-party" if prov in FIRST_PARTY_PROVIDERS else "reseller"


def route_note(route: str, provider: str | None) -> str:
    """How the UI says which route a match prices through (empty for the provider's own entry)."""
    who = provider if isinstance(provider, str) and provider else "?"
    if route == "cloud":
        return f"via the cloud {who}: the sheet has no entry of the provider's own"
    if route == "reseller":
        return f"via reseller {who}: the sheet has no entry of the provider's own or a big cloud's"
    return ""


@dataclass(frozen=True)
class Match:
    model_id: str
    kind: str
    name: str  # the name (request or response model) that matched
    route: str = "first-party"  # first-party | cloud | reseller (see route_of)
    provider: str | None = None  # the matched entry's provider

    @property
    def note(self) -> str:
        return route_note(self.route, self.provider)


def normalize(name: str) -> str:
    n = name.strip().lower().rsplit("/", 1)[-1]
    n = _VENDOR.sub("", _REGION.sub("", n))
    n = _VERSION.sub("", n)
    return n.replace("@", "-")


def base_name(name: str) -> str | None:
    n = normalize(name)
    b = _SNAPSHOT.sub("", n)
    return b if b != n else None


def clause_match(clause: dict, text: str) -> bool:
    """genai-prices match logic (evaluated on the lower-cased model reference)."""
    if "equals" in clause:
        return text == clause["equals"]
    if "starts_with" in clause:
        return text.startswith(clause["starts_with"])
    if "ends_with" in clause:
        return text.endswith(clause["ends_with"])
    if "contains" in clause:
        return clause["contains"] in text
    if "regex" in clause:
        return re.search(clause["regex"], text) is not None
    if "or" in clause:
        return any(clause_match(c, text) for c in clause["or"])
    if "and" in clause:
        return all(clause_match(c, text) for c in clause["and"])
    return False


class Matcher:
    """Resolve model names against one version of a sheet (default: the latest)."""

    def __init__(self, sheet: Sheet, models: list[ModelEntry] | None = None):
        self.models = models if models is not None else sheet.latest().models
        self.providers = sheet.providers
        self.exact: dict[str, str] = {}
        self.norm: dict[str, list[ModelEntry]] = {}
        self.regex: list[tuple[re.Pattern, str]] = []
        self.by_provider: dict[str, list[ModelEntry]] = {}
        self.family: dict[str, list[ModelEntry]] = {}  # base name -> dated snapshots (`...-20250219`)
        self.entry: dict[str, ModelEntry] = {}
        for m in self.models:
            self.entry.setdefault(m.model_id, m)
            self.exact.setdefault(m.model_id.lower(), m.model_id)
            if m.match_regex:
                self.regex.append((re.compile(m.match_regex), m.model_id))
            if m.match_rule is not None:
                self.by_provider.setdefault(m.provider or "", []).append(m)
            else:
                self.norm.setdefault(normalize(m.model_id), []).append(m)
                if (b := base_name(m.model_id)) and route_of(m.model_id, m.provider) != "reseller":
                    self.family.setdefault(b, []).append(m)

    def resolve(self, name: str | None, provider: str | None = None) -> Match | None:
        if not name or not name.strip():
            return None
        hit = self._direct(name, provider)
        kind = hit[1] if hit else None
        if hit is None and (base := base_name(name)):
            hit = self._direct(base, provider)
            kind = "snapshot"
        if hit is None:
            return None
        e = self.entry.get(hit[0])
        prov = e.provider if e else None
        return Match(hit[0], kind, name, route_of(hit[0], prov), prov)

    def candidates(self, name: str, provider: str | None = None) -> list[dict]:
        """Every entry that could price `name`, the chosen one first, then by route (first-party,
        cloud, reseller): what a person needs to see why a model is priced as it is."""
        if not name or not name.strip():
            return []
        hit = self.resolve(name, provider)
        low = name.strip().lower()
        found: dict[str, str] = {}
        if hit:
            found[hit.model_id] = f"chosen ({hit.kind} match)"
        for n, what in ((low, ""), (base_name(low) or "", " (for the name without its snapshot date)")):
            if not n:
                continue
            if mid := self.exact.get(n):
                found.setdefault(mid, "exact name" + what)
            if (stripped := n.rsplit("/", 1)[-1]) != n and (mid := self.exact.get(stripped)):
                found.setdefault(mid, "name without its routing prefix" + what)
            for pattern, mid in self.regex:
                if pattern.search(n):
                    found.setdefault(mid, "the sheet's match pattern" + what)
            key = normalize(n)
            for m in self.norm.get(key, []):
                found.setdefault(m.model_id, "same model after removing prefix, region and version" + what)
            for m in self.family.get(key, []):
                found.setdefault(m.model_id, "a dated snapshot of the same model" + what)
        rank = {r: i for i, r in enumerate(ROUTES)}
        rows = []
        for mid, how in found.items():
            e = self.entry.get(mid)
            prov = e.provider if e else None
            rows.append({"model_id": mid, "provider": prov, "route": route_of(mid, prov), "how": how,
                         "chosen": bool(hit and mid == hit.model_id)})  # fmt: skip
        rows.sort(key=lambda r: (not r["chosen"], rank[r["route"]], r["model_id"]))
        return rows

    def _direct(self, name: str, provider: str | None) -> tuple[str, str] | None:
        low = name.strip().lower()
        alias = PROVIDER_ALIASES.get((provider or "").lower())
        if alias and "/" not in low and (mid := self.exact.get(f"{alias}/{low}")):
            return mid, "provider"
        if mid := self.exact.get(low):
            return mid, "exact"
        for pattern, mid in self.regex:
            if pattern.search(name) or pattern.search(low):
                return mid, "regex"
        if self.by_provider and (mid := self._rules(low, provider)):
            return mid, "rule"
        stripped = low.rsplit("/", 1)[-1]
        if stripped != low and (mid := self.exact.get(stripped)):
            return mid, "prefixed"
        key = normalize(low)
        cands = self.norm.get(key, [])
        # A provider's own (or a cloud's) dated snapshot beats a reseller's undated copy; the
        # newest snapshot stands for the family, as the provider's alias does.
        family = sorted(self.family.get(key, []), key=lambda m: (normalize(m.model_id), -len(m.model_id)), reverse=True)
        if cands or family:
            return self._prefer(cands + family, alias).model_id, "normalized"
        return None

    @staticmethod
    def _prefer(cands: list[ModelEntry], alias: str | None) -> ModelEntry:
        """The caller's provider first; then the provider's own entry, then a big cloud, then a
        reseller (stable: the sheet's order, exact normalized names before snapshots)."""
        if alias:
            for m in cands:
                if (m.provider or "").startswith(alias):
                    return m
        rank = {r: i for i, r in enumerate(ROUTES)}
        return min(cands, key=lambda m: rank[route_of(m.model_id, m.provider)])

    def _rules(self, low: str, provider: str | None) -> str | None:
        attempts = [(low, provider)]
        if "/" in low:  # 'openai/gpt-4o': the prefix names the provider
            prefix, _, rest = low.rpartition("/")
            attempts += [(rest, prefix.split("/")[-1]), (rest, provider)]
        attempts.append((normalize(low), provider))
        for ref, prov in attempts:
            if mid := self._rule(ref, prov):
                return mid
        for p in self.providers:  # beyond genai-prices: any provider that lists the name
            if mid := self._provider_model(p, low, fallback=False):
                return mid
        return None

    def _rule(self, ref: str, provider: str | None) -> str | None:
        """genai-prices: provider by id/provider_match, else by model_match; then its models."""
        prov = self._find_provider(provider) if provider else None
        if prov is None:
            prov = next(
                (p for p in self.providers if p.get("model_match") and clause_match(p["model_match"], ref)), None
            )
        return self._provider_model(prov, ref, fallback=True) if prov is not None else None

    def _find_provider(self, provider: str) -> dict | None:
        pid = provider.lower().strip()
        for p in self.providers:
            if p["id"] == pid:
                return p
        for p in self.providers:
            if p.get("provider_match") and clause_match(p["provider_match"], pid):
                return p
        return None

    def _provider_model(self, prov: dict, ref: str, fallback: bool) -> str | None:
        for m in self.by_provider.get(prov["id"], []):
            if clause_match(m.match_rule, ref):
                return m.model_id
        if fallback:
            for pid in prov.get("fallback_model_providers") or []:
                other = next((p for p in self.providers if p["id"] == pid), None)
                if other and (mid := self._provider_model(other, ref, fallback=False)):
                    return mid
        return None


# --------------------------------------------------------------------------- resolution table

# One scan of calls for every version of the sheet(s): distinct names first, then the anti-join.
PENDING_TRIPLES_SQL = """
WITH t AS (
    SELECT DISTINCT coalesce(request_model, '') AS request_model, coalesce(response_model, '') AS response_model,
           coalesce(provider, '') AS provider
    FROM calls WHERE load_seq >= {since}
), v AS (SELECT version_id, sheet FROM price_versions WHERE (? IS NULL OR sheet = ?))
SELECT v.version_id, v.sheet, t.request_model, t.response_model, t.provider
FROM t CROSS JOIN v
WHERE NOT EXISTS (
    SELECT 1 FROM price_resolution r
    WHERE r.version_id = v.version_id AND r.request_model = t.request_model
      AND r.response_model = t.response_model AND r.provider = t.provider)
ORDER BY v.version_id
"""
VERSION_MODELS_SQL = """
SELECT model_id, provider, match_regex, match_rule FROM sheet_models WHERE version_id = ? ORDER BY ordinal
"""
SHEET_PROVIDERS_SQL = "SELECT providers FROM price_sheets WHERE sheet = ?"
INSERT_RESOLUTION_SQL = """
INSERT OR REPLACE INTO price_resolution (version_id, request_model, response_model, provider, model_id, match_kind, matched_name)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""


def matcher_for_version(con: duckdb.DuckDBPyConnection, version_id: int, sheet_name: str) -> Matcher:
    rows = con.execute(VERSION_MODELS_SQL, [version_id]).fetchall()
    models = [
        ModelEntry(model_id=r[0], provider=r[1], match_regex=r[2], match_rule=json.loads(r[3]) if r[3] else None)
        for r in rows
    ]
    prov = con.execute(SHEET_PROVIDERS_SQL, [sheet_name]).fetchone()
    providers = json.loads(prov[0]) if prov and prov[0] else []
    return Matcher(Sheet(sheet_name, "", "", [], providers=providers), models)


def resolve_triple(matcher: Matcher, request_model: str, response_model: str, provider: str) -> Match | None:
    prov = provider or None
    for name in (response_model, request_model):
        if name and (hit := matcher.resolve(name, prov)):
            return hit
    return None


#: Bump when the matching rules change: a ledger's stored resolutions are then redone once (every
#: sheet, every call), so no ledger keeps a match the rules no longer make.
MATCH_RULES = "2: first-party, then clouds, then resellers"
MATCH_RULES_KEY = "match_rules"
GET_RULES_SQL = "SELECT value FROM settings WHERE key = ?"
SET_RULES_SQL = "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)"


def refresh_resolutions(con: duckdb.DuckDBPyConnection, sheet: str | None = None, since: int = 0) -> int:
    """Resolve every (request_model, response_model, provider) seen in calls that a sheet version
    has not resolved yet. Returns the number of rows added. Runs on `con` as given (the caller
    owns the transaction). `since`: only calls of that load number or later (the loader's new
    calls: older ones were resolved when they were loaded)."""
    row = con.execute(GET_RULES_SQL, [MATCH_RULES_KEY]).fetchone()
    if (row[0] if row else None) != MATCH_RULES:  # resolutions made under older rules: redo all
        con.execute("DELETE FROM price_resolution")
        con.execute(SET_RULES_SQL, [MATCH_RULES_KEY, MATCH_RULES])
        sheet, since = None, 0
    pending = con.execute(PENDING_TRIPLES_SQL.replace("{since}", str(int(since))), [sheet, sheet]).fetchall()
    rows, matchers = [], {}
    for version_id, sheet_name, req, resp, prov in pending:
        if version_id not in matchers:
            matchers[version_id] = matcher_for_version(con, version_id, sheet_name)
        hit = resolve_triple(matchers[version_id], req, resp, prov)
        rows.append(
            [
                version_id,
                req,
                resp,
                prov,
                hit.model_id if hit else None,
                hit.kind if hit else "unknown",
                hit.name if hit else None,
            ]
        )
    if rows:
        con.executemany(INSERT_RESOLUTION_SQL, rows)
    return len(rows)
