"""Per-query outcome datasets: for each query, each model's score (0..1) and cost (USD).

Importers: a generic long CSV (one row per query and model), RouteLLM's MMLU, GSM8K and MT-Bench
outcome files and FrugalGPT's OVERRULING per-query table. Every dataset says what its numbers rest
on (`score_basis`, `cost_basis`, `notes`): measured in the source, priced here from token counts
with a sheet, or priced from the source paper's published per-token prices.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmledger.config import PROJECT_ROOT
from llmledger.errors import SimulationError

#: Where the shipped examples live (copies of ../shared/data/routing, see data/routing/README.md).
DATA_DIR = PROJECT_ROOT / "data" / "routing"

FORMATS = ("auto", "long", "routellm-mmlu", "routellm-gsm8k", "routellm-mtbench", "frugalgpt")

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


@dataclass
class OutcomeDataset:
    """Outcomes of `models` on `query_ids`: `scores[i, j]` is model j's score on query i (0..1:
    correctness 0/1 or a graded score), `costs[i, j]` what that call cost in USD.

    Optional: `latency_ms` (same shape), `queries` (the text, for learned routers), `router_scores`
    (imported per-query router scores, higher = send to the strong model), `answers` ({model: the
    answer text per query}, features for a cascade's scorer), `groups` (queries with
    the same group never go to different cross-validation folds), `flags` (per-query booleans, e.g.
    "contaminated" for RouteLLM's decontamination). `score_scale` turns a 0..1 score back into
    the benchmark's own unit (MT-Bench: 10)."""

    name: str
    source: str
    query_ids: list[str]
    models: list[str]
    scores: np.ndarray
    costs: np.ndarray
    score_basis: str
    cost_basis: str
    latency_ms: np.ndarray | None = None
    queries: list[str] | None = None
    router_scores: dict[str, np.ndarray] = field(default_factory=dict)
    answers: dict[str, list[str]] = field(default_factory=dict)
    groups: np.ndarray | None = None
    flags: dict[str, np.ndarray] = field(default_factory=dict)
    score_scale: float = 1.0
    score_unit: str = "accuracy"
    cost_measured: bool = True
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=float)
        self.costs = np.asarray(self.costs, dtype=float)
        n, m = len(self.query_ids), len(self.models)
        if n == 0:
            raise SimulationError(f"{self.name}: no queries")
        if m < 2:
            raise SimulationError(
                f"{self.name}: only one model ({', '.join(self.models)}); a what-if needs at least two"
            )
        if len(set(self.models)) != m:
            raise SimulationError(f"{self.name}: model names repeat")
        for what, arr in (("scores", self.scores), ("costs", self.costs), ("latency_ms", self.latency_ms)):
            if arr is None:
                continue
            if arr.shape != (n, m):
                raise SimulationError(f"{self.name}: {what} has shape {arr.shape}, expected ({n}, {m})")
            if not np.isfinite(arr).all():
                i, j = np.argwhere(~np.isfinite(arr))[0]
                raise SimulationError(
                    f"{self.name}: {what} missing for query {self.query_ids[i]!r}, model {self.models[j]!r}"
                )
        if self.latency_ms is not None:
            self.latency_ms = np.asarray(self.latency_ms, dtype=float)
        bad = (self.scores < 0) | (self.scores > 1)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise SimulationError(
                f"{self.name}: score {self.scores[i, j]:g} of model {self.models[j]!r} on query "
                f"{self.query_ids[i]!r} is outside 0..1"
            )
        if (self.costs < 0).any():
            i, j = np.argwhere(self.costs < 0)[0]
            raise SimulationError(
                f"{self.name}: negative cost for model {self.models[j]!r} on query {self.query_ids[i]!r}"
            )
        if self.queries is not None and len(self.queries) != n:
            raise SimulationError(f"{self.name}: {len(self.queries)} query texts for {n} queries")
        for key, arr in list(self.router_scores.items()):
            arr = np.asarray(arr, dtype=float)
            if arr.shape != (n,) or not np.isfinite(arr).all():
                raise SimulationError(f"{self.name}: router score {key!r} needs one finite number per query")
            self.router_scores[key] = arr

    # ------------------------------------------------------------------ accessors
    @property
    def n_queries(self) -> int:
        return len(self.query_ids)

    def index(self, model: str) -> int:
        """Column of `model`; a SimulationError names the models there are."""
        try:
            return self.models.index(model)
        except ValueError:
            raise SimulationError(f"{self.name}: no model {model!r} (models: {', '.join(self.models)})") from None

    def accuracy(self) -> np.ndarray:
        """Mean score per model over all queries."""
        return self.scores.mean(axis=0)

    def total_cost(self) -> np.ndarray:
        """Total cost per model over the dataset (USD)."""
        return self.costs.sum(axis=0)

    def default_pair(self) -> tuple[str, str]:
        """(strong, weak): the most accurate model (cheaper on a tie) and the cheapest (more
        accurate on a tie); when one model is both, the weak one is the next cheapest."""
        acc, cost = self.accuracy(), self.total_cost()
        strong = min(range(len(self.models)), key=lambda j: (-acc[j], cost[j]))
        order = sorted(range(len(self.models)), key=lambda j: (cost[j], -acc[j]))
        weak = order[0] if order[0] != strong else order[1]
        return self.models[strong], self.models[weak]

    def subset(self, rows: np.ndarray | None = None, models: list[str] | None = None) -> OutcomeDataset:
        """The same dataset on some queries (a boolean mask or indices) and/or models."""
        r = np.arange(self.n_queries) if rows is None else np.asarray(rows)
        if r.dtype == bool:
            r = np.flatnonzero(r)
        cols = list(range(len(self.models))) if models is None else [self.index(m) for m in models]

        def take(a):
            return None if a is None else a[np.ix_(r, cols)]

        return replace(
            self,
            query_ids=[self.query_ids[i] for i in r],
            models=[self.models[j] for j in cols],
            scores=take(self.scores),
            costs=take(self.costs),
            latency_ms=take(self.latency_ms),
            queries=None if self.queries is None else [self.queries[i] for i in r],
            router_scores={k: v[r] for k, v in self.router_scores.items()},
            answers={k: [v[i] for i in r] for k, v in self.answers.items() if k in [self.models[j] for j in cols]},
            groups=None if self.groups is None else self.groups[r],
            flags={k: v[r] for k, v in self.flags.items()},
            notes=list(self.notes),
        )

    def describe(self) -> dict[str, Any]:
        """What the dataset is and what its numbers rest on (for the page and --json)."""
        return {
            "name": self.name,
            "source": self.source,
            "queries": self.n_queries,
            "models": list(self.models),
            "score_basis": self.score_basis,
            "cost_basis": self.cost_basis,
            "cost_measured": self.cost_measured,
            "score_unit": self.score_unit,
            "score_scale": self.score_scale,
            "has_text": self.queries is not None,
            "has_latency": self.latency_ms is not None,
            "router_scores": sorted(self.router_scores),
            "notes": list(self.notes),
        }


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


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz" or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise SimulationError(f"{path}: not a readable gzip file ({exc})") from None
    return data


def _read_text(path: Path) -> str:
    try:
        return _read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SimulationError(f"{path}: not UTF-8 text") from None


def _first(folder: Path, *names: str) -> Path:
    for n in names:
        for cand in (folder / n, folder / (n + ".gz")):
            if cand.is_file():
                return cand
    raise SimulationError(f"{folder}: missing {names[0]}")


# ---------------------------------------------------------------------- generic long CSV
TRUE_WORDS = {"true": 1.0, "yes": 1.0, "y": 1.0, "t": 1.0, "false": 0.0, "no": 0.0, "n": 0.0, "f": 0.0}
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


def price_tokens(
    models: np.ndarray, input_tokens: np.ndarray, output_tokens: np.ndarray, sheet: Any = None, con: Any = None
) -> tuple[np.ndarray, str, dict[str, str]]:
    """USD of each (model, input, output) row under a price sheet (standard tier, long-context
    tiers included). Returns (usd, sheet name, {model: priced as}); a model the sheet cannot price
    raises SimulationError naming it."""
    from llmledger.errors import PricingError
    from llmledger.pricing.engine import DEFAULT_SHEET
    from llmledger.pricing.estimate import _sheet
    from llmledger.pricing.matching import Matcher

    try:
        sheet_obj = _sheet(sheet if sheet is not None else DEFAULT_SHEET, con)
    except PricingError as exc:
        raise SimulationError(exc.msg) from None
    matcher = Matcher(sheet_obj)
    entries = {m.model_id: m for m in matcher.models}
    usd = np.zeros(len(models))
    priced_as: dict[str, str] = {}
    for model in dict.fromkeys(models):
        hit = matcher.resolve(model)
        entry = entries.get(hit.model_id) if hit else None
        if entry is None or entry.row("standard", 0) is None:
            raise SimulationError(
                f"model {model!r} has no price in sheet {sheet_obj.name!r}; give cost_usd or pick another sheet"
            )
        priced_as[model] = hit.model_id
        rows = np.flatnonzero(models == model)
        for i in rows:
            row = entry.row("standard", int(input_tokens[i]))
            pin = float(row.input_mtok or 0) / 1e6
            pout = float(row.output_mtok or 0) / 1e6
            usd[i] = input_tokens[i] * pin + output_tokens[i] * pout + float(row.request_usd or 0)
    return usd, sheet_obj.name, priced_as


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


def _check_columns(df: pd.DataFrame, needed: list[str], where: Any) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise SimulationError(f"{where}: missing column(s) {', '.join(missing)}")


# ---------------------------------------------------------------------- FrugalGPT's published curves
def frugalgpt_summary(dataset: str = "OVERRULING") -> pd.DataFrame:
    """FrugalGPT's published points (summary_<DATASET>_*.csv): Test_acc, Test_cost (USD per
    query), Budget, Method, for the FrugalGPT cascade and each single API."""
    files = sorted((DATA_DIR / "frugalgpt" / "summary").glob(f"summary_{dataset.upper()}_*.csv"))
    if not files:
        raise SimulationError(f"no FrugalGPT summary for {dataset!r}")
    df = pd.read_csv(files[0])
    return df.drop(columns=[c for c in df.columns if c.startswith("Unnamed")])
