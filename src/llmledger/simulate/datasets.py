"""Per-query outcome datasets: for each query, each model's score (0..1) and cost (USD).

Importers: a generic long CSV (one row per query and model, here), RouteLLM's MMLU, GSM8K and
MT-Bench outcome files and FrugalGPT's OVERRULING per-query table (simulate.published). Every
dataset says what its numbers rest on (`score_basis`, `cost_basis`, `notes`): measured in the
source, priced here from token counts with a sheet, or priced from the source paper's published
per-token prices. The dataset type itself lives in simulate.outcomes; it is re-exported here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmledger.errors import SimulationError
from llmledger.simulate.outcomes import (  # noqa: F401  (re-exported)
    DATA_DIR,
    TRUE_WORDS,
    OutcomeDataset,
    _read_bytes,
    _read_text,
    price_tokens,
)
from llmledger.simulate.published import (  # noqa: F401  (re-exported)
    COUNT_TOKENIZER,
    FRUGALGPT_SOURCE,
    ROUTELLM_SOURCE,
    ROUTELLM_STRONG,
    ROUTELLM_USD_PER_MTOK,
    ROUTELLM_WEAK,
    frugalgpt_summary,
    load_frugalgpt,
    load_routellm_gsm8k,
    load_routellm_mmlu,
    load_routellm_mtbench,
)

FORMATS = ("auto", "long", "routellm-mmlu", "routellm-gsm8k", "routellm-mtbench", "frugalgpt")


@dataclass(frozen=True)
class BuiltinDataset:
    """One shipped example: `key` for load_builtin, the file it reads, what it holds."""

    key: str
    title: str
    path: Path
    fmt: str
    description: str


def builtin_datasets() -> list[BuiltinDataset]:
    """The examples shipped in data/routing (copied from ../shared/data/routing)."""
    r, f = DATA_DIR / "routellm", DATA_DIR / "frugalgpt"
    return [
        BuiltinDataset(
            "routellm-mmlu",
            "RouteLLM MMLU (GPT-4 vs Mixtral, 14,042 questions)",
            r / "mmlu",
            "routellm-mmlu",
            "0/1 correctness of GPT-4-1106 and Mixtral-8x7B on MMLU's 57 subjects; cost priced at RouteLLM's "
            "published $/M tokens from counted prompt tokens",
        ),
        BuiltinDataset(
            "routellm-gsm8k",
            "RouteLLM GSM8K (GPT-4 vs Mixtral, 1,319 problems)",
            r / "gsm8k",
            "routellm-gsm8k",
            "0/1 correctness with both models' full answers; cost priced at RouteLLM's $/M tokens from the "
            "counted problem and answer tokens",
        ),
        BuiltinDataset(
            "routellm-mtbench",
            "RouteLLM MT-Bench (GPT-4 vs Mixtral, 80 questions, GPT-4 judge)",
            r / "mt_bench",
            "routellm-mtbench",
            "GPT-4-judge scores (1-10, both turns averaged, shown /10) per question; cost priced at RouteLLM's "
            "$/M tokens from the counted conversation tokens",
        ),
        BuiltinDataset(
            "frugalgpt-overruling",
            "FrugalGPT OVERRULING (12 APIs, 2,160 queries)",
            f / "overruling_per_query.csv.gz",
            "frugalgpt",
            "0/1 correctness and the USD cost FrugalGPT recorded for each of 12 commercial APIs (2023 prices)",
        ),
    ]


def load_builtin(key: str) -> OutcomeDataset:
    """Load a shipped example by key (see builtin_datasets)."""
    for b in builtin_datasets():
        if b.key == key:
            return load_dataset(b.path, fmt=b.fmt)
    raise SimulationError(f"no built-in dataset {key!r} (have: {', '.join(b.key for b in builtin_datasets())})")


# ---------------------------------------------------------------------- dispatch
def detect_format(path: Path) -> str:
    """Guess the format of `path` from its name and first line."""
    name = path.name.lower()
    if path.is_dir():
        if (path / "responses").is_dir() or any(path.glob("mmlu_*.csv*")):
            return "routellm-mmlu"
        if any(path.glob("gsm8k_responses.csv*")):
            return "routellm-gsm8k"
        if any(path.glob("judgements.jsonl*")):
            return "routellm-mtbench"
        raise SimulationError(f"{path}: a folder, but not one of RouteLLM's mmlu, gsm8k or mt_bench folders")
    if name.startswith("gsm8k_responses"):
        return "routellm-gsm8k"
    if name.startswith("judgements.jsonl"):
        return "routellm-mtbench"
    if name.startswith("mmlu_"):
        return "routellm-mmlu"
    head = _read_text(path)[:4096].splitlines()
    first = head[0] if head else ""
    if "ref_answer" in first and "_cost" in first:
        return "frugalgpt"
    cols = [c.strip().strip('"').lower() for c in first.split(",")]
    if "prompt" in cols and "query_id" not in cols:
        return "routellm-gsm8k"  # a RouteLLM response file: prompt, one True/False column per model
    return "long"


def load_dataset(
    path: str | Path,
    fmt: str = "auto",
    sheet: Any = None,
    con: Any = None,
    strong: str | None = None,
    weak: str | None = None,
) -> OutcomeDataset:
    """Read an outcome dataset from a file or folder.

    fmt: one of FORMATS ("auto" guesses from the name and header). `sheet` (a sheet name, or a
    pricing Sheet; with `con` for sheets kept in the ledger) prices a long CSV's token columns.
    `strong`/`weak`, when given, must name models of the dataset (checked here so that a typo
    fails early with the list of models)."""
    p = Path(path)
    if not p.exists():
        raise SimulationError(f"{p}: no such file or folder")
    if fmt not in FORMATS:
        raise SimulationError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
    try:
        ds = _load(p, fmt, sheet, con)
    except SimulationError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, pd.errors.ParserError) as exc:
        # malformed content the format's reader choked on: name the file and the format
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SimulationError(f"{p}: not a readable {fmt} dataset ({first[:200]})") from None
    for m in (strong, weak):
        if m is not None:
            ds.index(m)
    return ds


def _load(p: Path, fmt: str, sheet: Any, con: Any) -> OutcomeDataset:
    if fmt == "auto":
        fmt = detect_format(p)
    if fmt == "long":
        if p.is_dir():
            raise SimulationError(f"{p}: a long CSV is a file, not a folder")
        ds = parse_long_csv(_read_bytes(p), name=p.name, sheet=sheet, con=con)
    elif fmt == "frugalgpt":
        ds = load_frugalgpt(p)
    elif fmt == "routellm-mmlu":
        ds = load_routellm_mmlu(p, sheet, con)
    elif fmt == "routellm-gsm8k":
        ds = load_routellm_gsm8k(p, sheet, con)
    else:
        ds = load_routellm_mtbench(p, sheet, con)
    return ds


# ---------------------------------------------------------------------- generic long CSV
LONG_COLUMNS = "query_id, model, correct or score, and cost_usd or input_tokens + output_tokens"


def parse_long_csv(data: bytes | str, name: str = "upload", sheet: Any = None, con: Any = None) -> OutcomeDataset:
    """A long CSV: one row per (query, model) with `query_id`, `model`, `correct` (0/1, true/false)
    or `score` (0..1), and `cost_usd` or `input_tokens` + `output_tokens` (priced with `sheet`,
    default LiteLLM's). Optional: `query` (text), `latency_ms`, and `router_<name>` columns (an
    imported router score per query, higher = strong model). Every query must have a row for
    every model, once."""
    try:
        text = data.decode("utf-8-sig", errors="strict") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise SimulationError(f"{name}: not UTF-8 text") from None
    if not text.strip():
        raise SimulationError(f"{name}: the file is empty")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise SimulationError(f"{name}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if df.empty:
        raise SimulationError(f"{name}: a header but no rows")
    cols = set(df.columns)
    missing = [c for c in ("query_id", "model") if c not in cols]
    if not ({"correct", "score"} & cols):
        missing.append("correct (or score)")
    if "cost_usd" not in cols and not {"input_tokens", "output_tokens"} <= cols:
        missing.append("cost_usd (or input_tokens and output_tokens)")
    if missing:
        raise SimulationError(f"{name}: missing column(s) {', '.join(missing)}; a long CSV needs {LONG_COLUMNS}")
    df["query_id"] = df["query_id"].str.strip()
    df["model"] = df["model"].str.strip()
    blank = df[(df["query_id"] == "") | (df["model"] == "")]
    if len(blank):
        raise SimulationError(f"{name}: row {blank.index[0] + 2} has an empty query_id or model")
    dup = df.duplicated(["query_id", "model"], keep=False)
    if dup.any():
        r = df[dup].iloc[0]
        raise SimulationError(f"{name}: query {r['query_id']!r} has more than one row for model {r['model']!r}")
    models = list(dict.fromkeys(df["model"]))
    if len(models) < 2:
        raise SimulationError(f"{name}: only one model ({models[0]}); a what-if needs at least two")
    qids = list(dict.fromkeys(df["query_id"]))
    per_query = df.groupby("query_id", sort=False)["model"].agg(set)
    full = set(models)
    ragged = per_query[per_query.apply(len) != len(full)]
    if len(ragged):
        q = ragged.index[0]
        lacking = sorted(full - ragged.iloc[0])
        raise SimulationError(
            f"{name}: query {q!r} has no row for model(s) {', '.join(lacking)}; every query needs every model"
        )
    qi = pd.Index(qids).get_indexer(df["query_id"])
    mi = pd.Index(models).get_indexer(df["model"])

    def grid(values: np.ndarray) -> np.ndarray:
        out = np.full((len(qids), len(models)), np.nan)
        out[qi, mi] = values
        return out

    score_col = "score" if "score" in cols and "correct" not in cols else "correct"
    scores = grid(_numbers(df, score_col, name, words=True))
    if score_col == "correct":
        bad = ~np.isin(scores, (0.0, 1.0))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise SimulationError(
                f"{name}: correct must be 0/1 or true/false (model {models[j]!r}, query {qids[i]!r} has {scores[i, j]:g}); "
                "use a score column for graded results"
            )
    notes: list[str] = []
    if "cost_usd" in cols and (df["cost_usd"].str.strip() != "").all():
        costs = grid(_numbers(df, "cost_usd", name))
        cost_basis = "cost_usd as given in the file"
        measured = True
    else:
        if not {"input_tokens", "output_tokens"} <= cols:
            raise SimulationError(f"{name}: cost_usd is empty on some rows and there are no token columns to price")
        tin, tout = _numbers(df, "input_tokens", name), _numbers(df, "output_tokens", name)
        if (tin < 0).any() or (tout < 0).any():
            raise SimulationError(f"{name}: negative token counts")
        usd, sheet_name, priced_as = price_tokens(df["model"].to_numpy(), tin, tout, sheet=sheet, con=con)
        costs = grid(usd)
        cost_basis = f"input_tokens and output_tokens from the file, priced with sheet {sheet_name!r}"
        measured = False
        notes += [f"{m!r} priced as {p!r}" for m, p in priced_as.items() if m != p]
    latency = grid(_numbers(df, "latency_ms", name)) if "latency_ms" in cols else None
    queries = None
    if "query" in cols:
        first = df.groupby("query_id", sort=False)["query"].first()
        queries = [str(first[q]) for q in qids]
    router_scores = {}
    for c in sorted(c for c in cols if c.startswith("router_")):
        vals = pd.Series(_numbers(df, c, name), index=df["query_id"])
        spread = vals.groupby(level=0).agg(lambda s: s.max() - s.min())
        if (spread > 1e-12).any():
            raise SimulationError(
                f"{name}: column {c} differs between models of query {spread[spread > 1e-12].index[0]!r}; a router score is one number per query"
            )
        router_scores[c.removeprefix("router_")] = vals.groupby(level=0).first().reindex(qids).to_numpy()
    ignored = sorted(
        cols
        - {"query_id", "model", "correct", "score", "cost_usd", "input_tokens", "output_tokens", "query", "latency_ms"}
        - {c for c in cols if c.startswith("router_")}
    )
    if ignored:
        notes.append(f"ignored column(s): {', '.join(ignored)}")
    return OutcomeDataset(
        name=name,
        source=f"uploaded file {name}",
        query_ids=qids,
        models=models,
        scores=scores,
        costs=costs,
        score_basis=f"{score_col} column of the file",
        cost_basis=cost_basis,
        latency_ms=latency,
        queries=queries,
        router_scores=router_scores,
        cost_measured=measured,
        notes=notes,
    )


def _numbers(df: pd.DataFrame, col: str, name: str, words: bool = False) -> np.ndarray:
    raw = df[col].astype(str).str.strip()
    if words:
        raw = raw.map(lambda s: str(TRUE_WORDS.get(s.lower(), s)))
    vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(vals)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        got = df[col].iloc[i]
        raise SimulationError(
            f"{name}: {col} on row {i + 2} is {'empty' if not str(got).strip() else repr(got)}, not a number"
        )
    return vals
