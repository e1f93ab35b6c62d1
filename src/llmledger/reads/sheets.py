"""Reads about the stored price sheets: versions, the bundled sheets, how the models seen in
calls are priced under a sheet (which entry, what kind of match, through whom), and the cache
key the pages use."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from llmledger.pricing.engine import query_frame
from llmledger.pricing.matching import Matcher, route_note, route_of

DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "pricing"
#: Sheets shipped in data/pricing (see their LICENSE files): name -> (file, what it is).
BUNDLED = {
    "langfuse": (DATA_DIR / "langfuse" / "default-model-prices.json", "Langfuse's default model prices (MIT)"),
    "genai-prices": (DATA_DIR / "genai-prices" / "data.json", "pydantic genai-prices: 36 providers (MIT)"),
}

VERSIONS_MARKER_SQL = """
SELECT count(*)::VARCHAR || '/' || coalesce(max(imported_at)::VARCHAR, '') FROM price_versions WHERE sheet = ?
"""
SHEET_VERSIONS_SQL = """
SELECT v.sheet, v.version_id, v.effective_from, v.imported_at, v.source,
       (SELECT count(*) FROM sheet_models m WHERE m.version_id = v.version_id) AS models
FROM price_versions v WHERE (? IS NULL OR v.sheet = ?)
ORDER BY v.sheet, v.effective_from DESC
"""
# How each (request model, response model, provider) seen in calls resolves under the sheet's
# latest version, with the calls that carry it. One scan of calls, grouped first.
CALL_MATCHES_SQL = """
WITH v AS (SELECT arg_max(version_id, effective_from) AS version_id FROM price_versions WHERE sheet = ?),
c AS (
    SELECT coalesce(request_model, '') AS rq, coalesce(response_model, '') AS rs, coalesce(provider, '') AS pv,
           count(*) AS calls
    FROM calls GROUP BY ALL
)
SELECT coalesce(nullif(c.rs, ''), nullif(c.rq, ''), '(no model)') AS model, c.pv AS call_provider,
       r.model_id AS priced_as, coalesce(r.match_kind, 'unresolved') AS match_kind, m.provider AS sold_by,
       sum(c.calls) AS calls
FROM c CROSS JOIN v
LEFT JOIN price_resolution r ON r.version_id = v.version_id AND r.request_model = c.rq
     AND r.response_model = c.rs AND r.provider = c.pv
LEFT JOIN sheet_models m ON m.version_id = r.version_id AND m.model_id = r.model_id
GROUP BY ALL ORDER BY calls DESC, model
"""
MATCH_COLUMNS = ["model", "call_provider", "priced_as", "match_kind", "route", "sold_by", "calls", "note"]


def versions_marker(con, sheet: str) -> str:
    """A short text that changes whenever a version of `sheet` is imported (a cache key)."""
    return con.execute(VERSIONS_MARKER_SQL, [sheet]).fetchone()[0]


def sheet_versions(con, sheet: str | None = None) -> pd.DataFrame:
    """Every stored version (of one sheet, or of all): when it takes effect, when it was imported,
    where it came from and how many models it prices."""
    return query_frame(con.cursor(), SHEET_VERSIONS_SQL, [sheet, sheet])


def call_matches(con, sheet: str) -> pd.DataFrame:
    """Models seen in calls and how `sheet` prices them: the entry, the match kind and the route
    (first-party, cloud or reseller), with a note where it is not the provider's own entry.
    Resolutions are refreshed first (the loader keeps them current for the active sheet)."""
    from llmledger.pricing.matching import refresh_resolutions

    refresh_resolutions(con, sheet)
    df = query_frame(con.cursor(), CALL_MATCHES_SQL, [sheet])
    if df.empty:
        return pd.DataFrame(columns=MATCH_COLUMNS)
    df["route"] = [route_of(p, s) if isinstance(p, str) else None for p, s in zip(df["priced_as"], df["sold_by"])]
    df["note"] = [
        ("no price in this sheet" if r is None else route_note(r, s)) for r, s in zip(df["route"], df["sold_by"])
    ]
    df["calls"] = df["calls"].astype("int64")
    return df[MATCH_COLUMNS]


def not_first_party(matches: pd.DataFrame) -> pd.DataFrame:
    """The rows priced through a cloud or a reseller (what the data-quality sections flag)."""
    return matches[matches["route"].isin(["cloud", "reseller"])].reset_index(drop=True)


def lookup(sheet, name: str, provider: str | None = None) -> dict:
    """Which entry of `sheet` (a loaded pricing Sheet) prices `name`, and why: the match, its
    route, the entry's prices and limits, and every other candidate."""
    matcher = Matcher(sheet)
    hit = matcher.resolve(name, provider or None)
    out = {"match": hit, "candidates": pd.DataFrame(matcher.candidates(name, provider or None)), "entry": None}
    if hit is not None:
        e = matcher.entry[hit.model_id]
        out["entry"] = e
        out["prices"] = pd.DataFrame(
            [
                {"tier": r.service_tier, "above_input_tokens": r.above_input_tokens}
                | {
                    k: (float(v) if v is not None else None)
                    for k, v in vars(r).items()
                    if k.endswith(("_mtok", "_usd"))
                }
                for r in e.prices
            ]
        )
    return out
