"""Model shortlist: which models of a price sheet meet a use case's constraints, cheapest first.

Every model is checked against every constraint, and an excluded model keeps *all* its reasons,
so a product manager sees whether relaxing one requirement would bring it back.
Latency is checked only where a measurement exists (the local lab's runs); a model without one
is kept and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from llmledger.planning.prices import ModelPrice
from llmledger.planning.projection import per_token_rates, volume
from llmledger.planning.requirements import RequirementSet, UseCase


@dataclass(frozen=True)
class Latency:
    """A measured latency for a model, in milliseconds. `p95_ms` is a whole response; when only
    TTFT and per-token speed were measured, a use case's p95 is estimated as
    ttft_ms + output tokens × ms_per_token (both p95 over the lab's runs)."""

    p95_ms: float | None = None
    ttft_ms: float | None = None
    ms_per_token: float | None = None
    runs: int = 0

    def p95_for(self, output_tokens: float) -> float | None:
        if self.p95_ms is not None:
            return self.p95_ms
        if self.ttft_ms is not None and self.ms_per_token is not None:
            return self.ttft_ms + output_tokens * self.ms_per_token
        return None


#: The local lab's timed runs, per model variant; runs name a variant '<model>-<variant>' in spans.
LAB_LATENCY_SQL = """
    SELECT model || '-' || variant AS name,
           quantile_cont(ttft_ms, 0.95) AS ttft_p95_ms,
           quantile_cont(1000.0 / nullif(gen_tps, 0), 0.95) AS ms_per_token_p95,
           count(*) AS runs
    FROM local_runs WHERE ttft_ms IS NOT NULL
    GROUP BY model, variant
"""


def lab_latency(con) -> dict[str, Latency]:
    """Measured latency per local model variant (empty when the lab has no runs or no table)."""
    import duckdb

    try:
        rows = con.cursor().execute(LAB_LATENCY_SQL).fetchall()
    except duckdb.CatalogException:
        return {}
    return {name: Latency(ttft_ms=ttft, ms_per_token=mspt, runs=int(n)) for name, ttft, mspt, n in rows}


@dataclass
class Shortlist:
    use_case: str
    eligible: pd.DataFrame
    excluded: pd.DataFrame
    notes: list[str] = field(default_factory=list)


ELIGIBLE_COLUMNS = [
    "rank",
    "model",
    "provider",
    "cost_per_request_usd",
    "first_month_usd",
    "horizon_total_usd",
    "context_window",
    "max_output",
    "measured_p95_ms",
    "note",
]
EXCLUDED_COLUMNS = ["model", "provider", "first_month_usd", "reasons"]


ZERO_OUTPUT = "output priced at $0 (an embedding or other non-generative entry)"


def _money(v: float) -> str:
    return f"${v:,.2f}" if v >= 1 else f"${v:.4g}"


@dataclass(frozen=True)
class _Needs:
    """A use case's constraints, worked out once (not once per model)."""

    context: float
    max_output: float
    mean_output: float
    modalities: tuple[str, ...]
    allow: frozenset
    deny: frozenset
    local_only: bool
    p95_ms: float | None
    ttft_ms: float | None
    cost_target: float | None
    roi_target: float | None
    value: float | None
    budget: float | None

    @classmethod
    def of(cls, uc: UseCase) -> "_Needs":
        return cls(
            uc.required_context,
            uc.max_output_tokens,
            uc.mean_output_tokens,
            tuple(uc.modalities),
            frozenset(a.lower() for a in uc.provider_allow),
            frozenset(d.lower() for d in uc.provider_deny),
            uc.privacy == "no_third_party_api",
            uc.p95_latency_ms,
            uc.ttft_ms,
            uc.cost_per_txn_target_usd,
            uc.roi_target,
            uc.value_per_success_usd,
            uc.monthly_budget_usd,
        )


def reasons_for(uc: UseCase | _Needs, p: ModelPrice, lat: Latency | None, cpr: float, first_month: float) -> list[str]:
    """Why `p` cannot serve `uc` (empty list: it can)."""
    n = uc if isinstance(uc, _Needs) else _Needs.of(uc)
    r: list[str] = []
    if not p.priced:
        r.append("no input/output price in this sheet")
    elif not p.self_hosted and p.input_per_1m == 0 and p.output_per_1m == 0:
        r.append("listed at $0 (a free or preview entry, not a price to plan on)")
    elif not p.self_hosted and p.output_per_1m == 0:
        r.append(ZERO_OUTPUT)
    if p.context_window and n.context > p.context_window:
        r.append(f"context window {p.context_window:,} < {n.context:,.0f} needed")
    if p.max_output and n.max_output > p.max_output:
        r.append(f"max output {p.max_output:,} < {n.max_output:,.0f} per request")
    missing = [m for m in n.modalities if m not in p.modalities]
    if missing:
        r.append(f"no {'/'.join(missing)} input")
    prov = (p.provider or "").lower()
    if n.allow and prov not in n.allow:
        r.append(f"provider {p.provider or '?'} not in the allow list")
    if prov and prov in n.deny:
        r.append(f"provider {p.provider} is denied")
    if n.local_only and not p.self_hosted:
        r.append("hosted third-party API, but the privacy rule allows only self-hosted/local")
    if lat is not None:
        p95 = lat.p95_for(n.mean_output)
        if n.p95_ms and p95 is not None and p95 > n.p95_ms:
            how = "measured" if lat.p95_ms is not None else "lab-estimated"
            r.append(f"{how} p95 {p95:,.0f} ms > SLO {n.p95_ms:,.0f} ms")
        if n.ttft_ms and lat.ttft_ms is not None and lat.ttft_ms > n.ttft_ms:
            r.append(f"measured TTFT {lat.ttft_ms:,.0f} ms > SLO {n.ttft_ms:,.0f} ms")
    if p.priced and cpr == cpr:  # not NaN
        if n.cost_target is not None and cpr > n.cost_target:
            r.append(f"{_money(cpr)} per request > target {_money(n.cost_target)}")
        if n.roi_target and n.value is not None and cpr > 0:
            roi = n.value / cpr
            if roi < n.roi_target:
                r.append(f"ROI {roi:,.1f}× < target {n.roi_target:g}×")
        if n.budget is not None and first_month > n.budget:
            r.append(f"first month {_money(first_month)} > budget {_money(n.budget)}")
    return r


def shortlist(
    rs: RequirementSet,
    use_case: str,
    prices: dict[str, ModelPrice],
    latency: dict[str, Latency] | None = None,
    kind: str = "chat",
) -> Shortlist:
    """Rank the sheet's models for one use case by projected cost; explain every exclusion.
    `kind="embedding"`: the models read and write no text, so a $0 output price is expected."""
    latency = latency or {}
    uc = rs.use_case(use_case)
    one = RequirementSet(start_month=rs.start_month, horizon_months=rs.horizon_months, use_cases=[uc])
    req = volume(one)[0]  # (T,)
    names = sorted(prices)
    alpha, beta = per_token_rates(
        [[n] for n in names], prices, np.array([uc.cached_input_share]), np.array([uc.batch_share])
    )
    cpr = alpha[:, 0] * uc.mean_input_tokens + beta[:, 0] * uc.mean_output_tokens  # (M,)
    fixed = np.full(req.shape, uc.fixed_monthly_usd)
    if len(fixed):
        fixed[0] += uc.one_off_usd
    monthly = cpr[:, None] * req[None, :] + fixed[None, :]
    first, total = monthly[:, 0], monthly.sum(axis=1)

    ok, bad = [], []
    needs = _Needs.of(uc)
    cpr_l, first_l, total_l = cpr.tolist(), first.tolist(), total.tolist()
    for i, n in enumerate(names):
        p = prices[n]
        lat = latency.get(n)
        why = reasons_for(needs, p, lat, cpr_l[i], first_l[i])
        if kind == "embedding":
            why = [w for w in why if w != ZERO_OUTPUT]
        if why:
            bad.append({"model": n, "provider": p.provider, "first_month_usd": first_l[i], "reasons": "; ".join(why)})
        else:
            notes_ = []
            if p.self_hosted:
                notes_.append("self-hosted: add hosting as a fixed cost")
            if lat is None and (uc.p95_latency_ms or uc.ttft_ms):
                notes_.append("latency not measured")
            note = "; ".join(notes_)
            ok.append(
                {
                    "model": n,
                    "provider": p.provider,
                    "cost_per_request_usd": cpr_l[i],
                    "first_month_usd": first_l[i],
                    "horizon_total_usd": total_l[i],
                    "context_window": p.context_window,
                    "max_output": p.max_output,
                    "measured_p95_ms": lat.p95_for(uc.mean_output_tokens) if lat else None,
                    "note": note,
                }
            )
    eligible = pd.DataFrame(ok, columns=[c for c in ELIGIBLE_COLUMNS if c != "rank"])
    eligible = eligible.astype({"cost_per_request_usd": float, "first_month_usd": float, "horizon_total_usd": float})
    # A self-hosted model at $0 per token with no hosting cost entered is not "free": rank it after
    # the models whose bill is known (its note says to add hosting as a fixed cost).
    eligible["_unknown"] = [
        prices[m].self_hosted and c == 0 and uc.fixed_monthly_usd == 0
        for m, c in zip(eligible["model"], eligible["cost_per_request_usd"])
    ]
    eligible = (
        eligible.sort_values(["_unknown", "horizon_total_usd", "model"], kind="stable")
        .drop(columns="_unknown")
        .reset_index(drop=True)
    )
    eligible.insert(0, "rank", np.arange(1, len(eligible) + 1))
    excluded = pd.DataFrame(bad, columns=EXCLUDED_COLUMNS)

    notes = []
    if uc.lock_in == "multi_model":
        provs = {p for p in eligible["provider"] if p}
        notes.append(
            f"Multi-model stance: {len(provs)} provider(s) remain eligible"
            + ("" if len(provs) >= 2 else " — fewer than the 2 a multi-model plan needs")
        )
    elif uc.lock_in == "avoid_lock_in":
        local = int(sum(prices[m].self_hosted for m in eligible["model"]))
        notes.append(f"Avoid lock-in: {local} eligible model(s) are self-hosted/local.")
    if uc.data_residency:
        notes.append(
            f"Data residency '{uc.data_residency}' is recorded but not checked: the price "
            "sheet carries no region per model."
        )
    return Shortlist(uc.name, eligible, excluded, notes)
