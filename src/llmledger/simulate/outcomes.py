"""The outcome dataset: for each query, each model's score (0..1) and cost (USD), and what those
numbers rest on; plus what every importer shares (reading possibly gzipped files, pricing token
counts with a sheet)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmledger.config import PROJECT_ROOT
from llmledger.errors import SimulationError

#: Where the shipped examples live (copies of ../shared/data/routing, see data/routing/README.md).
DATA_DIR = PROJECT_ROOT / "data" / "routing"

#: Words read as correctness (besides 0/1).
TRUE_WORDS = {"true": 1.0, "yes": 1.0, "y": 1.0, "t": 1.0, "false": 0.0, "no": 0.0, "n": 0.0, "f": 0.0}


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


def _check_columns(df: pd.DataFrame, needed: list[str], where: Any) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise SimulationError(f"{where}: missing column(s) {', '.join(missing)}")
