"""The What-if page's levers (issue #18) without Streamlit: a window of calls read and priced once,
each lever run on it (simulate/levers), the sweeps the page draws (response-cache hit rate
against the TTL, output-cap saving against the cap), the savings of levers in sequence for the
top features (a waterfall), and which levers the captured content allows.

    scope = load_scope(con, feature, days, sheet)        # reads/levers.lever_calls + lever_prices
    ll = run(scope, "cache", ttl_s=3600, mode="exact")   # a levers.ledger.LedgerLever
    ttl_sweep(scope), cap_sweep(scope, caps), waterfall(scope, steps, params), availability(scope)

Every figure comes from the engines in simulate/levers; nothing here prices anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.reads import levers as reads
from llmledger.simulate.levers import batching, response, summary
from llmledger.simulate.levers.core import ModelPrices, check_calls, epoch_ms
from llmledger.simulate.levers.ledger import LEVERS, MONTH_DAYS, LedgerLever, _window

#: TTLs the response-cache chart sweeps (seconds)
TTLS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
#: What each lever reads of a call besides its tokens and cost: "text" (the captured messages),
#: "digest" (text or the per-message digests kept under the hash policy), "tokens" (counts only).
NEEDS = {
    "cache": "digest",
    "cache-normalised": "text",
    "agent-cache": "digest",
    "prompt-cache": "text",
    "compress": "text",
    "semantic": "text",
    "memory": "tokens",
    "batch": "tokens",
    "caps": "tokens",
}
LABELS = {
    "cache": "Response cache (exact)",
    "cache-normalised": "Response cache (normalised)",
    "agent-cache": "Agent-call cache",
    "prompt-cache": "Provider prompt caching",
    "compress": "Input compression",
    "semantic": "Semantic cache",
    "memory": "Memory summarisation",
    "batch": "Batch API",
    "caps": "Output caps",
}
NEED_WORDS = {
    "text": "the captured message text",
    "digest": "the message text or its digests (hash policy)",
    "tokens": "token counts and sessions only",
}


@dataclass
class Scope:
    """One window of calls, priced, with the content policy in force."""

    lc: reads.LeverCalls
    prices: dict[str, ModelPrices]
    policy: str

    @property
    def calls(self) -> pd.DataFrame:
        return self.lc.calls

    @property
    def monthly_scale(self) -> float:
        return MONTH_DAYS / self.lc.days

    def features(self) -> list[str]:
        """Features in scope, costliest first."""
        df = self.calls
        cost = df.groupby(df["feature"].fillna("(none)"))["cost_usd"].sum().sort_values(ascending=False, kind="stable")
        return [str(f) for f in cost.index]


def load_scope(con, feature: str | None, days, sheet: str | None, extra_models=()) -> Scope:
    """The calls of `feature` (every feature when None) in the last `days` days, priced under
    `sheet` (default: the active one); `extra_models` are priced too (a summary model)."""
    from llmledger.telemetry.content import policy

    _, lc = _window(con, feature, days, sheet)
    models = set(lc.calls["model"].dropna().unique()) | {m for m in extra_models if m}
    raw = reads.lever_prices(con, lc.sheet, sorted(models))
    return Scope(lc=lc, prices={m: ModelPrices(**p) for m, p in raw.items()}, policy=policy(con))


def run(scope: Scope, lever: str, /, **params) -> LedgerLever:
    """`lever` (a levers.ledger.LEVERS name) on the scope's calls, as apply_lever would."""
    if lever not in LEVERS:
        raise SimulationError(f"unknown lever {lever!r}; levers: {', '.join(LEVERS)}")
    fn, needs_prices = LEVERS[lever]
    if needs_prices:
        params.setdefault("prices", scope.prices)
    return wrap(scope, fn(scope.calls, **params))


#: The page's options per lever (what its form holds), before engine_params turns them into the
#: engine's keyword arguments.
DEFAULT_OPTIONS = {
    "cache": {"ttl_s": 3600.0, "mode": "exact"},
    "agent-cache": {"scope": "trace"},
    "prompt-cache": {"lifetime": "5m", "min_prefix": 1024, "write_multiplier": None},
    "memory": {"k": 4, "summary_tokens": 200, "strategy": "summary", "summary_model": None},
    "compress": {"keep": 0.5, "sample": 5},
    "batch": {"features": [], "where": None},
    "caps": {"quantile": 0.95, "cap_all": None},
}


def engine_params(scope: Scope, lever: str, options: dict) -> dict:
    """The engine's keyword arguments for the page's options: a write multiplier becomes the
    cache-write price (x the input price) of every model; one cap for every feature becomes a
    cap per feature; no tolerant feature picked means every call in scope is moved to batch."""
    p = {**DEFAULT_OPTIONS.get(lever, {}), **options}
    if lever == "prompt-cache":
        mult = p.pop("write_multiplier", None)
        if mult is not None:
            if not mult > 0:
                raise SimulationError(f"the cache-write multiplier must be a positive number (got {mult!r})")
            field = "cache_write" if p["lifetime"] == "5m" else "cache_write_1h"
            p["prices"] = {m: replace(mp, **{field: mp.input * float(mult)}) for m, mp in scope.prices.items()}
    elif lever == "caps":
        cap = p.pop("cap_all", None)
        if cap is not None:
            feats = scope.calls["feature"].fillna("(none)").unique()
            p["caps"] = {f: int(cap) for f in feats}
    elif lever == "batch":
        p["features"] = list(p.get("features") or []) or None
        p["where"] = (p.get("where") or "").strip() or None
    elif lever == "memory" and not p.get("summary_model"):
        p["summary_model"] = None
    return p


def wrap(scope: Scope, result) -> LedgerLever:
    """A LeverResult on the scope's calls as a LedgerLever (window, sheet, monthly scale, notes)."""
    lc = scope.lc
    unpriced = [f"{lc.unpriced:,} calls have no price under sheet {lc.sheet!r} (counted as $0)"] if lc.unpriced else []
    return LedgerLever(
        result=result,
        feature=lc.feature,
        sheet=lc.sheet,
        period_start=lc.start.isoformat(),
        period_end=lc.end.isoformat(),
        days_covered=lc.days,
        notes=lc.notes + unpriced,
    )


def ttl_sweep(scope: Scope, ttls=TTLS, modes=("exact", "normalised")) -> pd.DataFrame:
    """Response-cache hit rate and saving at each TTL, per mode: the engine's keys and TTL
    simulation (response.call_keys, response.ttl_hits), keyed once per mode."""
    df = check_calls(scope.calls)
    t_ms = epoch_ms(df["time"])
    cost = np.nan_to_num(df["cost_usd"].to_numpy(dtype=float))
    ok_status = (df["status"].fillna("ok") == "ok").to_numpy() if "status" in df.columns else np.ones(len(df), bool)
    rows = []
    for mode in modes:
        keys, usable = response.call_keys(df, mode)
        ok = usable & ok_status
        for ttl in ttls:
            hit = np.zeros(len(df), dtype=bool)
            if ok.any():
                hit[ok] = response.ttl_hits(keys[ok], t_ms[ok], int(round(float(ttl) * 1000)))
            saved = float(cost[hit].sum())
            rows.append(
                {
                    "mode": mode,
                    "ttl_s": float(ttl),
                    "ttl": response._ttl_words(float(ttl)),
                    "cacheable_calls": int(ok.sum()),
                    "hits": int(hit.sum()),
                    "hit_rate": float(hit.sum() / ok.sum()) if ok.any() else 0.0,
                    "saving_usd": saved,
                    "monthly_saving_usd": saved * scope.monthly_scale,
                }
            )
    return pd.DataFrame(rows)


def cap_grid(scope: Scope, chosen: int | None = None, points: int = 12) -> list[int]:
    """Caps worth drawing: powers of two from 16 up to the longest answer, and the chosen cap."""
    top = int(scope.calls["output_tokens"].max()) if len(scope.calls) else 16
    grid = [2**i for i in range(4, 20) if 2**i < top * 2][: points + 1] or [16]
    if chosen:
        grid.append(int(chosen))
    return sorted(set(grid))


def cap_sweep(scope: Scope, caps: list[int]) -> pd.DataFrame:
    """Saving of one max_tokens cap on every feature in scope, for each cap (batching.output_caps)."""
    feats = scope.calls["feature"].fillna("(none)").unique() if "feature" in scope.calls else ["all"]
    rows = []
    for c in caps:
        r = batching.output_caps(scope.calls, scope.prices, caps={f: int(c) for f in feats})
        rows.append(
            {
                "cap_tokens": int(c),
                "saving_usd": r.saving_usd,
                "monthly_saving_usd": r.saving_usd * scope.monthly_scale,
                "calls_truncated": int(r.metrics["calls_truncated"]),
                "share_truncated": r.metrics["calls_truncated"] / r.calls if r.calls else 0.0,
            }
        )
    return pd.DataFrame(rows)


def _steps(scope: Scope, steps, params, calls: pd.DataFrame):
    out = []
    for name in steps:
        fn, needs = LEVERS[name]
        kw = dict(params.get(name, {}))
        if name == "batch" and kw.get("features"):
            # as a rule, so that a feature's own run moves only what the chosen features hold
            tolerant = set(kw.pop("features"))
            kw["rule"] = lambda d, t=tolerant: d["feature"].isin(t).to_numpy()
            kw["rule_text"] = "of feature(s) " + ", ".join(sorted(tolerant))
        if needs:
            kw.setdefault("prices", scope.prices)
        out.append((name, lambda d, fn=fn, kw=kw: fn(d, **kw)))
    return out


def waterfall(scope: Scope, steps, params: dict | None = None, top: int = 5) -> dict:
    """Levers applied in sequence (summary.in_sequence) on the whole scope and on each of its
    `top` costliest features alone. Returns {"total": DataFrame(lever, saving_usd,
    monthly_saving_usd, cost_after_usd, calls_after), "baseline_usd", "monthly_baseline_usd",
    "by_feature": DataFrame(feature, lever, monthly_saving_usd)}."""
    params = params or {}
    unknown = [s for s in steps if s not in LEVERS]
    if unknown:
        raise SimulationError(f"unknown lever(s) {', '.join(unknown)}; levers: {', '.join(LEVERS)}")
    s = scope.monthly_scale
    whole = summary.in_sequence(scope.calls, _steps(scope, steps, params, scope.calls))
    total = whole["waterfall"].copy()
    total["monthly_saving_usd"] = total["saving_usd"] * s
    rows = []
    feat = scope.calls["feature"].fillna("(none)")
    for f in scope.features()[:top]:
        part = scope.calls[feat == f].reset_index(drop=True)
        out = summary.in_sequence(part, _steps(scope, steps, params, part))
        for r in out["waterfall"].itertuples():
            rows.append({"feature": f, "lever": r.lever, "monthly_saving_usd": r.saving_usd * s})
    return {
        "baseline_usd": whole["baseline_usd"],
        "monthly_baseline_usd": whole["baseline_usd"] * s,
        "final_usd": whole["final_usd"],
        "monthly_final_usd": whole["final_usd"] * s,
        "total": total,
        "by_feature": pd.DataFrame(rows, columns=["feature", "lever", "monthly_saving_usd"]),
        "results": whole["results"],
    }


def availability(scope: Scope) -> pd.DataFrame:
    """Per lever: what it needs, how many calls in scope carry it, and whether it can run here,
    in words that name the content policy."""
    lc = scope.lc
    n = len(lc.calls)
    digest_only = int((lc.calls["input_text"].isna() & lc.calls["input_hash"].notna()).sum())
    have = {"text": lc.with_text, "digest": lc.with_text + digest_only, "tokens": n}
    rows = []
    for lever, need in NEEDS.items():
        usable = have[need]
        if usable:
            why = f"{usable:,} of {n:,} calls carry {NEED_WORDS[need]}"
        elif need == "tokens":
            why = "no calls in scope"
        else:
            why = f"no call in scope carries {NEED_WORDS[need]}" + _policy_reason(scope.policy, need)
        rows.append(
            {"lever": LABELS[lever], "needs": NEED_WORDS[need], "calls": usable, "works": usable > 0, "why": why}
        )
    return pd.DataFrame(rows)


def _policy_reason(policy: str, need: str) -> str:
    if policy == "drop":
        return ": the content policy is drop (neither text nor digests are stored)"
    if policy == "hash" and need == "text":
        return ": the content policy is hash (only digests are stored; exact repeats still count)"
    return ": the instrumentation sends no message content"


def policy_summary(policy: str) -> str | None:
    """What the content policy in force means for the levers (None under keep)."""
    text_levers = ", ".join(LABELS[k] for k, v in NEEDS.items() if v == "text")
    if policy == "drop":
        digest_levers = ", ".join(LABELS[k] for k, v in NEEDS.items() if v == "digest")
        token_levers = ", ".join(LABELS[k] for k, v in NEEDS.items() if v == "tokens")
        return (
            f"The content policy is drop: new calls keep no text and no digests. {digest_levers}, "
            f"{text_levers} need message content and work only on calls stored before; "
            f"{token_levers} work from token counts and still run."
        )
    if policy == "hash":
        return (
            "The content policy is hash: new calls keep a digest per message, not the text. Exact-repeat levers "
            f"(response cache in exact mode, agent-call cache) still work on the digests; {text_levers} need the text."
        )
    return None
