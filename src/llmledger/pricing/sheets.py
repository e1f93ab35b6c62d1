"""Price sheets in DuckDB: save, load, list, activate, delete, import from bytes.

The default sheet 'litellm' is imported from the installed litellm package the first time it is
needed (`ensure_default_sheet`), with the litellm version recorded as its source. When a newer
litellm is installed later, its map is added as a new version effective from that moment, so
history keeps the prices it was priced with.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import duckdb
import pandas as pd
import pyarrow as pa

from llmledger.errors import PricingError
from llmledger.pricing import importers
from llmledger.pricing.engine import ACTIVE_KEY, DEFAULT_SHEET, query_frame
from llmledger.pricing.matching import refresh_resolutions
from llmledger.pricing.model import PRICE_FIELDS, ModelEntry, PriceRow, Sheet, SheetVersion

#: Sanity bound (the dearest price in the shipped sheets is under $10,000 per 1M tokens); it also
#: keeps the engine's integer arithmetic far from overflow.
MAX_MTOK = 30_000

SHEET_ROW_SQL = "SELECT sheet, kind, source, base_sheet, discount_pct, providers FROM price_sheets WHERE sheet = ?"
UPSERT_SHEET_SQL = """
INSERT OR REPLACE INTO price_sheets (sheet, kind, source, base_sheet, discount_pct, providers)
VALUES (?, ?, ?, ?, ?, ?)
"""
VERSION_AT_SQL = "SELECT version_id FROM price_versions WHERE sheet = ? AND effective_from = ?"
INSERT_VERSION_SQL = "INSERT INTO price_versions (sheet, effective_from, source) VALUES (?, ?, ?) RETURNING version_id"
DELETE_VERSION_SQL = [
    "DELETE FROM price_resolution WHERE version_id = ?",
    "DELETE FROM model_prices WHERE version_id = ?",
    "DELETE FROM sheet_models WHERE version_id = ?",
    "DELETE FROM price_versions WHERE version_id = ?",
]
SHEET_VERSIONS_SQL = "SELECT version_id, effective_from FROM price_versions WHERE sheet = ? ORDER BY effective_from"
LIST_SHEETS_SQL = """
SELECT s.sheet, s.kind, s.source, s.base_sheet, s.discount_pct,
       count(DISTINCT v.version_id) AS versions, max(v.effective_from) AS latest_effective_from,
       (SELECT count(*) FROM sheet_models m WHERE m.version_id = arg_max(v.version_id, v.effective_from)) AS models,
       s.sheet = ? AS active
FROM price_sheets s LEFT JOIN price_versions v ON v.sheet = s.sheet
GROUP BY ALL ORDER BY s.sheet
"""
GET_SETTING_SQL = "SELECT value FROM settings WHERE key = ?"
SET_SETTING_SQL = "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)"
MODELS_SQL = """
SELECT model_id, provider, match_regex, match_rule, mode, context_window, max_output_tokens,
       input_modalities, output_modalities, deprecated
FROM sheet_models WHERE version_id = ? ORDER BY ordinal
"""
PRICES_SQL = f"""
SELECT model_id, service_tier, above_input_tokens, {", ".join(PRICE_FIELDS)}
FROM model_prices WHERE version_id = ?
"""
UPTO_SQL = """
UPDATE model_prices p SET upto_input_tokens = n.nxt FROM (
    SELECT model_id, service_tier, above_input_tokens,
           lead(above_input_tokens) OVER (PARTITION BY model_id, service_tier ORDER BY above_input_tokens) AS nxt
    FROM model_prices WHERE version_id = ?) n
WHERE p.version_id = ? AND p.model_id = n.model_id AND p.service_tier = n.service_tier
  AND p.above_input_tokens = n.above_input_tokens
"""


def _tx(con: duckdb.DuckDBPyConnection, in_transaction: bool) -> bool:
    """BEGIN unless the caller already holds a transaction (the loader's hook does). DuckDB has
    no way to ask, and a failed BEGIN aborts the open transaction, so the caller says so."""
    if in_transaction:
        return False
    con.execute("BEGIN")
    return True


def save_sheet(
    con: duckdb.DuckDBPyConnection, sheet: Sheet, replace: bool = False, in_transaction: bool = False
) -> list[int]:
    """Store a sheet; each of its versions replaces a stored version with the same effective date.
    `replace=True` drops every stored version first. Returns the version ids written."""
    if not sheet.name or not str(sheet.name).strip():
        raise PricingError("a price sheet needs a name")
    cur = con  # not a new cursor: the loader's hook calls this inside its transaction
    own = _tx(cur, in_transaction)
    try:
        existing = cur.execute(SHEET_ROW_SQL, [sheet.name]).fetchone()
        if existing and existing[1] != sheet.kind and not replace:
            raise PricingError(
                f"sheet {sheet.name!r} already exists as a {existing[1]} sheet; "
                "delete it first or import under another name"
            )
        if replace:
            for vid, _ in cur.execute(SHEET_VERSIONS_SQL, [sheet.name]).fetchall():
                for q in DELETE_VERSION_SQL:
                    cur.execute(q, [vid])
        cur.execute(
            UPSERT_SHEET_SQL,
            [
                sheet.name,
                sheet.kind,
                sheet.source,
                sheet.base_sheet,
                sheet.discount_pct,
                json.dumps(sheet.providers) if sheet.providers else None,
            ],
        )
        ids = [_save_version(cur, sheet, v) for v in sheet.versions]
        refresh_resolutions(cur, sheet.name)
        if own:
            cur.execute("COMMIT")
        return ids
    except Exception:
        if own:
            cur.execute("ROLLBACK")
        raise


def _save_version(cur, sheet: Sheet, version: SheetVersion) -> int:
    old = cur.execute(VERSION_AT_SQL, [sheet.name, version.effective_from]).fetchone()
    if old:
        for q in DELETE_VERSION_SQL:
            cur.execute(q, [old[0]])
    vid = cur.execute(INSERT_VERSION_SQL, [sheet.name, version.effective_from, sheet.source]).fetchone()[0]
    seen: set[str] = set()
    mcols = {
        k: []
        for k in (
            "model_id",
            "ordinal",
            "provider",
            "match_regex",
            "match_rule",
            "mode",
            "context_window",
            "max_output_tokens",
            "input_modalities",
            "output_modalities",
            "deprecated",
        )
    }
    pcols = {k: [] for k in ("model_id", "service_tier", "above_input_tokens", *PRICE_FIELDS)}
    for i, m in enumerate(version.models):
        if m.model_id in seen:
            raise PricingError(f"sheet {sheet.name!r}: model {m.model_id!r} appears twice")
        seen.add(m.model_id)
        for k in mcols:
            v = i if k == "ordinal" else getattr(m, k)
            mcols[k].append(json.dumps(v) if k == "match_rule" and v is not None else v)
        for r in m.prices:
            for f in PRICE_FIELDS[:-1]:
                if getattr(r, f) is not None and getattr(r, f) > MAX_MTOK:
                    raise PricingError(
                        f"sheet {sheet.name!r}: model {m.model_id!r}: {f} {getattr(r, f)} is above "
                        f"${MAX_MTOK} per 1M tokens; check the units (prices are USD per 1M tokens)"
                    )
            pcols["model_id"].append(m.model_id)
            pcols["service_tier"].append(r.service_tier)
            pcols["above_input_tokens"].append(r.above_input_tokens)
            for f in PRICE_FIELDS:
                pcols[f].append(getattr(r, f))
    dec = pa.decimal128(18, 9)
    mt = pa.table(
        {
            k: (
                pa.array(v, pa.list_(pa.string()))
                if k.endswith("modalities")
                else pa.array(v, pa.int64())
                if k in ("context_window", "max_output_tokens", "ordinal")
                else pa.array(v, pa.bool_())
                if k == "deprecated"
                else pa.array(v, pa.string())
            )
            for k, v in mcols.items()
        }
    )
    pt = pa.table(
        {
            k: (
                pa.array(v, dec)
                if k in PRICE_FIELDS
                else pa.array(v, pa.int64())
                if k == "above_input_tokens"
                else pa.array(v, pa.string())
            )
            for k, v in pcols.items()
        }
    )
    cur.register("_sheet_models_in", mt)
    cur.register("_model_prices_in", pt)
    cur.execute(f"""INSERT INTO sheet_models SELECT ?, {", ".join(mcols)} FROM _sheet_models_in""", [vid])
    cur.execute(
        f"""INSERT INTO model_prices (version_id, {", ".join(pcols)})
                    SELECT ?, {", ".join(pcols)} FROM _model_prices_in""",
        [vid],
    )
    cur.unregister("_sheet_models_in")
    cur.unregister("_model_prices_in")
    cur.execute(UPTO_SQL, [vid, vid])
    return vid


def load_sheet(con: duckdb.DuckDBPyConnection, name: str) -> Sheet:
    """Read a stored sheet (all versions) back into memory."""
    cur = con.cursor()
    row = cur.execute(SHEET_ROW_SQL, [name]).fetchone()
    if row is None:
        if name == DEFAULT_SHEET:
            ensure_default_sheet(con)
            return load_sheet(con, name)
        raise PricingError(f"unknown price sheet {name!r}; known: {', '.join(sheet_names(con)) or 'none'}")
    versions = []
    for vid, eff in cur.execute(SHEET_VERSIONS_SQL, [name]).fetchall():
        models: dict[str, ModelEntry] = {}
        for r in cur.execute(MODELS_SQL, [vid]).fetchall():
            models[r[0]] = ModelEntry(
                model_id=r[0],
                provider=r[1],
                match_regex=r[2],
                match_rule=json.loads(r[3]) if r[3] else None,
                mode=r[4],
                context_window=r[5],
                max_output_tokens=r[6],
                input_modalities=r[7],
                output_modalities=r[8],
                deprecated=r[9],
            )
        for r in cur.execute(PRICES_SQL, [vid]).fetchall():
            models[r[0]].prices.append(PriceRow(r[1], r[2], *r[3:]))
        versions.append(SheetVersion(eff, list(models.values())))
    return Sheet(
        row[0],
        row[1],
        row[2],
        versions,
        providers=json.loads(row[5]) if row[5] else [],
        base_sheet=row[3],
        discount_pct=row[4],
    )


def sheet_names(con) -> list[str]:
    return [r[0] for r in con.cursor().execute("SELECT sheet FROM price_sheets ORDER BY sheet").fetchall()]


# Several dashboard sessions open their first page at once on a new ledger: each would import the
# default sheet and reset the matching rules in its own transaction, and the second commit fails on
# the settings key (`Duplicate key "key: match_rules"`). One import at a time per process.
_DEFAULT_SHEET_LOCK = threading.Lock()


def ensure_default_sheet(con: duckdb.DuckDBPyConnection, in_transaction: bool = False) -> None:
    """Import the installed litellm's map as 'litellm' if absent or from an older litellm."""
    with _DEFAULT_SHEET_LOCK:
        _ensure_default_sheet(con, in_transaction)


def _ensure_default_sheet(con: duckdb.DuckDBPyConnection, in_transaction: bool) -> None:
    have = con.execute(
        "SELECT source FROM price_versions WHERE sheet = ? ORDER BY effective_from DESC LIMIT 1", [DEFAULT_SHEET]
    ).fetchone()
    version = importers.litellm_version()
    if have and f"litellm {version} " in (have[0] or ""):
        return
    sheet = importers.litellm_sheet()
    if have:  # a newer litellm: its prices apply from now on
        sheet.versions[0].effective_from = datetime.now(timezone.utc)
    save_sheet(con, sheet, in_transaction=in_transaction)


def list_sheets(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    ensure_default_sheet(con)
    return query_frame(con.cursor(), LIST_SHEETS_SQL, [get_active_sheet(con)])


def get_active_sheet(con: duckdb.DuckDBPyConnection) -> str:
    """The active sheet: what `llm_calls.cost_usd`, the CLI, budgets and alerts price with. A
    dashboard viewer's choice of sheet is per browser session and never changes it."""
    row = con.cursor().execute(GET_SETTING_SQL, [ACTIVE_KEY]).fetchone()
    return row[0] if row and row[0] else DEFAULT_SHEET


def pricing_sheet(con: duckdb.DuckDBPyConnection, sheet: str | None = None) -> str:
    """The sheet a read prices with: `sheet`, or the active one when None (the CLI's default).
    Checks that it exists, importing the default sheet on first use."""
    name = sheet or get_active_sheet(con)
    if name == DEFAULT_SHEET:
        ensure_default_sheet(con)
    elif name not in sheet_names(con):
        raise PricingError(f"unknown price sheet {name!r}; known: {', '.join(sheet_names(con)) or 'none'}")
    return name


def set_active_sheet(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Make `name` the active sheet: a deliberate act (the CLI's `prices activate`, or the Spend
    page's "Make this the active sheet" button), since it reprices every consumer."""
    if name == DEFAULT_SHEET:
        ensure_default_sheet(con)
    if name not in sheet_names(con):
        raise PricingError(f"unknown price sheet {name!r}; known: {', '.join(sheet_names(con))}")
    con.execute(SET_SETTING_SQL, [ACTIVE_KEY, name])
    refresh_resolutions(con, name)


def delete_sheet(con: duckdb.DuckDBPyConnection, name: str) -> None:
    if name not in sheet_names(con):
        raise PricingError(f"unknown price sheet {name!r}")
    if name == get_active_sheet(con):
        raise PricingError(f"sheet {name!r} is the active sheet; activate another one before deleting it")
    cur = con
    own = _tx(cur, False)
    try:
        for vid, _ in cur.execute(SHEET_VERSIONS_SQL, [name]).fetchall():
            for q in DELETE_VERSION_SQL:
                cur.execute(q, [vid])
        cur.execute("DELETE FROM price_sheets WHERE sheet = ?", [name])
        if own:
            cur.execute("COMMIT")
    except Exception:
        if own:
            cur.execute("ROLLBACK")
        raise


def parse_sheet_bytes(
    con,
    data: bytes,
    filename: str | None = None,
    name: str | None = None,
    effective_from=None,
    base_sheet: str | None = None,
    discount_pct=None,
) -> Sheet:
    """Recognise an uploaded sheet: LiteLLM / Langfuse / genai-prices JSON, YAML or CSV."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PricingError(f"{filename or 'upload'}: not UTF-8 text") from None
    when = importers.parse_when(effective_from) if effective_from not in (None, "") else None
    base = load_sheet(con, base_sheet) if base_sheet else None
    ext = (filename or "").rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    stem = (filename or "").rsplit("/", 1)[-1].rsplit(".", 1)[0] or None
    stripped = text.lstrip()
    if ext == "json" or (not ext and stripped[:1] in "[{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PricingError(f"{filename or 'upload'}: malformed JSON: {exc}") from None
        sheet = _json_sheet(doc, name, filename)
        if when:
            for v in sheet.versions[:1]:
                v.effective_from = when
        return sheet
    if ext in ("yaml", "yml") or (
        not ext and ":" in stripped.split("\n", 1)[0] and "," not in stripped.split("\n", 1)[0]
    ):
        return importers.yaml_sheet(text, name, when, base, discount_pct, source=f"YAML {filename or 'upload'}")
    if ext in ("csv", "") or "," in stripped.split("\n", 1)[0]:
        sheet_name = name or stem
        if not sheet_name:
            raise PricingError("give the sheet a name")
        return importers.csv_sheet(text, sheet_name, when, base, discount_pct, source=f"CSV {filename or 'upload'}")
    raise PricingError(f"{filename}: unrecognised sheet format (use .csv, .yaml or .json)")


def _json_sheet(doc, name, filename) -> Sheet:
    src = f"{filename or 'upload'}"
    if isinstance(doc, dict) and any(isinstance(v, dict) and "litellm_provider" in v for v in doc.values()):
        return importers.litellm_sheet(name or "litellm-upload", doc, source=f"LiteLLM map {src}")
    if isinstance(doc, list) and doc and all(isinstance(m, dict) and "matchPattern" in m for m in doc):
        return importers.langfuse_sheet(doc, name or "langfuse", source=f"Langfuse {src}")
    if isinstance(doc, list) and doc and all(isinstance(p, dict) and "models" in p for p in doc):
        return importers.genai_prices_sheet(doc, name or "genai-prices", source=f"genai-prices {src}")
    raise PricingError(f"{src}: JSON is neither a LiteLLM map, a Langfuse price list nor genai-prices data")


def import_sheet_bytes(
    con,
    data: bytes,
    filename: str | None = None,
    name: str | None = None,
    effective_from=None,
    base_sheet: str | None = None,
    discount_pct=None,
) -> str:
    """Parse and store an uploaded sheet; returns its name."""
    sheet = parse_sheet_bytes(con, data, filename, name, effective_from, base_sheet, discount_pct)
    save_sheet(con, sheet)
    return sheet.name


def import_file(con, path, name: str | None = None, **kw) -> str:
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise PricingError(f"{p}: no such file")
    return import_sheet_bytes(con, p.read_bytes(), p.name, name, **kw)


UNKNOWN_MODELS_SQL = """
SELECT coalesce(nullif(c.response_model, ''), c.request_model) AS model, c.provider, count(*) AS calls,
       sum(c.input_tokens) AS input_tokens, sum(c.output_tokens) AS output_tokens,
       min(c.start_time) AS first_seen, max(c.start_time) AS last_seen
FROM ({priced}) c
WHERE c.price_missing
GROUP BY ALL ORDER BY calls DESC, model
"""


def unknown_models(con: duckdb.DuckDBPyConnection, sheet: str | None = None) -> pd.DataFrame:
    """Models seen in calls that `sheet` (default: the active one) cannot price."""
    from llmledger.pricing.engine import priced_calls_sql

    sheet = pricing_sheet(con, sheet)
    refresh_resolutions(con, sheet)
    sql, params = priced_calls_sql(sheet)
    return query_frame(con.cursor(), UNKNOWN_MODELS_SQL.format(priced=sql), params)


def model_catalog(con: duckdb.DuckDBPyConnection, sheet: str | None = None) -> pd.DataFrame:
    """Latest version's models with standard base prices and capabilities (for planning pages)."""
    sheet = sheet or get_active_sheet(con)
    if sheet == DEFAULT_SHEET:
        ensure_default_sheet(con)
    return query_frame(con.cursor(), CATALOG_SQL, [sheet])


CATALOG_SQL = """
WITH v AS (SELECT arg_max(version_id, effective_from) AS version_id FROM price_versions WHERE sheet = ?)
SELECT m.model_id, m.provider, m.mode, m.context_window, m.max_output_tokens, m.input_modalities,
       m.output_modalities, p.input_mtok, p.output_mtok, p.cache_read_mtok, p.cache_write_mtok,
       p.reasoning_mtok, p.request_usd,
       EXISTS (SELECT 1 FROM model_prices b WHERE b.version_id = m.version_id AND b.model_id = m.model_id
               AND b.service_tier = 'batch') AS has_batch,
       EXISTS (SELECT 1 FROM model_prices b WHERE b.version_id = m.version_id AND b.model_id = m.model_id
               AND b.above_input_tokens > 0) AS has_long_context_tier
FROM v JOIN sheet_models m ON m.version_id = v.version_id
LEFT JOIN model_prices p ON p.version_id = m.version_id AND p.model_id = m.model_id
     AND p.service_tier = 'standard' AND p.above_input_tokens = 0
ORDER BY m.ordinal
"""
