"""Published figures next to what the simulator computes from the same data (work in progress:
the functions below are the API the page uses; see each docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reproduction:
    """One published claim and our figure for it. `published` and `ours` are {label: number};
    `rests_on` says what our figure rests on, `explanation` (computed) why they differ, if they do;
    `matches` is True when ours is within `tolerance` of the published figure."""

    name: str
    citation: str
    published: dict[str, Any]
    ours: dict[str, Any]
    rests_on: list[str] = field(default_factory=list)
    explanation: str = ""
    matches: bool | None = None
    detail: Any = None


def frugalgpt_overruling(seed: int = 0) -> list[Reproduction]:
    """FrugalGPT's OVERRULING summary points (its learned cascade at each budget, and each API
    alone) next to our cascade search on the per-query table, on a 50/50 train/test split."""
    raise NotImplementedError


def routellm_commercial() -> list[Reproduction]:
    """RouteLLM benchmarks/README.md: Unify 8.757862 on MT-Bench with 45.625% GPT-4 calls, and
    Martian 8.3125, recomputed from the judgement files; with the strong share our router needs
    for the same score on RouteLLM's MT-Bench data."""
    raise NotImplementedError


def routellm_headlines(folds: int = 5, seed: int = 0) -> list[Reproduction]:
    """RouteLLM's headline savings at 95% of GPT-4's quality (MT-Bench 85%, MMLU 45%, GSM8K 35%)
    next to the oracle's and our learned router's on the same data."""
    raise NotImplementedError


def all_reproductions(seed: int = 0) -> list[Reproduction]:
    return [*frugalgpt_overruling(seed), *routellm_commercial(), *routellm_headlines(seed=seed)]
