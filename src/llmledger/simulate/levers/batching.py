"""Batch APIs and output caps: two levers priced from the sheet, token for token.

Batch API. Calls that can wait (a feature chosen as latency-tolerant, or a rule over the calls)
go through the provider's batch endpoint at the sheet's batch prices (LiteLLM's
`input_cost_per_token_batches` / `output_cost_per_token_batches`, service tier 'batch'; OpenAI
and Anthropic charge half). Answers come back within the batch window (24 hours for both), so
only work nobody waits for belongs there. The what-if keeps each call's tokens and changes its
price: cost x (batch price / standard price) of its input and output parts.

Output caps. A `max_tokens` cap at C on a feature cuts every answer longer than C to C tokens.
The saving is (output - C) x the output price on those calls; the risk is exactly those calls:
their answers would have been truncated (the share of calls over the cap is reported).
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.levers.core import LeverResult, ModelPrices, by_feature_model, check_calls, price_arrays

BATCH_WINDOW_H = 24

#: What a batch rule (`where`) may test: a column of the calls frame, or the UTC hour of the call.
RULE_KEYS = ("feature", "model", "operation", "status", "hour")
RULE_HELP = (
    "clauses KEY=VALUE joined by ';' (all must hold); keys: feature, model, operation, status "
    "(several values: model=a,b) and hour=A-B (UTC hours, A inclusive, B exclusive; 22-6 wraps midnight)"
)


def parse_where(text: str) -> tuple[Callable[[pd.DataFrame], np.ndarray], str]:
    """A batch rule from text such as `hour=0-6; model=gpt-4o-mini,gpt-4o`: a mask function over
    the calls frame and the rule written back canonically. Anything else is refused with the
    clause at fault named."""
    if not isinstance(text, str) or not text.strip():
        raise SimulationError(f"a batch rule is empty; write {RULE_HELP}")
    if len(text) > 2000:
        raise SimulationError(f"a batch rule is {len(text):,} characters long; at most 2,000")
    tests, canon = [], []
    for clause in (c.strip() for c in text.split(";")):
        if not clause:
            continue
        key, sep, value = clause.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not key or not value:
            raise SimulationError(f"batch rule clause {clause!r} is not KEY=VALUE; write {RULE_HELP}")
        if key not in RULE_KEYS:
            raise SimulationError(f"batch rule key {key!r} is unknown; keys: {', '.join(RULE_KEYS)}")
        if key == "hour":
            m = re.fullmatch(r"(\d{1,2})\s*-\s*(\d{1,2})", value)
            a, b = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
            if not (0 <= a <= 23 and 0 <= b <= 24 and a != b % 24):
                raise SimulationError(f"hour must be a range of UTC hours like 0-6 or 22-6 (got {value!r})")
            b %= 24

            def test(d, a=a, b=b):
                h = d["time"].dt.tz_convert("UTC").dt.hour.to_numpy()
                return (h >= a) & (h < b) if a < b else (h >= a) | (h < b)

            canon.append(f"hour={a}-{b}")
        else:
            values = sorted({v.strip() for v in value.split(",") if v.strip()})
            if not values:
                raise SimulationError(f"batch rule clause {clause!r} names no value")

            def test(d, k=key, vs=frozenset(values)):
                if k not in d.columns:
                    raise SimulationError(f"calls have no {k} column: the batch rule cannot test it")
                return d[k].astype("string").isin(vs).fillna(False).to_numpy(dtype=bool)

            canon.append(f"{key}={','.join(values)}")
        tests.append(test)
    if not tests:
        raise SimulationError(f"a batch rule is empty; write {RULE_HELP}")

    def rule(d: pd.DataFrame) -> np.ndarray:
        mask = np.ones(len(d), dtype=bool)
        for t in tests:
            mask &= t(d)
        return mask

    return rule, "; ".join(canon)


def batch_api(
    calls: pd.DataFrame,
    prices: dict[str, ModelPrices],
    features: list[str] | None = None,
    rule: Callable[[pd.DataFrame], np.ndarray] | None = None,
    rule_text: str = "",
    where: str | None = None,
) -> LeverResult:
    """Move the chosen calls (`features`, `rule(calls)` -> bool mask, and/or the text rule `where`
    (parse_where); all calls by default) to the sheet's batch prices."""
    if where:
        text_rule, text = parse_where(where)
        if rule is None:
            rule, rule_text = text_rule, text
        else:
            first = rule
            rule = lambda d: np.asarray(first(d), dtype=bool) & text_rule(d)  # noqa: E731
            rule_text = f"{rule_text} and {text}" if rule_text else text
    df = check_calls(calls).reset_index(drop=True)
    n = len(df)
    chosen = np.ones(n, dtype=bool)
    if features:
        if "feature" not in df.columns:
            raise SimulationError("calls have no feature column: cannot choose calls by feature")
        unknown = sorted(set(features) - set(df["feature"].dropna()))
        if unknown:
            raise SimulationError(f"no calls of feature(s) {', '.join(unknown)}")
        chosen &= df["feature"].isin(features).to_numpy()
    if rule is not None:
        m = np.asarray(rule(df), dtype=bool)
        if m.shape != (n,):
            raise SimulationError(f"a batch rule must give one true/false per call ({n}), got shape {m.shape}")
        chosen &= m
    p = price_arrays(df, prices, ("input", "output", "batch_input", "batch_output"))
    in_tok, out_tok = df["input_tokens"].to_numpy(), df["output_tokens"].to_numpy()
    cost = np.nan_to_num(df["cost_usd"].to_numpy(dtype=float))
    std = in_tok * np.nan_to_num(p["input"]) + out_tok * np.nan_to_num(p["output"])
    has_batch = ~np.isnan(p["batch_input"]) & ~np.isnan(p["batch_output"]) & (std > 0)
    bat = in_tok * np.nan_to_num(p["batch_input"]) + out_tok * np.nan_to_num(p["batch_output"])
    ratio = np.where(has_batch, bat / np.where(std > 0, std, 1.0), 1.0)
    moved = chosen & has_batch
    after = np.where(moved, cost * ratio, cost)
    work = df.assign(_chosen=chosen.astype(np.int64), _moved=moved.astype(np.int64), _cost=cost, _saved=cost - after)
    details = by_feature_model(
        work, {"chosen": "_chosen", "moved": "_moved", "baseline_usd": "_cost", "saved_usd": "_saved"}
    )
    notes = []
    no_batch = sorted(set(df["model"][chosen & ~has_batch]))
    if no_batch:
        notes.append(f"no batch price in the sheet for {', '.join(no_batch)}: those calls stay at standard prices")
    what = (
        " and ".join(
            ([f"feature(s) {', '.join(features)}"] if features else [])
            + (["calls matching " + (rule_text or "a rule")] if rule is not None else [])
        )
        or "all calls"
    )
    base = float(cost.sum())
    return LeverResult(
        lever="batch",
        title=f"batch API for {what}",
        calls=n,
        baseline_usd=base,
        whatif_usd=float(after.sum()),
        assumptions=[
            f"{what} can wait for the batch window ({BATCH_WINDOW_H} h): nobody is waiting on the answer",
            "each call keeps its tokens; its input and output are priced at the sheet's batch prices "
            "(cache discounts and batch discounts are not stacked)",
            "the batch endpoint answers every request (failed batch items are retried at no extra cost)",
        ],
        details=details,
        metrics={"chosen_calls": int(chosen.sum()), "moved_calls": int(moved.sum()), "window_hours": BATCH_WINDOW_H},
        notes=notes,
        per_call_usd=after,
    )


def output_caps(
    calls: pd.DataFrame,
    prices: dict[str, ModelPrices],
    caps: dict[str, int] | None = None,
    quantile: float = 0.95,
) -> LeverResult:
    """A max_tokens cap per feature: `caps` {feature: tokens}, or each feature's `quantile` of
    output tokens (rounded up) where not given."""
    if not 0 < quantile <= 1:
        raise SimulationError(f"cap quantile must be in (0, 1] (got {quantile})")
    df = check_calls(calls).reset_index(drop=True)
    feat = df["feature"].fillna("(none)") if "feature" in df.columns else pd.Series("all", index=df.index)
    caps = dict(caps or {})
    for f, c in caps.items():
        if not isinstance(c, (int, np.integer)) or c < 1:
            raise SimulationError(f"the cap for feature {f!r} must be a whole number of tokens >= 1 (got {c!r})")
    out_tok = df["output_tokens"].to_numpy()
    q = df.groupby(feat.to_numpy())["output_tokens"].quantile(quantile, interpolation="higher")
    cap_of = {f: int(caps.get(f, max(1, int(np.ceil(q[f]))))) for f in q.index}
    cap = feat.map(cap_of).to_numpy(dtype=np.int64)
    cut = np.maximum(out_tok - cap, 0)
    p = price_arrays(df, prices, ("output",))
    cost = np.nan_to_num(df["cost_usd"].to_numpy(dtype=float))
    saved = np.minimum(cut * np.nan_to_num(p["output"]), cost)
    over = cut > 0
    work = df.assign(feature=feat, _over=over.astype(np.int64), _cut=cut, _cost=cost, _saved=saved)
    details = by_feature_model(
        work, {"over_cap": "_over", "tokens_cut": "_cut", "baseline_usd": "_cost", "saved_usd": "_saved"}
    )
    details["cap_tokens"] = details["feature"].map(cap_of)
    details["share_truncated"] = details["over_cap"] / details["calls"]
    given = [f for f in cap_of if f in caps]
    base = float(cost.sum())
    return LeverResult(
        lever="output-caps",
        title="max_tokens caps per feature",
        calls=len(df),
        baseline_usd=base,
        whatif_usd=base - float(saved.sum()),
        assumptions=[
            (f"caps you gave for {', '.join(given)}; " if given else "")
            + f"other features capped at their {quantile:.0%} quantile of output tokens",
            "an answer over its cap stops at the cap and bills exactly the cap; nothing else changes "
            "(the model does not write shorter answers because of a cap)",
            "risk: every call over its cap would have been truncated (share_truncated); whether a "
            "truncated answer is still useful is not measured here",
        ],
        details=details,
        metrics={"caps": cap_of, "calls_truncated": int(over.sum()), "output_tokens_cut": int(cut.sum())},
        per_call_usd=cost - saved,
    )
