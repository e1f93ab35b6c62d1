"""Levers applied one after another, so overlapping savings are counted once (a waterfall).

Each step runs on what the previous steps left: calls a cache answered are gone, costs are the
previous step's what-if costs, input tokens are what memory trimming or compression left. A
lever's saving in the waterfall is therefore its *extra* saving on top of the ones before it, and
the sum of the steps equals baseline minus the final cost. The order matters (the default puts
levers that remove calls first, then those that shrink them, then those that reprice them).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.levers.core import LeverResult, check_calls

#: name, in the default order
DEFAULT_ORDER = ("response-cache", "agent-cache", "memory", "compress", "prompt-cache", "output-caps", "batch")


def in_sequence(calls: pd.DataFrame, steps: list[tuple[str, Callable[[pd.DataFrame], LeverResult]]]) -> dict:
    """Run `steps` [(name, lever(calls) -> LeverResult)] in order on what each leaves.
    Returns {"baseline_usd", "final_usd", "steps": [...], "waterfall": DataFrame, "results"}."""
    if not steps:
        raise SimulationError("choose at least one lever for the savings summary")
    names = [n for n, _ in steps]
    if len(set(names)) != len(names):
        raise SimulationError(f"a lever appears twice in the sequence: {names}")
    df = check_calls(calls).reset_index(drop=True)
    baseline = float(np.nan_to_num(df["cost_usd"].to_numpy(dtype=float)).sum())
    current = df
    rows, results = [], {}
    before = baseline
    for name, lever in steps:
        if current.empty:
            rows.append({"lever": name, "saving_usd": 0.0, "cost_after_usd": before, "calls_after": 0})
            continue
        r = lever(current)
        if r.per_call_usd is None or len(r.per_call_usd) != len(current):
            raise SimulationError(f"lever {name!r} gives no per-call costs: it cannot be applied in sequence")
        nxt = current.copy()
        nxt["cost_usd"] = r.per_call_usd
        if r.input_tokens_after is not None:
            nxt["input_tokens"] = r.input_tokens_after
            if "cache_read_tokens" in nxt.columns:
                nxt["cache_read_tokens"] = np.minimum(nxt["cache_read_tokens"].fillna(0), r.input_tokens_after)
        if r.removed is not None:
            nxt = nxt[~r.removed].reset_index(drop=True)
        after = float(np.nan_to_num(nxt["cost_usd"].to_numpy(dtype=float)).sum())
        rows.append({"lever": name, "saving_usd": before - after, "cost_after_usd": after, "calls_after": len(nxt)})
        results[name] = r
        before, current = after, nxt
    wf = pd.DataFrame(rows)
    return {
        "baseline_usd": baseline,
        "final_usd": before,
        "saving_usd": baseline - before,
        "waterfall": wf,
        "results": results,
    }
