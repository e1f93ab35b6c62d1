"""Anomaly monitors: what budgets do not catch, each with a severity, a window and a cool-down.

- `cost_spike`: per feature, model or user, the actual cost of the last `window_hours` against the
  same window on the same weekday of the previous `weeks` weeks (a robust seasonal baseline: their
  median and MAD). Fires when the cost is above median + `threshold` x 1.4826 x MAD and at least
  `min_usd` above the median.
- `unpriced_model`: a model whose calls the active sheet cannot price appears in the window and had
  no calls in the `weeks` weeks before it.
- `missing_usage` / `error_rate`: the share of calls with missing usage (or failed) in the window
  rises at least `threshold` percentage points above the same share over the previous 7 days
  (with at least `min_calls` calls in the window).

Every monitor may have a scope, as budgets do (feature, team, user, service, environment, model,
provider; empty = every call): it then watches only those calls.

A monitor fires once per member and cool-down: its event's period runs `cooldown_hours` from the hour
it fired, and nothing fires for that member again before it ends. Events, states and deliveries are
those of budgets (evaluate.check records both). Stored in `alert_rules` with kind 'monitor'.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from llmledger.alerts import budgets as bmod
from llmledger.alerts import reads
from llmledger.alerts.budgets import BudgetError

KINDS = ("cost_spike", "unpriced_model", "missing_usage", "error_rate")
SPIKE_DIMS = {"feature": "feature", "model": "coalesce(request_model, response_model)", "user": "user_id"}
SEVERITIES = ("info", "warning", "critical")
DEFAULTS = {"cost_spike": 4.0, "unpriced_model": 0.0, "missing_usage": 10.0, "error_rate": 5.0}


@dataclass(frozen=True)
class Monitor:
    name: str
    kind: str
    dim: str = "feature"  # cost_spike only
    window_hours: int = 24
    threshold: float = 4.0  # MADs (cost_spike) or percentage points (rates)
    weeks: int = 4
    min_usd: float = 1.0
    min_calls: int = 20
    severity: str = "warning"
    cooldown_hours: int = 24
    notify: tuple[str, ...] = ()
    enabled: bool = True
    scope: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def build(
        cls,
        name: Any,
        kind: Any,
        *,
        dim: Any = "feature",
        window_hours: Any = 24,
        threshold: Any = None,
        weeks: Any = 4,
        min_usd: Any = 1.0,
        min_calls: Any = 20,
        severity: Any = "warning",
        cooldown_hours: Any = 24,
        notify=(),
        enabled: bool = True,
        where: Any = None,
    ) -> "Monitor":
        try:
            name = bmod._name(name)
            scope = bmod._scope(where)
        except BudgetError as exc:
            raise BudgetError(str(exc).replace("a budget", "a monitor"), "Invalid monitor") from None
        if kind not in KINDS:
            raise BudgetError(f"unknown monitor kind {kind!r}; expected one of {', '.join(KINDS)}", "Invalid monitor")
        if kind == "cost_spike" and dim not in SPIKE_DIMS:
            raise BudgetError(f"a cost spike monitor watches feature, model or user, not {dim!r}", "Invalid monitor")
        if severity not in SEVERITIES:
            raise BudgetError(
                f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}", "Invalid monitor"
            )

        def num(v, what, lo, hi, cast=float):
            try:
                x = cast(v)
            except (TypeError, ValueError):
                raise BudgetError(f"{what} {v!r} is not a number", "Invalid monitor") from None
            if not lo <= x <= hi:
                raise BudgetError(f"{what} must be between {lo} and {hi} (got {v})", "Invalid monitor")
            return x

        return cls(
            name=name,
            kind=kind,
            dim=dim if kind == "cost_spike" else "",
            window_hours=num(window_hours, "window (hours)", 1, 24 * 7, int),
            threshold=num(DEFAULTS[kind] if threshold in (None, "") else threshold, "threshold", 0, 1000),
            weeks=num(weeks, "weeks of baseline", 1, 12, int),
            min_usd=num(min_usd, "minimum USD", 0, 1e9),
            min_calls=num(min_calls, "minimum calls", 1, 10**9, int),
            severity=severity,
            cooldown_hours=num(cooldown_hours, "cool-down (hours)", 1, 24 * 31, int),
            notify=bmod._urls(notify),
            enabled=bool(enabled),
            scope=scope,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["notify"] = list(self.notify)
        d["scope"] = {dim: list(values) for dim, values in self.scope}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Monitor":
        return cls.build(
            d["name"],
            d["kind"],
            dim=d.get("dim") or "feature",
            window_hours=d.get("window_hours", 24),
            threshold=d.get("threshold"),
            weeks=d.get("weeks", 4),
            min_usd=d.get("min_usd", 1.0),
            min_calls=d.get("min_calls", 20),
            severity=d.get("severity", "warning"),
            cooldown_hours=d.get("cooldown_hours", 24),
            notify=d.get("notify", ()),
            enabled=d.get("enabled", True),
            where=d.get("scope") or {},
        )

    def scope_text(self) -> str:
        return ", ".join(f"{d}={'|'.join(v)}" for d, v in self.scope) or "all calls"

    def describe(self) -> str:
        text = self._describe()
        return text if not self.scope else f"{text} · {self.scope_text()}"

    def _describe(self) -> str:
        w = f"last {self.window_hours} h"
        if self.kind == "cost_spike":
            return f"cost spike per {self.dim} ({w} vs same weekday, {self.weeks} weeks; > {self.threshold:g} MAD)"
        if self.kind == "unpriced_model":
            return f"a model with no price appears ({w})"
        what = "missing usage" if self.kind == "missing_usage" else "error rate"
        return f"{what} rises {self.threshold:g} pp over the previous 7 days ({w})"


@dataclass(frozen=True)
class StoredMonitor:
    rule_id: int
    monitor: Monitor


def save(con, m: Monitor, replace: str | None = None) -> int:
    cur = con.cursor()
    try:
        clash = cur.execute("SELECT rule_id, kind FROM alert_rules WHERE name = ?", [m.name]).fetchone()
        body = json.dumps(m.to_dict())
        if replace is None:
            if clash:
                raise BudgetError(f"a {clash[1]} named {m.name!r} already exists", "Invalid monitor")
            cur.execute(
                "INSERT INTO alert_rules (name, kind, body, enabled) VALUES (?, 'monitor', ?, ?)",
                [m.name, body, m.enabled],
            )
            return int(cur.execute("SELECT rule_id FROM alert_rules WHERE name = ?", [m.name]).fetchone()[0])
        old = cur.execute("SELECT rule_id FROM alert_rules WHERE kind = 'monitor' AND name = ?", [replace]).fetchone()
        if not old:
            raise BudgetError(f"no monitor named {replace!r}", "Invalid monitor")
        if clash and clash[0] != old[0]:
            raise BudgetError(f"a {clash[1]} named {m.name!r} already exists", "Invalid monitor")
        cur.execute(
            "UPDATE alert_rules SET name = ?, body = ?, enabled = ?, updated_at = now() WHERE rule_id = ?",
            [m.name, body, m.enabled, old[0]],
        )
        return int(old[0])
    finally:
        cur.close()


def load_all(con) -> list[StoredMonitor]:
    cur = con.cursor()
    try:
        rows = cur.execute("SELECT rule_id, body FROM alert_rules WHERE kind = 'monitor' ORDER BY name").fetchall()
    finally:
        cur.close()
    return [StoredMonitor(int(rid), Monitor.from_dict(json.loads(body))) for rid, body in rows]


def get(con, name: str) -> StoredMonitor:
    for sm in load_all(con):
        if sm.monitor.name == name:
            return sm
    raise BudgetError(f"no monitor named {name!r}", "Invalid monitor")


def remove(con, name: str) -> None:
    cur = con.cursor()
    try:
        if not cur.execute("SELECT 1 FROM alert_rules WHERE kind = 'monitor' AND name = ?", [name]).fetchone():
            raise BudgetError(f"no monitor named {name!r}", "Invalid monitor")
        cur.execute("DELETE FROM alert_rules WHERE kind = 'monitor' AND name = ?", [name])
    finally:
        cur.close()


# ------------------------------------------------------------------ evaluation

SPIKE_SQL = """
SELECT {dim} AS member, w, sum(actual_cost_usd)::DOUBLE AS usd
FROM (SELECT *, CASE {cases} END AS w FROM {table} WHERE start_time >= ? AND start_time < ? AND {pred})
WHERE w IS NOT NULL AND {dim} IS NOT NULL
GROUP BY ALL
"""
UNPRICED_SQL = """
SELECT coalesce(request_model, response_model) AS member, count(*) AS calls,
       count(*) FILTER (WHERE start_time < ?) AS before
FROM {table}
WHERE start_time >= ? AND start_time < ? AND coalesce(request_model, response_model) IS NOT NULL AND {pred}
GROUP BY 1
HAVING count(*) FILTER (WHERE start_time >= ? AND cost_usd IS NULL
                        AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)) > 0
"""
RATE_SQL = """
SELECT count(*) FILTER (WHERE start_time >= ?) AS n_now, count(*) FILTER (WHERE start_time >= ? AND {bad}) AS bad_now,
       count(*) FILTER (WHERE start_time < ?) AS n_before, count(*) FILTER (WHERE start_time < ? AND {bad}) AS bad_before
FROM {table} WHERE start_time >= ? AND start_time < ? AND {pred}
"""


def findings(con, m: Monitor, as_of: datetime) -> list[dict[str, Any]]:
    """What the monitor sees at `as_of`: [{"member", "value", "baseline", "detail"}] to fire on."""
    table = reads.source(con)
    start = as_of - timedelta(hours=m.window_hours)
    pred, scope_params = reads.scope_sql(m.scope)
    cur = con.cursor()
    try:
        if m.kind == "cost_spike":
            wins = [
                (as_of - timedelta(weeks=k, hours=m.window_hours), as_of - timedelta(weeks=k))
                for k in range(m.weeks + 1)
            ]
            cases = " ".join(f"WHEN start_time >= ? AND start_time < ? THEN {k}" for k in range(len(wins)))
            params = [x for w in wins for x in w] + [wins[-1][0], as_of] + scope_params
            sql = SPIKE_SQL.format(dim=SPIKE_DIMS[m.dim], cases=cases, table=table, pred=pred)
            rows = cur.execute(sql, params).fetchall()
            by: dict[str, list[float]] = {}
            for member, w, usd in rows:
                by.setdefault(member, [0.0] * len(wins))[w] = usd or 0.0
            out = []
            for member, vals in by.items():
                now, past = vals[0], vals[1:]
                med = statistics.median(past)
                mad = statistics.median([abs(v - med) for v in past])
                limit = med + m.threshold * 1.4826 * mad
                if now > limit and now - med >= m.min_usd:
                    out.append(
                        {
                            "member": str(member),
                            "value": now,
                            "baseline": med,
                            "limit": limit,
                            "detail": f"${now:,.2f} in the last {m.window_hours} h vs a median of ${med:,.2f} "
                            f"(MAD ${mad:,.2f}) on the same weekday of the previous {m.weeks} weeks",
                        }
                    )
            return sorted(out, key=lambda r: -(r["value"] - r["baseline"]))
        if m.kind == "unpriced_model":
            before = start - timedelta(weeks=m.weeks)
            rows = cur.execute(
                UNPRICED_SQL.format(table=table, pred=pred), [start, before, as_of, *scope_params, start]
            ).fetchall()
            return [
                {
                    "member": str(model),
                    "value": float(calls - prior),
                    "baseline": 0.0,
                    "detail": f"{calls - prior:,} call(s) of {model} in the last {m.window_hours} h that the active "
                    f"sheet cannot price; none in the {m.weeks} weeks before",
                }
                for model, calls, prior in rows
                if prior == 0
            ]
        bad = "usage_source = 'missing'" if m.kind == "missing_usage" else "status = 'error'"
        base_start = start - timedelta(days=7)
        n_now, bad_now, n_before, bad_before = cur.execute(
            RATE_SQL.format(bad=bad, table=table, pred=pred),
            [start, start, start, start, base_start, as_of, *scope_params],
        ).fetchone()
        if not n_now or n_now < m.min_calls:
            return []
        share = 100.0 * bad_now / n_now
        base = 100.0 * bad_before / n_before if n_before else 0.0
        if share - base >= m.threshold:
            what = "missing usage" if m.kind == "missing_usage" else "errors"
            return [
                {
                    "member": "",
                    "value": share,
                    "baseline": base,
                    "detail": f"{share:.1f}% of {n_now:,} calls with {what} in the last {m.window_hours} h vs "
                    f"{base:.1f}% over the previous 7 days",
                }
            ]
        return []
    finally:
        cur.close()


def candidates(con, as_of: datetime) -> list[dict[str, Any]]:
    """Events every enabled monitor would fire at `as_of` (cool-downs are applied by the caller)."""
    out = []
    for sm in load_all(con):
        m = sm.monitor
        if not m.enabled:
            continue
        p_start = as_of.replace(minute=0, second=0, microsecond=0)
        for f in findings(con, m, as_of):
            who = (
                f" ({m.dim} {f['member']})"
                if f["member"] and m.kind == "cost_spike"
                else f" ({f['member']})"
                if f["member"]
                else ""
            )
            title = {
                "cost_spike": f"Cost spike{who}",
                "unpriced_model": f"Model with no price appeared{who}",
                "missing_usage": "Share of calls with missing usage rose",
                "error_rate": "Error rate rose",
            }[m.kind] + f": {f['detail']}"
            out.append(
                {
                    "rule_id": sm.rule_id,
                    "rule_name": m.name,
                    "threshold": f"monitor:{m.kind}",
                    "period_start": p_start,
                    "period_end": p_start + timedelta(hours=m.cooldown_hours),
                    "member": f["member"],
                    "severity": m.severity,
                    "title": f"{m.name}: {title}",
                    "notify": m.notify,
                    "cooldown": True,
                    "figures": {
                        "monitor": m.kind,
                        "describe": m.describe(),
                        "value": f["value"],
                        "baseline": f["baseline"],
                        "detail": f["detail"],
                        "window_hours": m.window_hours,
                        "as_of": as_of.isoformat(),
                        "scope": m.describe(),
                        "scope_where": m.to_dict()["scope"],
                        "window_start": (as_of - timedelta(hours=m.window_hours)).isoformat(),
                        "sheet": reads.active_sheet(con),
                    },
                    "explanation": {"top": [], "note": f["detail"]},
                }
            )
    return out
