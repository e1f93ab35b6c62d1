"""Versioned requirement sets in DuckDB, and their Markdown / JSON exports.

Every save appends version n+1 of a plan; nothing is overwritten, so any two versions can be
compared later. Duplicating copies one version into a new plan as its version 1.
"""

from __future__ import annotations

import dataclasses

import duckdb
import pandas as pd

from llmledger.errors import PlanningError
from llmledger.planning import importer
from llmledger.planning.requirements import GROUPS, LOCK_IN, PRIVACY, RequirementSet, UseCase, use_case_fields
from llmledger.planning.validation import check

NEXT_VERSION_SQL = "SELECT coalesce(max(version), 0) + 1 FROM plan_versions WHERE plan = ?"
INSERT_SQL = "INSERT INTO plan_versions (plan, version, note, body) VALUES (?, ?, ?, ?)"
LOAD_SQL = "SELECT version, body FROM plan_versions WHERE plan = ? AND version = ?"
LATEST_SQL = "SELECT version, body FROM plan_versions WHERE plan = ? ORDER BY version DESC LIMIT 1"
PLANS_SQL = """
    SELECT plan, max(version) AS versions, max(saved_at) AS last_saved
    FROM plan_versions GROUP BY plan ORDER BY plan
"""
VERSIONS_SQL = """
    SELECT version, saved_at, note, json_array_length(body -> '$.use_cases') AS use_cases
    FROM plan_versions WHERE plan = ? ORDER BY version DESC
"""
DELETE_SQL = "DELETE FROM plan_versions WHERE plan = ?"


def save(con: duckdb.DuckDBPyConnection, rs: RequirementSet, note: str = "", prices=None) -> int:
    """Validate and append a new version; returns its number (and sets rs.version)."""
    check(rs, prices)
    name = rs.name.strip()
    cur = con.cursor()
    cur.execute("BEGIN")
    try:
        version = cur.execute(NEXT_VERSION_SQL, [name]).fetchone()[0]
        body = dataclasses.replace(rs, name=name, version=version).to_json(indent=None)
        cur.execute(INSERT_SQL, [name, version, note, body])
        cur.execute("COMMIT")
    except duckdb.Error as exc:
        cur.execute("ROLLBACK")
        raise PlanningError(f"could not save plan '{name}': {exc}") from exc
    rs.version = version
    return version


def load(con: duckdb.DuckDBPyConnection, plan: str, version: int | None = None) -> RequirementSet:
    cur = con.cursor()
    row = (cur.execute(LATEST_SQL, [plan]) if version is None else cur.execute(LOAD_SQL, [plan, version])).fetchone()
    if row is None:
        what = f"plan '{plan}'" if version is None else f"version {version} of plan '{plan}'"
        raise PlanningError(f"{what} does not exist")
    rs = RequirementSet.from_json(row[1])
    rs.version = row[0]
    return rs


def list_plans(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.cursor().execute(PLANS_SQL).df()


def list_versions(con: duckdb.DuckDBPyConnection, plan: str) -> pd.DataFrame:
    return con.cursor().execute(VERSIONS_SQL, [plan]).df()


def duplicate(con: duckdb.DuckDBPyConnection, plan: str, new_name: str, version: int | None = None) -> RequirementSet:
    new_name = new_name.strip()
    if not new_name:
        raise PlanningError("the copy needs a name")
    if not list_versions(con, new_name).empty:
        raise PlanningError(f"a plan called '{new_name}' already exists")
    rs = load(con, plan, version)
    rs.name = new_name
    save(con, rs, note=f"copied from {plan} v{rs.version}")
    return rs


def delete(con: duckdb.DuckDBPyConnection, plan: str) -> None:
    con.cursor().execute(DELETE_SQL, [plan])


def _flatten(rs: RequirementSet) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in rs.to_dict().items():
        if k in ("use_cases", "version"):
            continue
        out[f"plan.{k}"] = v
    for uc in rs.use_cases:
        for k, v in dataclasses.asdict(uc).items():
            if k != "name":
                out[f"{uc.name}.{k}"] = v
    return out


def compare(a: RequirementSet, b: RequirementSet) -> pd.DataFrame:
    """Every field that differs between two versions: use case, field, value in a, value in b."""
    fa, fb = _flatten(a), _flatten(b)
    rows = []
    only_a = {u.name for u in a.use_cases} - {u.name for u in b.use_cases}
    only_b = {u.name for u in b.use_cases} - {u.name for u in a.use_cases}
    for n in sorted(only_a):
        rows.append({"where": n, "field": "(use case)", "a": "present", "b": "removed"})
    for n in sorted(only_b):
        rows.append({"where": n, "field": "(use case)", "a": "absent", "b": "added"})
    for key in list(dict.fromkeys(list(fa) + list(fb))):
        where, fld = key.split(".", 1) if key.startswith("plan.") else key.rsplit(".", 1)
        if where in only_a or where in only_b:
            continue
        va, vb = fa.get(key), fb.get(key)
        if va != vb:
            rows.append({"where": where, "field": fld, "a": _show(va), "b": _show(vb)})
    return pd.DataFrame(rows, columns=["where", "field", "a", "b"])


def _show(v) -> str:
    if v is None or v == "" or v == []:
        return "—"
    if isinstance(v, list):
        return ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() and abs(v) >= 1000 else f"{v:,.6g}"
    return str(v)


def to_json(rs: RequirementSet) -> str:
    return rs.to_json(indent=2)


def to_markdown(rs: RequirementSet) -> str:
    lines = [f"# {rs.name}" + (f" (v{rs.version})" if rs.version else ""), ""]
    if rs.description:
        lines += [rs.description, ""]
    lines += [
        f"- Start month: {rs.start_month}",
        f"- Horizon: {rs.horizon_months} months",
        f"- Price sheet: {rs.sheet or 'active sheet'}",
        f"- Candidate models: {', '.join(rs.candidates) or '—'}",
        "",
    ]
    choices = {"privacy": PRIVACY, "lock_in": LOCK_IN}
    for uc in rs.use_cases:
        lines += [f"## {uc.name}", ""]
        for group in GROUPS:
            lines += [f"### {group}", "", "| Requirement | Value |", "| --- | --- |"]
            for f in use_case_fields(group):
                if f.name == "name":
                    continue
                v = getattr(uc, f.name)
                shown = choices[f.name].get(v, v) if f.name in choices else _show(v)
                unit = f.metadata["unit"]
                if unit and shown != "—" and unit != "0–1" and f.metadata["kind"] != "samples":
                    shown = f"{shown} {unit}"
                shown = str(shown).replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {f.metadata['label']} | {shown} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def from_json_text(text: str) -> RequirementSet:
    """Import an exported JSON document (raises PlanningError on anything that is not a plan)."""
    return importer.plan_from_text(text)


def from_json_bytes(data: bytes) -> RequirementSet:
    """Import an uploaded export's bytes (PlanningError for binary, non-JSON or non-plan files)."""
    return importer.plan_from_bytes(data)


__all__ = [
    "save",
    "load",
    "list_plans",
    "list_versions",
    "duplicate",
    "delete",
    "compare",
    "to_json",
    "to_markdown",
    "from_json_text",
    "from_json_bytes",
    "UseCase",
]
