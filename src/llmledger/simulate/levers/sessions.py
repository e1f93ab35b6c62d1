"""Memory for multi-turn sessions: the full buffer vs a window of the last k turns vs a running
summary plus the window, turn by turn, on the sessions the ledger recorded.

A session's calls (same session_id, in time order) are its turns. An app that sends the full
buffer sends, at turn n, the first turn's input (system prompt and first message) and every
earlier answer and message. From the recorded token counts:

    u_1 = input_1                                   (kept whole by every strategy)
    u_n = max(0, input_n - input_{n-1} - output_{n-1})    the new message of turn n
    p_j = u_j + output_j for j >= 2,  p_1 = output_1       what turn j adds to the history

    full buffer       input_n (as recorded)
    window of k       u_1 + sum of p_j over the last k earlier turns + u_n
    summary + window  the window, plus a summary of S tokens once a turn has left the window;
                      each turn that pushes one out costs a summary call: input = the summary so
                      far + the turn leaving + I instruction tokens, output = S tokens

Only sessions whose input grows turn on turn by at least half the previous answer
(input_n >= input_{n-1} + output_{n-1} / 2, tokenizers and framing differ a little) are treated
as full buffers; others already trim their history and are left as they are. Output tokens do not
change: that the answers stay as good with less history is the risk this lever carries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.levers.core import LeverResult, ModelPrices, check_calls, epoch_ms, price_arrays

STRATEGIES = ("window", "summary")
SUMMARY_INSTRUCTION_TOKENS = 60


def memory(
    calls: pd.DataFrame,
    prices: dict[str, ModelPrices],
    k: int = 4,
    summary_tokens: int = 200,
    strategy: str = "summary",
    summary_model: str | None = None,
    instruction_tokens: int = SUMMARY_INSTRUCTION_TOKENS,
) -> LeverResult:
    """Multi-turn sessions under a window of `k` turns, or a running summary of
    `summary_tokens` tokens plus that window (`strategy`)."""
    if strategy not in STRATEGIES:
        raise SimulationError(f"memory strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
    for what, v, lo in (
        ("window k", k, 1),
        ("summary length", summary_tokens, 1),
        ("instruction", instruction_tokens, 0),
    ):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise SimulationError(f"{what} must be a whole number >= {lo} (got {v!r})")
    if summary_model is not None and summary_model not in prices:
        raise SimulationError(f"summary model {summary_model!r} has no price in the sheet")
    df = check_calls(calls, need=("session_id",)).reset_index(drop=True)
    n = len(df)
    cost = np.nan_to_num(df["cost_usd"].to_numpy(dtype=float))
    p = price_arrays(df, prices, ("input", "output"))
    in_tok, out_tok = df["input_tokens"].to_numpy(), df["output_tokens"].to_numpy()
    win_in = in_tok.astype(float).copy()
    sum_in = in_tok.astype(float).copy()
    sum_call_usd = np.zeros(n)
    turn = np.zeros(n, dtype=np.int64)
    in_session = np.zeros(n, dtype=bool)
    skipped = 0
    sessions = 0
    t = epoch_ms(df["time"])
    for _, idx in df.index[df["session_id"].notna()].groupby(df["session_id"][df["session_id"].notna()]).items():
        idx = np.asarray(idx)
        if len(idx) < 2:
            continue
        idx = idx[np.argsort(t[idx], kind="stable")]
        ins, outs = in_tok[idx].astype(float), out_tok[idx].astype(float)
        if (ins[1:] < ins[:-1] + 0.5 * outs[:-1]).any():  # history not carried whole
            skipped += 1
            continue
        sessions += 1
        in_session[idx] = True
        turn[idx] = np.arange(1, len(idx) + 1)
        u = np.empty_like(ins)
        u[0] = ins[0]
        u[1:] = np.maximum(ins[1:] - ins[:-1] - outs[:-1], 0)
        pairs = u + outs
        pairs[0] = outs[0]
        csum = np.concatenate([[0.0], np.cumsum(pairs)])
        m = np.arange(len(idx))  # 0-based turn index; earlier turns are 0..m-1
        lo = np.maximum(m - k, 0)
        window = u[0] + (csum[m] - csum[lo]) + np.where(m > 0, u, 0)
        window = np.minimum(window, ins)
        dropped = m - k > 0  # some earlier turn has left the window
        summ = np.minimum(window + np.where(dropped, summary_tokens, 0), ins)
        win_in[idx], sum_in[idx] = window, summ
        # one summary call per turn that pushes a turn out of the window (turn m-k-1 leaves)
        smodel = summary_model
        pi = (prices[smodel].input if smodel else None, prices[smodel].output if smodel else None)
        for j in np.flatnonzero(dropped):
            leaving = pairs[j - k - 1]
            s_in = leaving + instruction_tokens + (summary_tokens if j - k - 1 > 0 else 0)
            row = idx[j]
            if smodel:
                sum_call_usd[row] = (s_in * pi[0] + summary_tokens * pi[1]) / 1e6
            else:
                sum_call_usd[row] = s_in * np.nan_to_num(p["input"][row]) + summary_tokens * np.nan_to_num(
                    p["output"][row]
                )
    p_in = np.nan_to_num(p["input"])
    win_cost = cost - (in_tok - win_in) * p_in
    sum_cost = cost - (in_tok - sum_in) * p_in + sum_call_usd
    after = np.where(in_session, win_cost if strategy == "window" else sum_cost, cost)
    per_turn = (
        pd.DataFrame(
            {
                "turn": turn[in_session],
                "full_input_tokens": in_tok[in_session],
                "window_input_tokens": win_in[in_session],
                "summary_input_tokens": sum_in[in_session],
                "full_usd": cost[in_session],
                "window_usd": win_cost[in_session],
                "summary_usd": sum_cost[in_session],
                "summary_call_usd": sum_call_usd[in_session],
            }
        )
        .groupby("turn")
        .agg(
            sessions=("full_usd", "size"),
            full_input_tokens=("full_input_tokens", "mean"),
            window_input_tokens=("window_input_tokens", "mean"),
            summary_input_tokens=("summary_input_tokens", "mean"),
            full_usd=("full_usd", "sum"),
            window_usd=("window_usd", "sum"),
            summary_usd=("summary_usd", "sum"),
            summary_call_usd=("summary_call_usd", "sum"),
        )
        .reset_index()
    )
    notes = []
    if skipped:
        notes.append(
            f"{skipped:,} sessions whose input does not grow turn on turn already trim history: left as they are"
        )
    if not sessions:
        notes.append("no multi-turn session with a growing history: nothing to trim")
    base = float(cost.sum())
    label = f"window of the last {k} turns" + (
        f" + running summary of {summary_tokens} tokens" if strategy == "summary" else ""
    )
    return LeverResult(
        lever="memory",
        title=f"session memory: {label}",
        calls=n,
        baseline_usd=base,
        whatif_usd=float(after.sum()),
        assumptions=[
            f"the first turn's input (system prompt and first message) is always kept; the last {k} turns "
            "(message and answer) are kept whole",
            f"summary length {summary_tokens} tokens (your assumption), rewritten by one call per turn that leaves "
            f"the window: the summary so far + the leaving turn + {instruction_tokens} instruction tokens in, "
            f"{summary_tokens} out, on {summary_model or 'the session’s own model'}"
            if strategy == "summary"
            else "turns that leave the window are forgotten",
            "answers keep their length; whether they stay as good with less history is a risk, not measured",
        ],
        details=per_turn,
        metrics={
            "sessions": sessions,
            "turns": int(in_session.sum()),
            "full_usd": float(cost[in_session].sum()),
            "window_usd": float(win_cost[in_session].sum()),
            "summary_usd": float(sum_cost[in_session].sum()),
            "summary_calls_usd": float(sum_call_usd.sum()),
            "input_tokens_saved": int(round(float((in_tok - (win_in if strategy == "window" else sum_in)).sum()))),
        },
        notes=notes,
        per_call_usd=after,
        input_tokens_after=np.round(win_in if strategy == "window" else sum_in).astype(np.int64),
    )
