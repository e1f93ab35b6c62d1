"""Apply a router or a cascade to a feature's own traffic: its last N days repriced under the policy.

Each of the feature's calls is priced as if it had gone to each model of the policy (reads/whatif:
the model's tokenizer re-counts captured text, the chosen sheet prices it). Writing C(m) for that
total under model m, and L(m) for m's measured mean latency:

    router (share p to the strong model)   cost = p·C(strong) + (1 − p)·C(weak)
    cascade m1 → m2 → … → mk               cost = Σ reach_i·C(m_i),  reach_1 = 1,
    (tier i accepts a share a_i)                  reach_{i+1} = reach_i·(1 − a_i)

Every call pays tier 1; the share not accepted escalates and pays tier 2 as well, and so on. The
last tier answers whatever reaches it. Latency follows the same sums with L in place of C. This
is the expected cost when the calls a router or scorer picks are like the average call.

Rates carry an interval: from a dataset's counts (a Jeffreys Beta interval on accepted / tried),
or a ± the user types. Cost falls as any acceptance rate rises, so the band's ends are the
policy at the interval's ends. Break-even: the tier-1 escalation rate e* at which the cascade
costs as much as its last (strongest) model alone, the later tiers' rates held as given:
C(m1) + e*·R = C(mk), R = the cost of the tiers after the first per escalated call. For a
router: the strong share at which the policy costs what the feature costs today.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from llmledger.errors import SimulationError
from llmledger.reads import whatif as reads

#: A month, for monthly figures: the window's cost scaled by 30 / the days it covers.
MONTH_DAYS = 30
MAX_DAYS = 3660
#: The band's coverage for rates measured on a dataset.
BAND_LEVEL = 0.90

ASSUMED = "assumed by you"
NANO = Decimal("0.000000001")


@dataclass(frozen=True)
class Rate:
    """A share in 0..1 with its interval and what it rests on."""

    value: float
    low: float
    high: float
    source: str = ASSUMED

    @classmethod
    def assumed(cls, value, plus_minus=0.0, what: str = "rate") -> "Rate":
        v = _share(value, what)
        pm = _number(plus_minus, f"{what} ±")
        if pm < 0:
            raise SimulationError(f"{what} ± must be 0 or more (got {plus_minus})")
        return cls(v, max(0.0, v - pm), min(1.0, v + pm), ASSUMED)

    @classmethod
    def from_counts(cls, accepted: int, tried: int, source: str, level: float = BAND_LEVEL) -> "Rate":
        """accepted of tried, with a Jeffreys interval (Beta(k + ½, n − k + ½) quantiles)."""
        from scipy.stats import beta

        if tried <= 0 or accepted < 0 or accepted > tried:
            raise SimulationError(
                f"acceptance counts must satisfy 0 <= accepted <= tried, tried > 0 (got {accepted} of {tried})"
            )
        a, b = accepted + 0.5, tried - accepted + 0.5
        tail = (1 - level) / 2
        low = 0.0 if accepted == 0 else float(beta.ppf(tail, a, b))
        high = 1.0 if accepted == tried else float(beta.ppf(1 - tail, a, b))
        return cls(
            accepted / tried, low, high, f"measured on {source} ({accepted:,} of {tried:,}, {level:.0%} interval)"
        )


@dataclass(frozen=True)
class Router:
    strong: str
    weak: str
    strong_share: Rate

    kind = "router"

    @property
    def models(self) -> list[str]:
        return [self.strong, self.weak]

    def describe(self) -> str:
        return f"router: {self.strong_share.value:.1%} of calls to {self.strong}, the rest to {self.weak}"


@dataclass(frozen=True)
class Cascade:
    tiers: tuple[str, ...]
    accept: tuple[Rate, ...]  # one per tier but the last

    kind = "cascade"

    @property
    def models(self) -> list[str]:
        return list(self.tiers)

    def describe(self) -> str:
        parts = [f"{m} (accepts {r.value:.1%})" for m, r in zip(self.tiers, self.accept)]
        return "cascade: " + " → ".join([*parts, self.tiers[-1]])


def router(strong: str, weak: str, strong_share_pct, plus_minus_pct=0.0, source: str | None = None) -> Router:
    """A router sending `strong_share_pct` percent (0..100) of calls to `strong`."""
    strong, weak = _model(strong, "strong model"), _model(weak, "weak model")
    if strong == weak:
        raise SimulationError(f"the strong and the weak model are both {strong!r}; a router needs two models")
    p = _number(strong_share_pct, "strong share")
    if not 0 <= p <= 100:
        raise SimulationError(f"strong share must be between 0 and 100 percent (got {strong_share_pct})")
    pm = _number(plus_minus_pct, "strong share ±")
    if pm < 0 or pm > 100:
        raise SimulationError(f"strong share ± must be between 0 and 100 percent (got {plus_minus_pct})")
    r = Rate(p / 100, max(0.0, (p - pm) / 100), min(1.0, (p + pm) / 100), source or ASSUMED)
    return Router(strong, weak, r)


def cascade(models, accept) -> Cascade:
    """A cascade over `models` (cheapest first) with acceptance rates per tier: floats in 0..1 or
    Rate objects, one per tier but the last (a rate given for the last tier is ignored: it
    answers whatever reaches it)."""
    tiers = tuple(_model(m, f"tier {i + 1} model") for i, m in enumerate(models))
    if len(tiers) < 2:
        raise SimulationError("a cascade needs at least two models (got " + (", ".join(tiers) or "none") + ")")
    dupes = sorted({m for m in tiers if tiers.count(m) > 1})
    if dupes:
        raise SimulationError(f"a model appears twice in the cascade: {', '.join(dupes)}")
    rates = list(accept)
    if len(rates) not in (len(tiers) - 1, len(tiers)):
        raise SimulationError(
            f"give one acceptance rate per tier but the last: {len(tiers) - 1} for {len(tiers)} models (got {len(rates)})"
        )
    rates = [
        r if isinstance(r, Rate) else Rate.assumed(r, what=f"tier {i + 1} acceptance rate") for i, r in enumerate(rates)
    ]
    return Cascade(tiers, tuple(rates[: len(tiers) - 1]))


def rates_from_shares(tiers: list[str], accept_shares, queries: int, dataset: str) -> list[Rate]:
    """Acceptance rates measured on a dataset's cascade: `accept_shares[i]` is the share of all
    `queries` that tier i answered, so tier i accepted round(share_i × n) of the queries that
    reached it. One Rate (with its interval) per tier but the last."""
    if queries <= 0:
        raise SimulationError("a dataset's cascade point needs at least one query")
    shares = [float(x) for x in accept_shares]
    if len(shares) != len(tiers) or any(not 0 <= x <= 1 + 1e-9 for x in shares):
        raise SimulationError(f"accept shares must be one 0..1 share per tier ({len(tiers)}), got {shares}")
    rates, reached = [], queries
    for i, (m, x) in enumerate(zip(tiers[:-1], shares[:-1])):
        accepted = min(int(round(x * queries)), reached)
        if reached == 0:  # nothing escalates this far: no evidence, the widest interval
            rates.append(Rate(0.0, 0.0, 1.0, f"measured on {dataset}: no query reached tier {i + 1} ({m})"))
            continue
        rates.append(Rate.from_counts(accepted, reached, f"{dataset}, tier {i + 1} ({m})"))
        reached -= accepted
    return rates


@dataclass
class LatencyImpact:
    baseline_ms: float | None  # the feature's mean latency today
    policy_ms: float | None  # expected mean latency under the policy (None when a model is unmeasured)
    per_model: dict[str, dict] = field(default_factory=dict)  # model -> mean_ms, p50_ms, n, source


@dataclass
class TrafficWhatIf:
    feature: str
    policy: str
    kind: str
    models: list[str]
    sheet: str
    period_start: str
    period_end: str
    days_covered: float
    calls: int
    baseline_usd: Decimal  # the window's actual cost, as recorded
    policy_usd: Decimal
    policy_low_usd: Decimal  # the band over the rates' intervals
    policy_high_usd: Decimal
    all_to_model_usd: dict[str, Decimal]  # every call to one model
    monthly_baseline_usd: Decimal
    monthly_policy_usd: Decimal
    monthly_saving_usd: Decimal
    monthly_saving_low_usd: Decimal
    monthly_saving_high_usd: Decimal
    rates: dict[str, dict]  # name -> value, low, high, source
    break_even: dict | None  # {"what", "rate", "current", "meaning"}
    latency: LatencyImpact
    rests_on: dict[str, str]  # figure -> what it rests on
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def apply_to_traffic(con, feature: str, policy: Router | Cascade, days=30, sheet: str | None = None) -> TrafficWhatIf:
    """Reprice `feature`'s last `days` days of calls under `policy` and the chosen sheet."""
    feature = (feature or "").strip()
    if not feature:
        raise SimulationError("choose a feature: the what-if applies a policy to one feature's calls")
    d = _number(days, "days")
    if not 0 < d <= MAX_DAYS:
        raise SimulationError(f"days must be between 1 and {MAX_DAYS} (got {days})")
    window = reads.feature_window(con, feature, d)
    if window is None:
        seen = ", ".join(reads.known_features(con)) or "none: ingest telemetry or load demo data"
        raise SimulationError(f"feature {feature!r} has no calls; features seen: {seen}")
    models = policy.models
    costs = reads.costs_under_models(con, window, models, sheet)
    if costs.calls == 0:
        raise SimulationError(
            f"feature {feature!r} has no calls with token usage in the {d:g} days up to {window.last_call:%Y-%m-%d}"
        )
    C = {m: costs.by_model.get(m, Decimal(0)) for m in models}
    for m in models:
        if costs.unpriced_by_model.get(m):
            raise SimulationError(
                f"model {m!r} cannot price {costs.unpriced_by_model[m]} of the calls under sheet {costs.sheet!r}"
            )
    cost, low, high = _policy_costs(policy, C)
    scale = Decimal(MONTH_DAYS) / Decimal(repr(window.days))
    base_m = _q(costs.baseline_usd * scale)
    rates, rests = _rates(policy), _rests_on(policy, costs, window)
    lat = reads.model_latencies(con, models, window.start, window.end)
    latency = LatencyImpact(
        costs.mean_ms,
        _expected(policy, {m: lat[m].mean_ms for m in models}),
        {m: {"mean_ms": v.mean_ms, "p50_ms": v.p50_ms, "n": v.n, "source": v.source} for m, v in lat.items()},
    )
    return TrafficWhatIf(
        feature=feature,
        policy=policy.describe(),
        kind=policy.kind,
        models=models,
        sheet=costs.sheet,
        period_start=window.start.isoformat(),
        period_end=window.end.isoformat(),
        days_covered=round(window.days, 3),
        calls=costs.calls,
        baseline_usd=_q(costs.baseline_usd),
        policy_usd=_q(cost),
        policy_low_usd=_q(low),
        policy_high_usd=_q(high),
        all_to_model_usd={m: _q(c) for m, c in C.items()},
        monthly_baseline_usd=base_m,
        monthly_policy_usd=_q(cost * scale),
        monthly_saving_usd=_q((costs.baseline_usd - cost) * scale),
        monthly_saving_low_usd=_q((costs.baseline_usd - high) * scale),
        monthly_saving_high_usd=_q((costs.baseline_usd - low) * scale),
        rates=rates,
        break_even=break_even(policy, C, costs.baseline_usd),
        latency=latency,
        rests_on=rests,
        notes=_notes(costs, window, lat, models, d),
    )


# --------------------------------------------------------------------------- the maths


def _reach(rates: list[float]) -> list[float]:
    """Share of calls reaching each tier, given the acceptance rates of all tiers but the last."""
    reach = [1.0]
    for a in rates:
        reach.append(reach[-1] * (1.0 - a))
    return reach


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def cost_at(policy: Router | Cascade, C: dict[str, Decimal], values: list[float] | None = None) -> Decimal:
    """Expected cost of the policy with the given rate values (default: its central values)."""
    if isinstance(policy, Router):
        p = policy.strong_share.value if values is None else values[0]
        return _dec(p) * C[policy.strong] + _dec(1 - p) * C[policy.weak]
    vals = [r.value for r in policy.accept] if values is None else values
    return sum((_dec(r) * C[m] for r, m in zip(_reach(vals), policy.tiers)), Decimal(0))


def _policy_costs(policy, C) -> tuple[Decimal, Decimal, Decimal]:
    if isinstance(policy, Router):
        r = policy.strong_share
        ends = [cost_at(policy, C, [r.low]), cost_at(policy, C, [r.high])]
    else:  # cost falls as any acceptance rate rises
        ends = [cost_at(policy, C, [r.high for r in policy.accept]), cost_at(policy, C, [r.low for r in policy.accept])]
    return cost_at(policy, C), min(ends), max(ends)


def _expected(policy, L: dict[str, float | None]) -> float | None:
    if any(v is None for v in L.values()):
        return None
    if isinstance(policy, Router):
        p = policy.strong_share.value
        return p * L[policy.strong] + (1 - p) * L[policy.weak]
    return sum(r * L[m] for r, m in zip(_reach([a.value for a in policy.accept]), policy.tiers))


def break_even(policy, C: dict[str, Decimal], baseline: Decimal) -> dict | None:
    """Cascade: the tier-1 escalation rate above which it costs more than its last model alone.
    Router: the strong share above which it costs more than the feature does today."""
    if isinstance(policy, Router):
        cs, cw = C[policy.strong], C[policy.weak]
        if cs == cw:
            return None
        p = float((baseline - cw) / (cs - cw))
        return {
            "what": "strong share",
            "rate": min(max(p, 0.0), 1.0),
            "current": policy.strong_share.value,
            "meaning": (
                f"above {min(max(p, 0), 1):.1%} of calls to {policy.strong}, the router costs more than "
                "the feature costs today"
                if 0 < p < 1
                else (
                    "the router costs less than today at any strong share"
                    if p >= 1
                    else "the router costs more than today at any strong share"
                )
            ),
        }
    first, last = policy.tiers[0], policy.tiers[-1]
    later = _reach([r.value for r in policy.accept[1:]])
    rest = sum((_dec(r) * C[m] for r, m in zip(later, policy.tiers[1:])), Decimal(0))
    if rest == 0:
        return None
    e = float((C[last] - C[first]) / rest)
    current = 1 - policy.accept[0].value
    if e <= 0:
        meaning = f"{first} alone already costs as much as {last} alone: the cascade always costs more"
    elif e >= 1:
        meaning = f"even escalating every call from {first}, the cascade costs less than {last} alone"
    else:
        meaning = f"if more than {e:.1%} of calls escalate past {first}, the cascade costs more than {last} alone"
    return {"what": "escalation rate", "rate": min(max(e, 0.0), 1.0), "current": current, "meaning": meaning}


def sensitivity(result: TrafficWhatIf, policy: Router | Cascade, points: int = 101):
    """Monthly cost of the policy as its main rate moves from 0 to 1 (router: the strong share;
    cascade: tier 1's escalation rate, later tiers as given), with today's cost and the last
    model alone for reference: what the break-even reads off."""
    import numpy as np
    import pandas as pd

    C = {m: Decimal(str(v)) for m, v in result.all_to_model_usd.items()}
    scale = Decimal(MONTH_DAYS) / Decimal(repr(result.days_covered))
    xs = np.linspace(0.0, 1.0, points)
    if isinstance(policy, Router):
        ys = [cost_at(policy, C, [x]) for x in xs]
        x_name, ref_model = f"share of calls to {policy.strong}", policy.strong
    else:
        later = [r.value for r in policy.accept[1:]]
        ys = [cost_at(policy, C, [1 - x, *later]) for x in xs]
        x_name, ref_model = f"escalation rate past {policy.tiers[0]}", policy.tiers[-1]
    df = pd.DataFrame(
        {
            "rate": xs,
            "monthly_policy_usd": [float(y * scale) for y in ys],
            "monthly_baseline_usd": float(result.monthly_baseline_usd),
            "monthly_reference_usd": float(C[ref_model] * scale),
        }
    )
    df.attrs.update(x=x_name, reference=f"every call to {ref_model}")
    return df


# --------------------------------------------------------------------------- provenance


def _rates(policy) -> dict[str, dict]:
    if isinstance(policy, Router):
        return {f"share to {policy.strong}": asdict(policy.strong_share)}
    return {f"{m} accepts": asdict(r) for m, r in zip(policy.tiers, policy.accept)}


def _rests_on(policy, costs, window) -> dict[str, str]:
    traffic = (
        f"measured in your traffic: {costs.calls:,} calls of {window.feature!r} over {window.days:.1f} days "
        f"up to {window.last_call:%Y-%m-%d}, priced with sheet {costs.sheet!r}"
    )
    tokens = (
        f"{costs.with_text:,} calls re-counted with each model's tokenizer from their captured text; "
        f"{costs.calls - costs.with_text:,} without text keep their token counts"
    )
    rate_sources = sorted({r["source"] for r in _rates(policy).values()})
    return {
        "baseline": traffic,
        "policy cost": f"{traffic}; {tokens}; rates {' / '.join(rate_sources)}",
        "saving band": "the rates' intervals: "
        + "; ".join(f"{k} {v['low']:.1%}–{v['high']:.1%}" for k, v in _rates(policy).items()),
        "monthly": f"scaled by {MONTH_DAYS} / {window.days:.1f} days",
        "latency": "mean latency per model (see per-model sources)",
        "assumption": "calls routed or escalated are like the average call of the feature",
    }


def _notes(costs, window, lat, models, days: float) -> list[str]:
    notes = []
    if window.days < days * 0.99:
        notes.append(
            f"The feature's calls span only {window.days:.1f} of the {days:g} days asked for: the monthly figures "
            f"extrapolate them ({MONTH_DAYS} / {window.days:.1f})."
        )
    if costs.without_usage:
        notes.append(f"{costs.without_usage:,} calls reported no token usage and are left out of both sides.")
    if costs.unpriced:
        notes.append(
            f"{costs.unpriced:,} calls have no price as recorded (model(s) {costs.models_seen}) under sheet "
            f"{costs.sheet!r}: the baseline leaves them out, so the saving is understated."
        )
    if costs.reported_only:
        notes.append(f"{costs.reported_only:,} baseline calls use their reported cost (the sheet cannot price them).")
    unmeasured = [m for m in models if lat[m].mean_ms is None]
    if unmeasured:
        notes.append(f"No latency measurement for {', '.join(unmeasured)}: the latency impact is unknown.")
    return notes


# --------------------------------------------------------------------------- input checks


def _number(value, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise SimulationError(f"{what} must be a number (got {value!r})") from None
    if not math.isfinite(x):
        raise SimulationError(f"{what} must be a finite number (got {value!r})")
    return x


def _share(value, what: str) -> float:
    x = _number(value, what)
    if not 0 <= x <= 1:
        raise SimulationError(f"{what} must be between 0 and 1 (got {value})")
    return x


def _model(name, what: str) -> str:
    n = (name or "").strip() if isinstance(name, str) else ""
    if not n:
        raise SimulationError(f"{what} is empty: name a model of the price sheet")
    return n


def _q(x: Decimal) -> Decimal:
    return Decimal(x).quantize(NANO)
