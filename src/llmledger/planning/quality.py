"""Model quality for ranking a shortlist: a public benchmark table, or the user's own evals.

A `QualityTable` maps model *families* (see `family_key`: provider prefixes, snapshot dates and
`-instruct` style suffixes removed, so `together_ai/meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo`
and `llama-3.1-70b-instruct` are one model) to a score, and says where the scores come from.

- `public_table()`: the Arena-Hard-Auto v0.1 leaderboard shipped in data/model_quality (LMSYS,
  2024-07-31; win rate against GPT-4-0314 in %), see that folder's README.
- `from_scores()` / `from_csv_bytes()`: the user's own evals (a What-if outcome dataset's mean score
  per model, or a `model,score` CSV).
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from llmledger.errors import PlanningError
from llmledger.pricing.matching import normalize

DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "model_quality"
PUBLIC_FILE = DATA_DIR / "arena_hard_auto_v0.1.csv"
PUBLIC_SOURCE = "Arena-Hard-Auto v0.1 (LMSYS leaderboard of 2024-07-31; public benchmark, not your task)"
PUBLIC_UNIT = "win rate vs GPT-4-0314 (%)"

# Trailing parts that name a snapshot, an API flavour or a packaging, not another model.
_TAIL = re.compile(
    r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|\d{2}-\d{2}|latest|exp|api|instruct-turbo|instruct|chat|it|"
    r"fp8|fp16|bf16|hf|v\d+(?:-\d+)*|versatile)$"
)
_HEAD = re.compile(r"^(?:meta-|accounts-fireworks-models-)")


@functools.lru_cache(maxsize=32768)
def family_key(name: str) -> str:
    """One key per underlying model: `claude-3-5-sonnet-20240620`, `vertex_ai/claude-3-5-sonnet@20240620`
    and `snowflake/claude-3.5-sonnet` all give `claude-3-5-sonnet`."""
    n = normalize(name).replace(".", "-").replace("_", "-").replace(":", "-")
    n = _HEAD.sub("", n)
    while (m := _TAIL.sub("", n)) != n and m:
        n = m
    return n


@dataclass(frozen=True)
class QualityTable:
    source: str
    unit: str
    scores: dict[str, float]  # family_key -> score, in `unit`
    scale: float = 100.0  # the score a perfect model gets (100 for a percentage, 1 for accuracy)
    models: dict[str, str] = field(default_factory=dict)  # family_key -> the name the source used

    def score_for(self, model: str) -> float | None:
        return self.scores.get(family_key(model))

    def as_fraction(self, score: float) -> float:
        return score / self.scale


def from_scores(scores: dict[str, float], source: str, unit: str = "accuracy", scale: float = 1.0) -> QualityTable:
    """A table from {model name: score}. Names of one family keep the best score."""
    if not scores:
        raise PlanningError(f"{source}: no model scores")
    out: dict[str, float] = {}
    names: dict[str, str] = {}
    for name, score in scores.items():
        s = float(score)
        if not math.isfinite(s) or s < 0 or s > scale:
            raise PlanningError(f"{source}: score {score!r} of {name!r} is outside 0..{scale:g}")
        k = family_key(str(name))
        if not k:
            raise PlanningError(f"{source}: empty model name")
        if k not in out or s > out[k]:
            out[k], names[k] = s, str(name)
    return QualityTable(source, unit, out, scale, names)


def from_csv_bytes(data: bytes, name: str = "upload") -> QualityTable:
    """Your evals as CSV: a `model` column and a `score` column (0..1, or 0..100 for percentages)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PlanningError(f"{name}: not UTF-8 text (expected a CSV with columns model,score)") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or not {"model", "score"} <= {(c or "").strip().lower() for c in rows[0]}:
        raise PlanningError(f"{name}: expected a CSV with a header row naming the columns model and score")
    scores: dict[str, float] = {}
    for i, r in enumerate(rows, start=2):
        r = {(k or "").strip().lower(): (v or "").strip() for k, v in r.items()}
        if not r["model"]:
            raise PlanningError(f"{name}, line {i}: no model name")
        try:
            scores[r["model"]] = float(r["score"])
        except ValueError:
            raise PlanningError(f"{name}, line {i}: score {r['score']!r} is not a number") from None
    top = max(scores.values())
    scale = 100.0 if top > 1 else 1.0
    return from_scores(scores, f"your evals ({name})", "score (%)" if scale == 100 else "score (0-1)", scale)


def public_table() -> QualityTable:
    """The shipped Arena-Hard-Auto v0.1 table."""
    with PUBLIC_FILE.open(newline="") as fh:
        scores = {r["model"]: float(r["score"]) for r in csv.DictReader(fh)}
    return from_scores(scores, PUBLIC_SOURCE, PUBLIC_UNIT, 100.0)
