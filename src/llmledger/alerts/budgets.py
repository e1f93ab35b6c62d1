"""What a budget is, how it is checked, and where it is stored (`alert_rules`, kind 'budget').

A budget: a name; an amount in USD (actual cost, pricing.engine.ACTUAL_COST_RULE) or in tokens
(input + output); a period (day, week, month, quarter in a time zone, or a rolling window such as
rolling-24h); a scope (values of feature, team, user_id, service, environment, model, provider;
empty = every call); optionally `each`, one budget per value of a dimension (every user gets
$5/day); thresholds in percent of the amount, on actual spend or on the p50 forecast at period end;
and apprise URLs to notify.

Everything arriving from a form or the CLI goes through `Budget.build`, which either returns a
valid budget or raises BudgetError with one reason.
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from llmledger.alerts import periods
from llmledger.errors import LedgerError


class BudgetError(LedgerError):
    title = "Invalid budget"


#: Dimensions a scope or `each` may use: name -> SQL over llm_calls columns. `model` matches the
#: requested or the responding model; as an `each` dimension it is the requested one (else the
#: responding one), as on the Spend page.
SCOPE_DIMS: dict[str, str] = {
    "feature": "feature",
    "team": "team",
    "user_id": "user_id",
    "service": "service",
    "environment": "environment",
    "model": "coalesce(request_model, response_model)",
    "request_model": "request_model",
    "response_model": "response_model",
    "provider": "provider",
}
ALIASES = {"user": "user_id", "env": "environment"}
UNITS = ("usd", "tokens")
KINDS = ("actual", "forecast")
MAX_THRESHOLD_PCT = 1000
MAX_AMOUNT = Decimal("1e15")
MAX_NAME = 120
DEFAULT_THRESHOLDS = (50, 80, 100)


@dataclass(frozen=True)
class Threshold:
    pct: float
    kind: str = "actual"  # 'actual' | 'forecast' (the p50 forecast at period end)

    @property
    def key(self) -> str:
        return f"{self.kind}:{_num(self.pct)}"

    @property
    def severity(self) -> str:
        if self.kind == "forecast":
            return "warning"
        return "critical" if self.pct >= 100 else "warning" if self.pct >= 80 else "info"


@dataclass(frozen=True)
class Budget:
    name: str
    amount: Decimal
    period: str = "month"
    unit: str = "usd"
    tz: str = "UTC"
    scope: tuple[tuple[str, tuple[str, ...]], ...] = ()
    each: str | None = None
    thresholds: tuple[Threshold, ...] = field(default_factory=lambda: tuple(Threshold(p) for p in DEFAULT_THRESHOLDS))
    notify: tuple[str, ...] = ()
    enabled: bool = True

    # ------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        name: Any,
        amount: Any,
        period: Any = "month",
        *,
        unit: Any = "usd",
        tz: Any = "UTC",
        where: Iterable[str] | dict | None = None,
        each: Any = None,
        thresholds: Any = DEFAULT_THRESHOLDS,
        forecast_thresholds: Any = (),
        notify: Iterable[str] = (),
        enabled: bool = True,
    ) -> "Budget":
        """A valid budget from raw input, or BudgetError naming what is wrong."""
        scope = _scope(where)
        ths = [Threshold(p, "actual") for p in _pcts(thresholds, "threshold")]
        ths += [Threshold(p, "forecast") for p in _pcts(forecast_thresholds, "forecast threshold")]
        if not ths:
            raise BudgetError("a budget needs at least one threshold")
        period = _period(period)
        if periods.rolling_hours(period) is not None and any(t.kind == "forecast" for t in ths):
            raise BudgetError(
                "forecast thresholds need a calendar period (day, week, month, quarter); "
                "a rolling window has no period end to forecast"
            )
        if unit not in UNITS:
            raise BudgetError(f"unknown unit {unit!r}; expected usd or tokens")
        return cls(
            name=_name(name),
            amount=_amount(amount),
            period=period,
            unit=unit,
            tz=_tz(tz),
            scope=scope,
            each=_dim(each, "each") if each not in (None, "") else None,
            thresholds=tuple(sorted(set(ths), key=lambda t: (t.kind, t.pct))),
            notify=_urls(notify),
            enabled=bool(enabled),
        )

    # ------------------------------------------------------------ views
    @property
    def rolling(self) -> bool:
        return periods.rolling_hours(self.period) is not None

    def scope_dict(self) -> dict[str, list[str]]:
        return {d: list(v) for d, v in self.scope}

    def scope_text(self) -> str:
        parts = [f"{d}={'|'.join(v)}" for d, v in self.scope]
        if self.each:
            parts.append(f"each {self.each}")
        return ", ".join(parts) or "all calls"

    def amount_text(self, value: Any = None) -> str:
        v = self.amount if value is None else value
        return f"${float(v):,.2f}" if self.unit == "usd" else f"{float(v):,.0f} tokens"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["amount"] = format(self.amount.normalize(), "f")
        d["scope"] = self.scope_dict()
        d["thresholds"] = [_num(t.pct) for t in self.thresholds if t.kind == "actual"]
        d["forecast_thresholds"] = [_num(t.pct) for t in self.thresholds if t.kind == "forecast"]
        d["notify"] = list(self.notify)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Budget":
        return cls.build(
            d["name"],
            d["amount"],
            d.get("period", "month"),
            unit=d.get("unit", "usd"),
            tz=d.get("tz", "UTC"),
            where=d.get("scope") or {},
            each=d.get("each"),
            thresholds=d.get("thresholds", ()),
            forecast_thresholds=d.get("forecast_thresholds", ()),
            notify=d.get("notify", ()),
            enabled=d.get("enabled", True),
        )


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BudgetError("a budget needs a name")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise BudgetError(f"a budget name has at most {MAX_NAME} characters")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise BudgetError("a budget name cannot contain control characters")
    return name


def _amount(raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw).strip().lstrip("$").replace(",", "")) if not isinstance(raw, Decimal) else raw
    except (InvalidOperation, ValueError):
        raise BudgetError(f"amount {raw!r} is not a number") from None
    if not value.is_finite():
        raise BudgetError(f"amount {raw!r} is not a finite number")
    if value <= 0:
        raise BudgetError(f"amount must be above zero (got {raw})")
    if value > MAX_AMOUNT:
        raise BudgetError(f"amount {raw} is implausibly large (at most {MAX_AMOUNT:,.0f})")
    if value < Decimal("1e9"):
        value = value.quantize(Decimal("0.000000001"))
        if value <= 0:
            raise BudgetError(f"amount must be at least $0.000000001 (got {raw})")
        return Decimal(format(value.normalize(), "f"))
    return value.to_integral_value()


def _period(raw: Any) -> str:
    period = str(raw or "").strip().lower()
    if not periods.is_valid(period):
        raise BudgetError(
            f"unknown period {raw!r}; expected day, week, month, quarter or rolling-<N>h / "
            f"rolling-<N>d (up to {periods.MAX_ROLLING_HOURS} hours)"
        )
    return period


def _tz(raw: Any) -> str:
    tz = str(raw or "UTC").strip()
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise BudgetError(f"unknown time zone {raw!r} (use an IANA name such as Europe/Paris)") from None
    return tz


def _dim(raw: Any, what: str) -> str:
    dim = ALIASES.get(str(raw).strip(), str(raw).strip())
    if dim not in SCOPE_DIMS:
        raise BudgetError(f"unknown dimension {raw!r} in {what}; expected one of {', '.join(SCOPE_DIMS)}")
    return dim


def _scope(where: Iterable[str] | dict | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`["feature=chat", "model=gpt-4o"]` or `{"feature": ["chat"]}` -> sorted ((dim, values), ...).
    Several values of one dimension are alternatives (OR); dimensions combine with AND."""
    picked: dict[str, set[str]] = {}
    items: list[tuple[Any, Any]] = []
    if isinstance(where, dict):
        for d, vs in where.items():
            for v in [vs] if isinstance(vs, str) else vs or []:
                items.append((d, v))
    else:
        for w in where or []:
            if not isinstance(w, str) or "=" not in w:
                raise BudgetError(f"scope {w!r} is not DIM=VALUE")
            d, v = w.split("=", 1)
            items.append((d, v))
    for d, v in items:
        dim = _dim(d, "scope")
        if not isinstance(v, str) or not v.strip():
            raise BudgetError(f"scope {dim}= needs a value")
        picked.setdefault(dim, set()).add(v.strip())
    return tuple((d, tuple(sorted(vs))) for d, vs in sorted(picked.items()))


def _pcts(raw: Any, what: str) -> list[float]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [p for p in raw.replace(" ", "").split(",") if p]
    out = []
    for p in raw:
        try:
            v = float(str(p).strip().rstrip("%"))
        except ValueError:
            raise BudgetError(f"{what} {p!r} is not a number (percent of the amount)") from None
        if not math.isfinite(v) or v <= 0:
            raise BudgetError(f"{what} {p!r} must be a percentage above 0")
        if v > MAX_THRESHOLD_PCT:
            raise BudgetError(f"{what} {p!r}% is over {MAX_THRESHOLD_PCT}% of the amount; raise the amount instead")
        out.append(round(v, 4))
    return sorted(set(out))


def _urls(urls: Iterable[str]) -> tuple[str, ...]:
    from llmledger.alerts.notify import check_url

    out = []
    for u in urls or ():
        u = str(u).strip()
        if u:
            check_url(u)
            out.append(u)
    return tuple(dict.fromkeys(out))


# ------------------------------------------------------------------ storage

INSERT_SQL = "INSERT INTO alert_rules (name, kind, body, enabled) VALUES (?, 'budget', ?, ?)"
UPDATE_SQL = "UPDATE alert_rules SET name = ?, body = ?, enabled = ?, updated_at = now() WHERE rule_id = ?"
LIST_SQL = "SELECT rule_id, body FROM alert_rules WHERE kind = 'budget' ORDER BY name"
BY_NAME_SQL = "SELECT rule_id FROM alert_rules WHERE kind = 'budget' AND name = ?"
DELETE_SQL = "DELETE FROM alert_rules WHERE rule_id = ?"


@dataclass(frozen=True)
class StoredBudget:
    rule_id: int
    budget: Budget


def save(con, budget: Budget, replace: str | None = None) -> int:
    """Store a new budget (its name must be free), or replace the one named `replace` (keeping its
    id, so its events stay with it). Returns the rule id."""
    cur = con.cursor()
    try:
        clash = cur.execute(BY_NAME_SQL, [budget.name]).fetchone()
        body = json.dumps(budget.to_dict())
        if replace is None:
            if clash:
                raise BudgetError(f"a budget named {budget.name!r} already exists")
            cur.execute(INSERT_SQL, [budget.name, body, budget.enabled])
            return int(cur.execute(BY_NAME_SQL, [budget.name]).fetchone()[0])
        old = cur.execute(BY_NAME_SQL, [replace]).fetchone()
        if not old:
            raise BudgetError(f"no budget named {replace!r}")
        if clash and clash[0] != old[0]:
            raise BudgetError(f"a budget named {budget.name!r} already exists")
        cur.execute(UPDATE_SQL, [budget.name, body, budget.enabled, old[0]])
        return int(old[0])
    finally:
        cur.close()


def load_all(con) -> list[StoredBudget]:
    cur = con.cursor()
    try:
        rows = cur.execute(LIST_SQL).fetchall()
    finally:
        cur.close()
    return [StoredBudget(int(rid), Budget.from_dict(json.loads(body))) for rid, body in rows]


RULES_TOKEN_SQL = """
SELECT md5(coalesce(string_agg(rule_id::VARCHAR || ':' || enabled::VARCHAR || ':' || body::VARCHAR, ';'
                               ORDER BY rule_id), ''))
FROM alert_rules WHERE kind = 'budget'
"""
_loaded: dict = {}


def load_all_cached(con) -> list[StoredBudget]:
    """load_all, parsed again only when a stored budget changed (a check after every load reads them)."""
    cur = con.cursor()
    try:
        token = cur.execute(RULES_TOKEN_SQL).fetchall()[0][0]
    finally:
        cur.close()
    hit = _loaded.get(id(con))
    if hit is None or hit[0] != token:
        hit = (token, load_all(con))
        _loaded.clear()
        _loaded[id(con)] = hit
    return list(hit[1])


def get(con, name: str) -> StoredBudget:
    for sb in load_all(con):
        if sb.budget.name == name:
            return sb
    raise BudgetError(f"no budget named {name!r}")


def remove(con, name: str) -> None:
    """Delete a budget; its past events stay (with its name) for the record."""
    sb = get(con, name)
    cur = con.cursor()
    try:
        cur.execute(DELETE_SQL, [sb.rule_id])
    finally:
        cur.close()
