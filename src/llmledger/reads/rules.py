"""The attribution rules as the Ingest page edits them: read, validate, replace, defaults.

The rules table is telemetry's (telemetry/schema.py); saving replaces every rule in one
transaction, and the caller re-applies them (telemetry.attribution.reextract_all).
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from llmledger.errors import StoreError
from llmledger.store.migrations import DIMENSIONS as RULE_DIMENSIONS
from llmledger.telemetry.attribution import DEFAULT_RULES

RULE_LEVELS = ("any", "span", "resource")


class RuleError(StoreError):
    title = "Invalid attribution rule"


def _df(con, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


RULE_COLUMNS = ["dim", "key", "json_field", "level", "priority", "enabled"]


def attribution_rules(con) -> pd.DataFrame:
    return _df(con, f"SELECT {', '.join(RULE_COLUMNS)} FROM attribution_rules ORDER BY dim, priority, key")


def validate_rules(rows: Iterable[dict[str, Any]]) -> list[tuple]:
    """Normalise editor rows to tuples; raise RuleError naming the first bad row (1-based)."""
    out: list[tuple] = []
    seen: set[tuple[str, str, str]] = set()
    for n, r in enumerate(rows, 1):
        dim = str(r.get("dim") or "").strip()
        key = str(r.get("key") or "").strip()
        if not dim and not key:
            continue  # an empty row the editor added
        field_ = r.get("json_field")
        field_ = "" if field_ is None or (isinstance(field_, float) and pd.isna(field_)) else str(field_).strip()
        level = str(r.get("level") or "any").strip()
        prio = r.get("priority")
        enabled = r.get("enabled")
        if dim not in RULE_DIMENSIONS:
            raise RuleError(f"row {n}: dimension {dim!r} is not one of {', '.join(RULE_DIMENSIONS)}")
        if not key:
            raise RuleError(f"row {n}: the attribute key is empty")
        if level not in RULE_LEVELS:
            raise RuleError(f"row {n}: level {level!r} is not one of {', '.join(RULE_LEVELS)}")
        try:
            prio = 100 if prio is None or pd.isna(prio) else int(prio)
        except (TypeError, ValueError):
            raise RuleError(f"row {n}: priority {prio!r} is not a whole number") from None
        if (dim, key, field_) in seen:
            raise RuleError(f"row {n}: duplicate rule for {dim} / {key} / {field_ or '-'}")
        seen.add((dim, key, field_))
        out.append((dim, key, field_, level, prio, True if enabled is None or pd.isna(enabled) else bool(enabled)))
    if not out:
        raise RuleError("at least one attribution rule is needed")
    return out


def save_attribution_rules(con, rows: Iterable[dict[str, Any]]) -> int:
    """Replace all rules in one transaction; returns the number saved. Callers re-apply them
    (telemetry.attribution.reextract_all)."""
    rules = validate_rules(rows)
    con.execute("BEGIN")
    try:
        con.execute("DELETE FROM attribution_rules")
        con.executemany(
            f"INSERT INTO attribution_rules ({', '.join(RULE_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
            [list(r) for r in rules],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return len(rules)


def default_attribution_rules() -> list[dict[str, Any]]:
    return [dict(zip(RULE_COLUMNS, (*r, True))) for r in DEFAULT_RULES]
