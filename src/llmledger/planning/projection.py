"""Month-by-month bill for a requirement set: per use case, per scenario, in total.

All maths is on numpy arrays shaped (scenario S, use case U, month T), so 4 models × 10 use
cases × 24 months is a few thousand multiplications.

Volume of use case u in month t (t = 0 is the start month):
    requests[u, t] = requests_per_day[u] × days_in_month(t) × (1 + g[u])^t × season[u, month(t)]
Cost of one request under model m, with cached share c and batch share b:
    per input token  = (1 − b)·[(1 − c)·in + c·cache_read] + b·[(1 − c)·batch_in + c·cache_read]
    per output token = (1 − b)·out + b·batch_out
(a missing cache or batch price means no discount: the list price applies.)
    cost[s, u, t] = requests[u, t] × cost_per_request[s, u] + fixed[u] + one_off[u]·[t = 0]

P50/P90 band, analytic, when token counts come from samples (n ≥ 2). A request's cost is
c = α·in + β·out, with sample variance v = α²·s_in² + β²·s_out². A month's bill is N·mean(c),
and two things make it uncertain: the mean itself is estimated from n samples (variance
N²·(α²·s_in²/n_in + β²·s_out²/n_out)), and N requests draw their own sizes (variance N·v).
Both are near-normal (central limit), so P50 is the point estimate and
P90 = P50 + 1.2816·sd. Use cases are independent, so variances add for the total.
`simulate_band()` is the sampling method, kept to check the analytic one.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from llmledger.planning.prices import ModelPrice
from llmledger.planning.requirements import RequirementSet, month_labels

Z90 = 1.2815515655446004
PLAN = "Plan"


@dataclass
class Projection:
    months: list[str]
    use_cases: list[str]
    scenarios: list[str]  # "Plan" (each use case's own model) + candidates
    models: list[list[str]]  # [s][u] model used
    requests: np.ndarray  # (U, T)
    cost: np.ndarray  # (S, U, T), NaN where the model has no price
    sd: np.ndarray  # (S, U, T) standard deviation (0 without samples)
    cost_per_request: np.ndarray  # (S, U)
    budget: np.ndarray  # (U,), NaN = no budget
    notes: list[str] = field(default_factory=list)
    peak_rps: np.ndarray | None = None  # (U,) busiest month's average/s × peak-to-average

    @property
    def p90(self) -> np.ndarray:
        return self.cost + Z90 * self.sd

    def scenario_index(self, scenario: str) -> int:
        return self.scenarios.index(scenario)

    def total(self, scenario: str = PLAN) -> np.ndarray:
        """(T,) total bill of a scenario (unpriced use cases left out, see notes)."""
        return np.nansum(self.cost[self.scenario_index(scenario)], axis=0)

    def total_p90(self, scenario: str = PLAN) -> np.ndarray:
        s = self.scenario_index(scenario)
        sd = np.sqrt(np.nansum(self.sd[s] ** 2, axis=0))
        return self.total(scenario) + Z90 * sd

    def frame(self, scenario: str = PLAN) -> pd.DataFrame:
        """Long table: one row per use case and month."""
        s = self.scenario_index(scenario)
        U, T = self.requests.shape
        return pd.DataFrame(
            {
                "month": np.tile(self.months, U),
                "use_case": np.repeat(self.use_cases, T),
                "model": np.repeat(self.models[s], T),
                "requests": self.requests.ravel(),
                "cost_usd": self.cost[s].ravel(),
                "p50_usd": self.cost[s].ravel(),
                "p90_usd": self.p90[s].ravel(),
                "budget_usd": np.repeat(self.budget, T),
            }
        )

    def totals_frame(self) -> pd.DataFrame:
        """Wide table: month × scenario total."""
        data = {sc: self.total(sc) for sc in self.scenarios}
        return pd.DataFrame(data, index=pd.Index(self.months, name="month"))

    def summary(self, scenario: str = PLAN) -> pd.DataFrame:
        """Per use case: model, cost per request, first month, horizon total, budget breach."""
        s = self.scenario_index(scenario)
        breaches = self.budget_breaches(scenario)
        return pd.DataFrame(
            {
                "use_case": self.use_cases,
                "model": self.models[s],
                "cost_per_request_usd": self.cost_per_request[s],
                "first_month_usd": self.cost[s][:, 0],
                "last_month_usd": self.cost[s][:, -1],
                "horizon_total_usd": self.cost[s].sum(axis=1),
                "monthly_budget_usd": self.budget,
                "budget_exceeded_in": [breaches.get(u) for u in self.use_cases],
                "peak_requests_per_s": self.peak_rps if self.peak_rps is not None else np.nan,
            }
        )

    def budget_breaches(self, scenario: str = PLAN) -> dict[str, str]:
        """Use case -> the first month its bill is over its own monthly budget (those that never
        are, or have no budget, left out), earliest first. The one computation behind the
        headline, the summary table and the use case chart."""
        s = self.scenario_index(scenario)
        months = first_breach(self.cost[s], self.budget)
        order = sorted((i, name) for name, i in zip(self.use_cases, months) if i >= 0)
        return {name: self.months[i] for i, name in order}

    def budget_breach(self, scenario: str = PLAN) -> str | None:
        """First month any use case costs more than its own monthly budget."""
        return next(iter(self.budget_breaches(scenario).values()), None)

    def compare(self) -> pd.DataFrame:
        """Side by side of the scenarios: horizon total, first/last month, budget breach."""
        rows = []
        for sc in self.scenarios:
            s = self.scenario_index(sc)
            tot = self.total(sc)
            priced = int((~np.isnan(self.cost[s, :, 0])).sum())
            bmonth = self.budget_breach(sc)
            rows.append(
                {
                    "scenario": sc,
                    "first_month_usd": tot[0],
                    "last_month_usd": tot[-1],
                    "horizon_total_usd": tot.sum(),
                    "horizon_p90_usd": self.total_p90(sc).sum(),
                    "use_cases_priced": f"{priced}/{len(self.use_cases)}",
                    "budget_exceeded_in": bmonth,
                }
            )
        return pd.DataFrame(rows)


def first_breach(cost: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """(U,) index of the first month whose cost exceeds the budget, −1 if never (or no budget)."""
    over = cost > budget[:, None]  # NaN budget or cost compares False
    return np.where(over.any(axis=1), over.argmax(axis=1), -1)


def days_in_months(start_month: str, n: int) -> np.ndarray:
    out = []
    for lab in month_labels(start_month, n):
        y, m = (int(x) for x in lab.split("-"))
        out.append(calendar.monthrange(y, m)[1])
    return np.array(out, dtype=float)


def volume(rs: RequirementSet) -> np.ndarray:
    """(U, T) requests per month: daily volume × days × compounded growth × seasonality."""
    T = int(rs.horizon_months)
    days = days_in_months(rs.start_month, T)
    start_m = int(rs.start_month.split("-")[1]) - 1
    cal = (start_m + np.arange(T)) % 12
    rpd = np.array([u.requests_per_day for u in rs.use_cases], dtype=float)
    g = np.array([u.growth_pct_per_month for u in rs.use_cases], dtype=float) / 100.0
    season = np.array([_season(u.seasonality) for u in rs.use_cases], dtype=float).reshape(-1, 12)
    growth = (1.0 + g)[:, None] ** np.arange(T)[None, :]
    return rpd[:, None] * days[None, :] * growth * season[:, cal]


def _season(values) -> list[float]:
    v = list(values or [])
    return v if len(v) == 12 else [1.0] * 12


def _price_arrays(models: list[list[str]], prices: dict[str, ModelPrice]):
    """(S, U) arrays of per-token prices; NaN where the model is unknown or unpriced."""
    S, U = len(models), len(models[0]) if models else 0
    keys = ("input_per_1m", "output_per_1m", "cache_read_per_1m", "batch_input_per_1m", "batch_output_per_1m")
    arr = np.full((len(keys), S, U), np.nan)
    for s, row in enumerate(models):
        for u, name in enumerate(row):
            p = prices.get(name)
            if p is None or not p.priced:
                continue
            vals = [getattr(p, k) for k in keys]
            vals[2] = vals[0] if vals[2] is None else vals[2]  # no cache price: no discount
            vals[3] = vals[0] if vals[3] is None else vals[3]  # no batch price: list price
            vals[4] = vals[1] if vals[4] is None else vals[4]
            arr[:, s, u] = vals
    return arr / 1e6


def per_token_rates(models, prices, cached_share, batch_share):
    """(S, U) effective USD per input token (α) and per output token (β)."""
    pin, pout, pcr, pbin, pbout = _price_arrays(models, prices)
    c, b = cached_share[None, :], batch_share[None, :]
    alpha = (1 - b) * ((1 - c) * pin + c * pcr) + b * ((1 - c) * pbin + c * pcr)
    beta = (1 - b) * pout + b * pbout
    return alpha, beta


def _sample_stats(samples: list[list[int]]):
    n = np.array([len(x) for x in samples], dtype=float)
    var = np.array([np.var(x, ddof=1) if len(x) > 1 else 0.0 for x in samples])
    return n, var


def project(rs: RequirementSet, prices: dict[str, ModelPrice], candidates: list[str] | None = None) -> Projection:
    """The plan (each use case under its own selected model) plus one scenario per candidate."""
    ucs = rs.use_cases
    U, T = len(ucs), int(rs.horizon_months)
    candidates = list(candidates if candidates is not None else rs.candidates)
    fallback = candidates[0] if candidates else ""
    plan_models = [u.model or fallback for u in ucs]
    models = [plan_models] + [[c] * U for c in candidates]
    scenarios = [PLAN] + candidates

    req = volume(rs) if U else np.zeros((0, T))
    cached = np.array([u.cached_input_share for u in ucs], dtype=float)
    batch = np.array([u.batch_share for u in ucs], dtype=float)
    alpha, beta = per_token_rates(models, prices, cached, batch)
    tin = np.array([u.mean_input_tokens for u in ucs], dtype=float)
    tout = np.array([u.mean_output_tokens for u in ucs], dtype=float)
    cpr = alpha * tin[None, :] + beta * tout[None, :]  # (S, U)
    fixed = np.array([u.fixed_monthly_usd for u in ucs], dtype=float)
    one_off = np.zeros((U, T))
    if T:
        one_off[:, 0] = [u.one_off_usd for u in ucs]
    cost = req[None, :, :] * cpr[:, :, None] + (fixed[:, None] + one_off)[None, :, :]

    n_in, v_in = _sample_stats([u.input_token_samples for u in ucs])
    n_out, v_out = _sample_stats([u.output_token_samples for u in ucs])
    with np.errstate(divide="ignore", invalid="ignore"):
        se2 = np.where(n_in > 1, alpha**2 * v_in / n_in, 0.0) + np.where(n_out > 1, beta**2 * v_out / n_out, 0.0)
    v = alpha**2 * v_in + beta**2 * v_out  # (S, U)
    N = req[None, :, :]
    sd = np.sqrt(N**2 * se2[:, :, None] + N * v[:, :, None])

    budget = np.array([np.nan if u.monthly_budget_usd is None else u.monthly_budget_usd for u in ucs], dtype=float)
    notes = []
    for s, sc in enumerate(scenarios):
        for u, uc in enumerate(ucs):
            if np.isnan(cpr[s, u]):
                what = f"model '{models[s][u]}'" if models[s][u] else "no model selected"
                notes.append(f"{sc}: {uc.name} left out ({what} has no price in the sheet)")
    p2a = np.array([u.peak_to_avg for u in ucs], dtype=float)
    days = days_in_months(rs.start_month, T)
    peak = (req / days[None, :]).max(axis=1) * p2a / 86400.0 if T and U else np.zeros(U)
    return Projection(
        month_labels(rs.start_month, T),
        [u.name for u in ucs],
        scenarios,
        models,
        req,
        cost,
        sd,
        cpr,
        budget,
        notes,
        peak,
    )


def simulate_band(
    rs: RequirementSet,
    prices: dict[str, ModelPrice],
    model: str,
    use_case: int,
    month: int,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Sampling check of the analytic band for one use case and month: (P50, P90).

    Each draw bootstraps the n samples (uncertainty of the mean), then adds the month's own
    noise: the sum of N request sizes drawn from the samples, taken as normal with the samples'
    variance (drawing N ≈ 10^5 sizes per draw would only confirm the central limit theorem).
    """
    rng = np.random.default_rng(seed)
    uc = rs.use_cases[use_case]
    N = volume(rs)[use_case, month]
    alpha, beta = per_token_rates([[model]], prices, np.array([uc.cached_input_share]), np.array([uc.batch_share]))
    a, b = float(alpha[0, 0]), float(beta[0, 0])

    def boot(samples, typed):
        if len(samples) < 2:
            return np.full(draws, float(typed)), 0.0
        x = np.asarray(samples, dtype=float)
        return rng.choice(x, size=(draws, len(x))).mean(axis=1), x.var(ddof=1)

    m_in, v_in = boot(uc.input_token_samples, uc.input_tokens)
    m_out, v_out = boot(uc.output_token_samples, uc.output_tokens)
    mean_c = a * m_in + b * m_out
    noise = rng.standard_normal(draws) * np.sqrt(N * (a * a * v_in + b * b * v_out))
    bill = N * mean_c + noise + uc.fixed_monthly_usd + (uc.one_off_usd if month == 0 else 0.0)
    return float(np.percentile(bill, 50)), float(np.percentile(bill, 90))
