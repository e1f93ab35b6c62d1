"""Attribution: which feature, team, user, session, service and environment a call belongs to.

A call takes each dimension from the span itself, else from its nearest ancestor in the same
trace that carries it, else from its resource. The attribute keys are rules stored in DuckDB
(`attribution_rules`), editable on the Ingest page. A rule may name a field inside a JSON-valued
attribute (OpenInference puts free-form `metadata` there as a JSON string).

Values found on each span are stored in `attribution_dims` at load time (one row per span and
level, a column per dimension; resource-level values only for call spans, the only place they are
read); `resolve()` walks ancestors in SQL for the traces a batch touched, so a parent that arrives
in a later batch still counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

import duckdb

# (dim, attribute key, JSON field inside it or '', level 'span'|'resource'|'any', priority: lower wins)
DEFAULT_RULES: list[tuple[str, str, str, str, int]] = [
    # feature
    ("feature", "app.feature", "", "any", 10),
    ("feature", "feature", "", "any", 20),
    ("feature", "llmledger.feature", "", "any", 5),
    ("feature", "traceloop.association.properties.feature", "", "span", 30),
    ("feature", "metadata", "feature", "span", 40),
    ("feature", "langfuse.trace.metadata.feature", "", "span", 45),
    ("feature", "metadata.feature", "", "span", 46),  # LiteLLM flattens request metadata to metadata.*
    ("feature", "langfuse.trace.name", "", "span", 70),
    ("feature", "ai.telemetry.functionId", "", "span", 60),
    ("feature", "traceloop.workflow.name", "", "span", 80),
    ("feature", "gen_ai.agent.name", "", "span", 85),  # the agent as a feature when nothing names one
    # team
    ("team", "app.team", "", "any", 10),
    ("team", "team", "", "any", 20),
    ("team", "llmledger.team", "", "any", 5),
    ("team", "traceloop.association.properties.team", "", "span", 30),
    ("team", "metadata", "team", "span", 40),
    ("team", "langfuse.trace.metadata.team", "", "span", 45),
    ("team", "metadata.user_api_key_team_id", "", "span", 50),
    ("team", "metadata.user_api_key_team_alias", "", "span", 55),
    ("team", "ai.telemetry.metadata.team", "", "span", 60),
    # user
    ("user_id", "user.id", "", "any", 10),
    ("user_id", "enduser.id", "", "any", 20),
    ("user_id", "langfuse.user.id", "", "span", 30),
    ("user_id", "traceloop.association.properties.user_id", "", "span", 40),
    ("user_id", "metadata", "user_id", "span", 50),
    ("user_id", "ai.telemetry.metadata.userId", "", "span", 60),
    ("user_id", "ai.telemetry.metadata.user_id", "", "span", 61),
    ("user_id", "metadata.user_api_key_end_user_id", "", "span", 65),  # LiteLLM: the request's `user`
    ("user_id", "metadata.user_api_key_user_id", "", "span", 70),
    # session
    ("session_id", "session.id", "", "any", 10),
    ("session_id", "gen_ai.conversation.id", "", "span", 20),
    ("session_id", "langfuse.session.id", "", "span", 30),
    ("session_id", "traceloop.association.properties.session_id", "", "span", 40),
    ("session_id", "metadata", "session_id", "span", 50),
    ("session_id", "ai.telemetry.metadata.sessionId", "", "span", 60),
    ("session_id", "ai.telemetry.metadata.session_id", "", "span", 61),
    ("session_id", "langsmith.metadata.session_id", "", "span", 65),
    # service
    ("service", "service.name", "", "resource", 10),
    ("service", "service.namespace", "", "resource", 20),
    # environment
    ("environment", "deployment.environment.name", "", "any", 10),
    ("environment", "deployment.environment", "", "any", 20),
    ("environment", "langfuse.environment", "", "span", 30),
    ("environment", "gen_ai.environment", "", "span", 35),  # OpenLIT
    ("environment", "environment", "", "any", 40),
]


@dataclass(frozen=True)
class Rule:
    dim: str
    key: str
    json_field: str
    level: str
    priority: int


def load_rules(con: duckdb.DuckDBPyConnection) -> list[Rule]:
    rows = (
        con.cursor()
        .execute(
            "SELECT dim, key, json_field, level, priority FROM attribution_rules WHERE enabled ORDER BY priority, key"
        )
        .fetchall()
    )
    return [Rule(*r) for r in rows]


class Extractor:
    """Applies rules to one attribute dict; built once per batch."""

    def __init__(self, rules: Iterable[Rule]):
        rules = sorted(rules, key=lambda r: r.priority)
        self.span_rules = [r for r in rules if r.level in ("span", "any")]
        self.resource_rules = [r for r in rules if r.level in ("resource", "any")]

    @staticmethod
    def _apply(rules: list[Rule], attrs: dict[str, Any]) -> dict[str, str]:
        found: dict[str, str] = {}
        for r in rules:
            if r.dim in found or r.key not in attrs:
                continue
            v = attrs[r.key]
            if r.json_field:
                if isinstance(v, str):
                    try:
                        v = json.loads(v)
                    except ValueError:
                        continue
                v = v.get(r.json_field) if isinstance(v, dict) else None
            if v is None or v == "" or isinstance(v, (dict, list)):
                continue
            found[r.dim] = str(v)
        return found

    def span(self, attrs: dict[str, Any]) -> dict[str, str]:
        return self._apply(self.span_rules, attrs)

    def resource(self, attrs: dict[str, Any]) -> dict[str, str]:
        return self._apply(self.resource_rules, attrs)


_DIMS = ("feature", "team", "user_id", "session_id", "service", "environment")

RESOLVE_SQL = """
WITH RECURSIVE
targets AS (
    SELECT c.trace_id, c.span_id FROM calls c SEMI JOIN touched t USING (trace_id) WHERE c.load_seq >= {{since}}
),
tree AS (  -- the touched traces' spans only: the walk below never joins the whole table
    SELECT trace_id, span_id, parent_span_id FROM spans SEMI JOIN touched USING (trace_id)
    WHERE parent_span_id IS NOT NULL AND load_seq >= {{since}}
),
dims AS (SELECT * FROM attribution_dims SEMI JOIN touched USING (trace_id) WHERE load_seq >= {{since}}),
anc(trace_id, call_id, cur, depth) AS (
    SELECT trace_id, span_id, span_id, 0 FROM targets
    UNION ALL
    SELECT a.trace_id, a.call_id, s.parent_span_id, a.depth + 1
    FROM anc a JOIN tree s ON s.trace_id = a.trace_id AND s.span_id = a.cur
    WHERE a.depth < 64
),
candidates AS (
    SELECT a.trace_id, a.call_id, a.depth AS rank, {cols}
    FROM anc a JOIN dims d ON d.trace_id = a.trace_id AND d.span_id = a.cur AND d.level = 'span'
    UNION ALL
    SELECT t.trace_id, t.span_id, 1000 AS rank, {cols}
    FROM targets t JOIN dims d ON d.trace_id = t.trace_id AND d.span_id = t.span_id AND d.level = 'resource'
),
wide AS (
    SELECT trace_id, call_id, {best}
    FROM candidates GROUP BY ALL
)
UPDATE calls SET {sets}
FROM wide w
WHERE calls.trace_id = w.trace_id AND calls.span_id = w.call_id AND calls.load_seq >= {{since}}
""".format(
    cols=", ".join(f"d.{d}" for d in _DIMS),
    best=", ".join(f"arg_min({d}, rank) FILTER (WHERE {d} IS NOT NULL) AS {d}" for d in _DIMS),
    sets=", ".join(f"{d} = w.{d}" for d in _DIMS),
)


def resolve(cur: duckdb.DuckDBPyConnection, trace_ids: Iterable[str] | None = None, since: int = 0) -> None:
    """Recompute the attribution columns of `calls` for the given traces (all when None).

    Runs on `cur` itself (not a new cursor) so it joins the caller's transaction. `since`: no
    stored row of these traces has a smaller load number (the loader knows; see m007_load_seq).
    """
    if trace_ids is None:
        cur.execute("CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT trace_id FROM calls")
    else:
        ids = sorted(set(trace_ids))
        cur.execute("CREATE OR REPLACE TEMP TABLE touched (trace_id VARCHAR)")
        if not ids:
            return
        import pyarrow as pa

        touched_arrow = pa.table({"trace_id": ids})  # noqa: F841 - read by DuckDB's replacement scan
        cur.execute("INSERT INTO touched SELECT trace_id FROM touched_arrow")
    cur.execute("DROP TABLE IF EXISTS touched_arrow")
    cur.execute(RESOLVE_SQL.replace("{since}", str(int(since))))
    cur.execute("DROP TABLE IF EXISTS touched")


def dims_row(found: dict[str, str]) -> tuple:
    """A rule match as the dimension columns of `attribution_dims`, in _DIMS order."""
    return tuple(found.get(d) for d in _DIMS)


def reextract_all(con: duckdb.DuckDBPyConnection) -> int:
    """Re-apply the current rules to every stored span (after the rules change); returns calls updated."""
    ex = Extractor(load_rules(con))
    cur = con.cursor()
    rows = cur.execute(
        """SELECT s.trace_id, s.span_id, s.attributes, s.resource, c.span_id IS NOT NULL, s.load_seq
           FROM spans s LEFT JOIN calls c USING (trace_id, span_id)"""
    ).fetchall()
    dims = []
    for trace_id, span_id, attrs, resource, is_call, seq in rows:
        found = ex.span(json.loads(attrs) if attrs else {})
        if found:
            dims.append((trace_id, span_id, "span", *dims_row(found), seq))
        if is_call:
            found = ex.resource(json.loads(resource) if resource else {})
            if found:
                dims.append((trace_id, span_id, "resource", *dims_row(found), seq))
    cur.execute("BEGIN")
    try:
        cur.execute("DELETE FROM attribution_dims")
        if dims:
            import pandas as pd

            df = pd.DataFrame(dims, columns=["trace_id", "span_id", "level", *_DIMS, "load_seq"])  # noqa: F841
            # Each row keeps its span's load number: later loads skip rows below their traces' first.
            cur.execute(
                f"INSERT INTO attribution_dims (trace_id, span_id, level, {', '.join(_DIMS)}, load_seq) "
                "SELECT * FROM df"
            )
        cur.execute(
            "UPDATE calls SET feature=NULL, team=NULL, user_id=NULL, session_id=NULL, service=NULL, environment=NULL"
        )
        resolve(cur, None)
        cur.execute("COMMIT")
    except Exception:
        cur.execute("ROLLBACK")
        raise
    return cur.execute("SELECT count(*) FROM calls").fetchone()[0]
