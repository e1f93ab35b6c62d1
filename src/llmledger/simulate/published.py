"""The published outcome data: RouteLLM's MMLU, GSM8K and MT-Bench files (correctness only, so
cost is priced here from counted tokens at the paper's prices) and FrugalGPT's per-query
OVERRULING table and summary curves (cost as FrugalGPT recorded it)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.outcomes import (
    DATA_DIR,
    TRUE_WORDS,
    OutcomeDataset,
    _check_columns,
    _read_text,
    price_tokens,
)

#: RouteLLM's paper (Ong et al. 2024, arXiv 2406.18665, section 5) prices GPT-4 at $24.7 and
#: Mixtral-8x7B at $0.24 per million tokens (input and output blended). Its outcome files carry
#: no cost, so the built-in RouteLLM datasets are priced with these and token counts.
ROUTELLM_USD_PER_MTOK = {"gpt-4-1106-preview": 24.7, "mistralai/Mixtral-8x7B-Instruct-v0.1": 0.24}
ROUTELLM_STRONG, ROUTELLM_WEAK = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
ROUTELLM_SOURCE = "lm-sys/RouteLLM routellm/evals @ 0b64fdaf (Apache-2.0); Ong et al., arXiv 2406.18665"
FRUGALGPT_SOURCE = (
    "FrugalGPT OVERRULING per-query results (Chen, Zaharia, Zou, arXiv 2305.05176; Apache-2.0) as "
    "redistributed by superyue72/OptLLM @ 2bb10df5"
)
#: Tokenizer used to count the RouteLLM texts (GPT-4's; Mixtral's own tokenizer is not bundled).
COUNT_TOKENIZER = "cl100k_base"


def _first(folder: Path, *names: str) -> Path:
    for n in names:
        for cand in (folder / n, folder / (n + ".gz")):
            if cand.is_file():
                return cand
    raise SimulationError(f"{folder}: missing {names[0]}")


# ---------------------------------------------------------------------- FrugalGPT
def load_frugalgpt(path: Path) -> OutcomeDataset:
    """FrugalGPT's per-query table: `query`, and for each API `<model>` (0/1 correct) and
    `<model>_cost` (USD, as FrugalGPT recorded it with 2023 prices)."""
    text = _read_text(path)
    df = pd.read_csv(io.StringIO(text))
    models = [c[: -len("_cost")] for c in df.columns if c.endswith("_cost") and c[: -len("_cost")] in df.columns]
    if len(models) < 2:
        raise SimulationError(f"{path}: not a FrugalGPT per-query table (need <model> and <model>_cost columns)")
    if "query" not in df.columns:
        raise SimulationError(f"{path}: FrugalGPT table without a query column")
    ids = (
        df[df.columns[0]].astype(str).tolist()
        if df.columns[0].startswith("Unnamed")
        else [str(i) for i in range(len(df))]
    )
    return OutcomeDataset(
        name="FrugalGPT OVERRULING" if "overruling" in path.name.lower() else f"FrugalGPT {path.name}",
        source=FRUGALGPT_SOURCE,
        query_ids=ids,
        models=models,
        scores=df[models].to_numpy(dtype=float),
        costs=df[[m + "_cost" for m in models]].to_numpy(dtype=float),
        score_basis="exact match of each API's answer with the reference (FrugalGPT's 0/1)",
        cost_basis="measured: the USD FrugalGPT recorded per query and API (2023 list prices x tokens)",
        queries=(df["content"] if "content" in df.columns else df["query"]).fillna("").astype(str).tolist(),
        answers={m: df[m + "_answer"].fillna("").astype(str).tolist() for m in models if m + "_answer" in df.columns},
        cost_measured=True,
        notes=[
            "FrugalGPT split these 2,160 queries 50/50 into train and test; its published points are on the test half"
        ],
    )


# ---------------------------------------------------------------------- RouteLLM
def _contaminated(folder: Path) -> set[str]:
    p = folder / "contaminated_prompts.jsonl"
    if not p.is_file():
        return set()
    return {json.loads(line)["eval_prompt"] for line in p.read_text(encoding="utf-8").splitlines() if line.strip()}


def _token_counts(texts: list[str]) -> np.ndarray:
    from llmledger.tokens import get

    return np.asarray(get(COUNT_TOKENIZER).count_batch(list(texts)), dtype=float)


def _routellm_models(df: pd.DataFrame, where: Any) -> list[str]:
    """The model columns of a RouteLLM response file: everything but the prompt, the answers
    (`<model>_response`) and bookkeeping columns."""
    if "prompt" not in df.columns:
        raise SimulationError(
            f"{where}: missing column prompt (a RouteLLM response file has prompt and one column per model)"
        )
    skip = {"prompt", "subject"}
    models = [
        str(c)
        for c in df.columns
        if c not in skip and not str(c).endswith("_response") and not str(c).startswith("Unnamed")
    ]
    if len(models) < 2:
        raise SimulationError(f"{where}: {len(models)} model column(s); a what-if needs at least two")
    return models


def _correct_matrix(df: pd.DataFrame, models: list[str], where: Any) -> np.ndarray:
    out = np.empty((len(df), len(models)))
    for j, m in enumerate(models):
        col = df[m].map(lambda v: TRUE_WORDS.get(str(v).strip().lower(), v))
        vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isin(vals, (0.0, 1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SimulationError(f"{where}: column {m!r} row {i + 2} is {df[m].iloc[i]!r}, not True/False")
        out[:, j] = vals
    return out


def _routellm_costs(
    in_tokens: np.ndarray, out_tokens: np.ndarray, models: list[str], sheet: Any = None, con: Any = None
) -> tuple[np.ndarray, str]:
    """USD per query and model: RouteLLM's blended price per token for its two models, the
    default price sheet for any other model (input and output priced apart). Returns (costs,
    what they rest on)."""
    costs = np.empty(out_tokens.shape)
    others = []
    for j, m in enumerate(models):
        if m in ROUTELLM_USD_PER_MTOK:
            costs[:, j] = (in_tokens + out_tokens[:, j]) * ROUTELLM_USD_PER_MTOK[m] / 1e6
        else:
            usd, sheet_name, _ = price_tokens(
                np.full(len(in_tokens), m, dtype=object), in_tokens, out_tokens[:, j], sheet=sheet, con=con
            )
            costs[:, j] = usd
            others.append(m)
    basis = ""
    if len(others) < len(models):
        basis = (
            "RouteLLM's published blended prices (GPT-4 "
            f"${ROUTELLM_USD_PER_MTOK[ROUTELLM_STRONG]}/M, Mixtral ${ROUTELLM_USD_PER_MTOK[ROUTELLM_WEAK]}/M tokens)"
        )
    if others:
        basis += ("; " if basis else "") + f"sheet {sheet_name!r} for {', '.join(others)}"
    return costs, basis


def _routellm_cost_basis(what: str, prices: str) -> str:
    return f"assumed: {what} counted with {COUNT_TOKENIZER}, priced at {prices}; the source records correctness only"


def load_routellm_mmlu(path: Path, sheet: Any = None, con: Any = None) -> OutcomeDataset:
    """RouteLLM's MMLU outcomes: `responses/mmlu_<subject>.csv` with `prompt` and one True/False
    column per model. Cost: prompt tokens + 1 answer token per call (an MMLU answer is a letter)."""
    folder = path if path.is_dir() else path.parent
    files = sorted(folder.glob("responses/mmlu_*.csv*")) or sorted(folder.glob("mmlu_*.csv*"))
    if path.is_file():
        files = [path]
    if not files:
        raise SimulationError(f"{path}: no mmlu_<subject>.csv files")
    frames = []
    for f in files:
        d = pd.read_csv(io.StringIO(_read_text(f)), dtype=str, keep_default_na=False)
        d["subject"] = f.name.split(".")[0].removeprefix("mmlu_")
        frames.append(d)
    df = pd.concat(frames, ignore_index=True)
    models = _routellm_models(df, path)
    scores = _correct_matrix(df, models, path)
    contaminated = _contaminated(folder) | _contaminated(folder.parent)
    p_tok = _token_counts(df["prompt"].astype(str).tolist())
    costs, prices = _routellm_costs(p_tok, np.ones((len(df), len(models))), models, sheet, con)
    return OutcomeDataset(
        name="RouteLLM MMLU" if len(files) > 1 else f"RouteLLM {files[0].name.split('.')[0]}",
        source=ROUTELLM_SOURCE,
        query_ids=[f"{s}/{i}" for s, i in zip(df["subject"], df.groupby("subject").cumcount())],
        models=models,
        scores=scores,
        costs=costs,
        score_basis="measured: 0/1 correctness from RouteLLM's response files",
        cost_basis=_routellm_cost_basis("prompt tokens + 1 answer token", prices),
        queries=df["prompt"].astype(str).tolist(),
        groups=df["prompt"].astype(str).to_numpy(),
        flags={"contaminated": df["prompt"].isin(contaminated).to_numpy()},
        cost_measured=False,
        notes=[
            f"{int(df['prompt'].isin(contaminated).sum())} prompts RouteLLM drops as contaminated (flag 'contaminated')"
        ],
    )


def load_routellm_gsm8k(path: Path, sheet: Any = None, con: Any = None) -> OutcomeDataset:
    """RouteLLM's GSM8K outcomes: `prompt`, True/False per model and (optionally) each model's
    full answer in `<model>_response`. Cost: problem tokens + that model's answer tokens."""
    f = _first(path, "gsm8k_responses.csv") if path.is_dir() else path
    df = pd.read_csv(io.StringIO(_read_text(f)), dtype=str, keep_default_na=False)
    models = _routellm_models(df, f)
    scores = _correct_matrix(df, models, f)
    prompts = df["prompt"].astype(str).tolist()
    p_tok = _token_counts(prompts)
    answers = {m: df[m + "_response"].astype(str).tolist() for m in models if m + "_response" in df.columns}
    out_tok = np.column_stack([_token_counts(answers[m]) if m in answers else np.ones(len(df)) for m in models])
    costs, prices = _routellm_costs(p_tok, out_tok, models, sheet, con)
    contaminated = _contaminated(f.parent)
    what = "problem tokens + each model's own answer tokens" if answers else "problem tokens + 1 answer token"
    return OutcomeDataset(
        name="RouteLLM GSM8K" if f.name.startswith("gsm8k") else f"RouteLLM {f.name.split('.')[0]}",
        source=ROUTELLM_SOURCE,
        query_ids=[str(i) for i in range(len(df))],
        models=models,
        scores=scores,
        costs=costs,
        score_basis="measured: 0/1 correctness from RouteLLM's response file",
        cost_basis=_routellm_cost_basis(what, prices),
        queries=prompts,
        answers=answers,
        groups=np.asarray(prompts),
        flags={"contaminated": df["prompt"].isin(contaminated).to_numpy()},
        cost_measured=False,
        notes=[
            f"{int(df['prompt'].isin(contaminated).sum())} problems RouteLLM drops as contaminated (flag 'contaminated')"
        ],
    )


CONVERSATION_START = "<|The Start of Assistant A's Conversation with User|>"
CONVERSATION_END = "<|The End of Assistant A's Conversation with User|>"


def load_routellm_mtbench(path: Path, sheet: Any = None, con: Any = None) -> OutcomeDataset:
    """RouteLLM's MT-Bench judgements: a GPT-4 judge's 1-10 score per question, turn and model.
    A query is a question; its score is the mean of its two turns' scores / 10 (RouteLLM routes a
    whole question on its first turn and averages over turns)."""
    folder = path if path.is_dir() else path.parent
    f = _first(folder, "judgements.jsonl") if path.is_dir() else path
    rows = [json.loads(line) for line in _read_text(f).splitlines() if line.strip()]
    if not rows:
        raise SimulationError(f"{f}: no judgements")
    j = pd.DataFrame(rows)
    _check_columns(j, ["question_id", "model", "score", "turn", "user_prompt"], f)
    j["score"] = pd.to_numeric(j["score"], errors="coerce")
    if j["score"].isna().any() or (j["score"] > 10).any():
        raise SimulationError(f"{f}: judgement scores must be numbers from 1 to 10 (or -1 for a failed judgement)")
    j = j[j["score"] >= 0]  # FastChat's -1 marks a judgement that failed to parse
    present = list(dict.fromkeys(j["model"].astype(str)))
    models = [m for m in (ROUTELLM_WEAK, ROUTELLM_STRONG) if m in present] + [
        m for m in present if m not in (ROUTELLM_WEAK, ROUTELLM_STRONG)
    ]
    qids = sorted(j["question_id"].astype(int).unique())
    mean = j.groupby(["question_id", "model"])["score"].mean().unstack("model")
    mean.index = mean.index.astype(int)
    mean = mean.reindex(qids)
    # Token count: the whole conversation (both questions and this model's answers) as the
    # judge saw it on the multi-turn judgement; falls back to the single-turn one.
    j["conv"] = j["user_prompt"].astype(str).map(_conversation)
    j["conv_len"] = j["conv"].str.len()
    longest = j.sort_values("conv_len").groupby(["question_id", "model"])["conv"].last().unstack("model")
    longest.index = longest.index.astype(int)
    longest = longest.reindex(qids)
    tokens = np.column_stack([_token_counts(longest[m].fillna("").tolist()) for m in models])
    if mean[models].isna().any().any():
        q = mean.index[mean[models].isna().any(axis=1)][0]
        raise SimulationError(f"{f}: question {q} has no judgement for some model; every question needs every model")
    costs, prices = _routellm_costs(np.zeros(len(qids)), tokens, models, sheet, con)
    texts, category = {}, {}
    qfile = folder / "question.jsonl"
    if qfile.is_file():
        for line in qfile.read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line)
                texts[int(q["question_id"])] = q["turns"]
                category[int(q["question_id"])] = q.get("category", "")
    contaminated = _contaminated(folder)
    flags = np.array([any(t in contaminated for t in texts.get(q, [])) for q in qids])
    return OutcomeDataset(
        name="RouteLLM MT-Bench",
        source=ROUTELLM_SOURCE,
        query_ids=[str(q) for q in qids],
        models=models,
        scores=mean[models].to_numpy(dtype=float) / 10.0,
        costs=costs,
        score_basis="measured: GPT-4-judge score (1-10) per question, both turns averaged, divided by 10",
        cost_basis=_routellm_cost_basis("conversation tokens (questions + this model's answers)", prices),
        queries=[texts[q][0] if q in texts else "" for q in qids] if texts else None,
        flags={"contaminated": flags},
        score_scale=10.0,
        score_unit="MT-Bench score",
        cost_measured=False,
        notes=[
            f"{int(flags.sum())} questions RouteLLM drops as contaminated (flag 'contaminated')",
            "routing is per question on its first turn, as RouteLLM does",
        ],
    )


def _conversation(prompt: str) -> str:
    a = prompt.find(CONVERSATION_START)
    b = prompt.find(CONVERSATION_END)
    if a >= 0 and b > a:
        return prompt[a + len(CONVERSATION_START) : b]
    return prompt


# ---------------------------------------------------------------------- FrugalGPT's published curves
def frugalgpt_summary(dataset: str = "OVERRULING") -> pd.DataFrame:
    """FrugalGPT's published points (summary_<DATASET>_*.csv): Test_acc, Test_cost (USD per
    query), Budget, Method, for the FrugalGPT cascade and each single API."""
    files = sorted((DATA_DIR / "frugalgpt" / "summary").glob(f"summary_{dataset.upper()}_*.csv"))
    if not files:
        raise SimulationError(f"no FrugalGPT summary for {dataset!r}")
    df = pd.read_csv(files[0])
    return df.drop(columns=[c for c in df.columns if c.startswith("Unnamed")])
