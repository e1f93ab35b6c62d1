"""The requirements model: what a team must decide before choosing a model, per use case.

A `RequirementSet` is a named plan (start month, horizon, price sheet, candidate models) holding
one `UseCase` per thing the product does with an LLM. Every field carries metadata (group, label,
unit, help) so the page can lay out the form and the Markdown export can label it without a
second list of names. Plain data only: no DuckDB, no Streamlit, no maths beyond token means.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

GROUPS = ("Business", "Performance", "Operational", "Technical")
PRIVACY = {
    "any": "Any provider (hosted APIs allowed)",
    "no_third_party_api": "No third-party API (self-hosted or local only)",
}
LOCK_IN = {
    "single_vendor_ok": "Single vendor is fine",
    "multi_model": "Multi-model: must run on 2+ providers",
    "avoid_lock_in": "Avoid lock-in: portable / open-weight preferred",
}
MODALITIES = ("text", "image", "audio", "video", "pdf")
MAX_CANDIDATES = 4


def _f(group: str, label: str, default: Any = None, *, unit: str = "", help: str = "", kind: str = "", factory=None):
    meta = {"group": group, "label": label, "unit": unit, "help": help, "kind": kind}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class UseCase:
    name: str = _f("Business", "Use case", "New use case", kind="text")
    # Business
    task: str = _f("Business", "Task", "", kind="textarea", help="What the model does for the user.")
    value_per_success_usd: float | None = _f(
        "Business",
        "Value per successful request",
        None,
        unit="USD",
        help="What one successful request is worth to the business (for ROI).",
    )
    roi_target: float | None = _f(
        "Business",
        "ROI target",
        None,
        unit="× value / cost",
        help="Minimum value / cost ratio, e.g. 3 means value must be at least 3× the LLM cost.",
    )
    cost_per_txn_target_usd: float | None = _f(
        "Business", "Cost-per-transaction target", None, unit="USD", help="Most the LLM part of one request may cost."
    )
    monthly_budget_usd: float | None = _f("Business", "Monthly budget", None, unit="USD")
    # Performance
    min_quality: float | None = _f(
        "Performance",
        "Minimum quality",
        None,
        unit="0–1",
        help="Threshold on the metric below, as a fraction (0.85 = 85%).",
    )
    quality_metric: str = _f(
        "Performance",
        "How quality is measured",
        "",
        kind="text",
        help="e.g. exact match on a 200-item golden set, human rating ≥ 4/5",
    )
    p95_latency_ms: float | None = _f("Performance", "p95 latency SLO", None, unit="ms")
    ttft_ms: float | None = _f("Performance", "Time-to-first-token SLO", None, unit="ms")
    peak_rps: float | None = _f("Performance", "Throughput at peak", None, unit="requests/s")
    # Operational
    requests_per_day: float = _f(
        "Operational", "Requests per day", 1000.0, unit="requests", help="Average day in the first month."
    )
    input_tokens: float = _f(
        "Operational",
        "Input tokens per request",
        500.0,
        unit="tokens",
        help="Includes system prompt, context and cached prefix.",
    )
    output_tokens: float = _f("Operational", "Output tokens per request", 200.0, unit="tokens")
    input_token_samples: list[int] = _f(
        "Operational",
        "Input token samples",
        unit="tokens",
        kind="samples",
        factory=list,
        help="Counts measured from sample prompts; when present they replace the typed number and give a P50/P90 band.",
    )
    output_token_samples: list[int] = _f(
        "Operational", "Output token samples", unit="tokens", kind="samples", factory=list
    )
    growth_pct_per_month: float = _f(
        "Operational", "Growth per month", 0.0, unit="%", help="Compounded: month n has volume × (1 + g)^n."
    )
    seasonality: list[float] = _f(
        "Operational", "Seasonality (Jan…Dec multipliers)", unit="×", kind="seasonality", factory=lambda: [1.0] * 12
    )
    peak_to_avg: float = _f("Operational", "Peak-to-average ratio", 3.0, unit="×")
    availability_pct: float = _f("Operational", "Availability target", 99.9, unit="%")
    cached_input_share: float = _f(
        "Operational",
        "Cached-input share",
        0.0,
        unit="0–1",
        help="Fraction of input tokens read from the prompt cache.",
    )
    batch_share: float = _f(
        "Operational", "Batch share", 0.0, unit="0–1", help="Fraction of requests sent through a batch API."
    )
    fixed_monthly_usd: float = _f(
        "Operational", "Fixed cost per month", 0.0, unit="USD", help="Hosting, vector DB, eval runs…"
    )
    one_off_usd: float = _f(
        "Operational", "One-off cost (first month)", 0.0, unit="USD", help="Fine-tuning, migration, setup."
    )
    # Technical / compliance
    data_residency: str = _f("Technical", "Data residency", "", kind="text", help="e.g. EU only")
    privacy: str = _f("Technical", "Privacy", "any", kind="choice:privacy")
    min_context_window: int | None = _f(
        "Technical",
        "Required context window",
        None,
        unit="tokens",
        help="Blank: input + output tokens of the largest request.",
    )
    modalities: list[str] = _f("Technical", "Modalities", kind="modalities", factory=lambda: ["text"])
    lock_in: str = _f("Technical", "Multi-model / lock-in stance", "single_vendor_ok", kind="choice:lock_in")
    provider_allow: list[str] = _f("Technical", "Providers allowed", kind="list", factory=list, help="Blank: any.")
    provider_deny: list[str] = _f("Technical", "Providers denied", kind="list", factory=list)
    # Links
    model: str = _f("Technical", "Selected model", "", kind="model")
    feature_tag: str = _f(
        "Technical",
        "Telemetry feature tag",
        "",
        kind="text",
        help="The `feature` value its calls carry in llm_calls (plan vs actual).",
    )

    # Token figures the projection uses: sample means when samples exist, else typed numbers.
    def copy(self, **changes) -> "UseCase":
        """A deep copy (lists included), with some fields changed."""
        return use_case_from_dict({**dataclasses.asdict(self), **changes})

    @property
    def mean_input_tokens(self) -> float:
        return _mean(self.input_token_samples, self.input_tokens)

    @property
    def mean_output_tokens(self) -> float:
        return _mean(self.output_token_samples, self.output_tokens)

    @property
    def max_input_tokens(self) -> float:
        return max(self.input_token_samples) if self.input_token_samples else self.input_tokens

    @property
    def max_output_tokens(self) -> float:
        return max(self.output_token_samples) if self.output_token_samples else self.output_tokens

    @property
    def required_context(self) -> float:
        if self.min_context_window:
            return float(self.min_context_window)
        return float(self.max_input_tokens + self.max_output_tokens)


def _mean(samples: list, typed: float) -> float:
    return float(sum(samples)) / len(samples) if samples else float(typed)


@dataclass
class RequirementSet:
    name: str = "New plan"
    description: str = ""
    start_month: str = field(default_factory=lambda: dt.date.today().strftime("%Y-%m"))
    horizon_months: int = 12
    sheet: str = ""
    candidates: list[str] = field(default_factory=list)
    use_cases: list[UseCase] = field(default_factory=list)
    # Set by the store: which saved version this is (0 = never saved).
    version: int = 0

    def use_case(self, name: str) -> UseCase:
        for uc in self.use_cases:
            if uc.name == name:
                return uc
        raise KeyError(name)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict) -> "RequirementSet":
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in d.items() if k in known and k != "use_cases"}
        rs = cls(**data)
        rs.use_cases = [use_case_from_dict(u) for u in d.get("use_cases", [])]
        return rs

    @classmethod
    def from_json(cls, text: str) -> "RequirementSet":
        return cls.from_dict(json.loads(text))


def use_case_from_dict(d: dict) -> UseCase:
    known = {f.name: f for f in dataclasses.fields(UseCase)}
    return UseCase(**{k: v for k, v in d.items() if k in known})


def use_case_fields(group: str | None = None) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(UseCase) if group is None or f.metadata["group"] == group]


def month_labels(start_month: str, n: int) -> list[str]:
    y, m = (int(x) for x in start_month.split("-"))
    out = []
    for i in range(n):
        mm = m - 1 + i
        out.append(f"{y + mm // 12:04d}-{mm % 12 + 1:02d}")
    return out


def parse_samples(text: str) -> list[int]:
    """'120, 340 95' -> [120, 340, 95]; raises ValueError naming the bad token."""
    out = []
    for tok in text.replace(",", " ").replace(";", " ").split():
        try:
            v = float(tok)
        except ValueError:
            raise ValueError(f"'{tok}' is not a number") from None
        if not math.isfinite(v):
            raise ValueError(f"'{tok}' is not a finite number")
        out.append(int(round(v)))
    return out


def parse_numbers(text: str) -> list[float]:
    out = []
    for tok in text.replace(",", " ").replace(";", " ").split():
        try:
            out.append(float(tok))
        except ValueError:
            raise ValueError(f"'{tok}' is not a number") from None
    return out


def to_form(uc: UseCase, name: str):
    """A field's value as its form widget shows it (lists of numbers/names become text)."""
    v = getattr(uc, name)
    kind = UseCase.__dataclass_fields__[name].metadata["kind"]
    if kind in ("samples", "seasonality"):
        return ", ".join(f"{x:g}" for x in v)
    if kind == "list":
        return ", ".join(v)
    if isinstance(v, int) and "float" in str(UseCase.__dataclass_fields__[name].type):
        return float(v)  # a float widget, so 0.5 can be typed into it
    return v


def from_form(name: str, value):
    """Inverse of to_form; raises ValueError with a message fit for the form."""
    kind = UseCase.__dataclass_fields__[name].metadata["kind"]
    if kind == "samples":
        return parse_samples(value or "")
    if kind == "seasonality":
        return parse_numbers(value or "")
    if kind == "list":
        return [x.strip() for x in (value or "").split(",") if x.strip()]
    return value


def split_prompts(text: str) -> list[str]:
    """Sample prompts pasted into one box, separated by a line holding only `---`."""
    parts, cur = [], []
    for line in text.splitlines():
        if line.strip() == "---":
            parts.append("\n".join(cur))
            cur = []
        else:
            cur.append(line)
    parts.append("\n".join(cur))
    return [p.strip("\n") for p in parts if p.strip()]


def measure_prompts(prompts: list[str], model: str | None = None, tokenizer: str | None = None):
    """Token counts of sample prompts through the tokenizer registry: (counts, tokenizer, exact)."""
    from llmledger.tokens import count_text  # the registry owns tokenizer choice and fallbacks

    counts, names, exact = [], set(), True
    for p in prompts:
        tc = count_text(p, model=model or None, tokenizer=tokenizer)
        counts.append(int(tc.tokens))
        names.add(tc.tokenizer)
        exact = exact and bool(tc.exact)
    return counts, ", ".join(sorted(names)), exact


def example_set(today: dt.date | None = None) -> RequirementSet:
    """A starting point for the page: two use cases tagged like the demo traffic's features,
    starting two months back so the demo's recent calls fall inside the plan."""
    today = today or dt.date.today()
    m = today.year * 12 + today.month - 1 - 2
    return RequirementSet(
        name="Example plan",
        description="Support assistant and document summaries",
        start_month=f"{m // 12:04d}-{m % 12 + 1:02d}",
        horizon_months=12,
        candidates=["gpt-4o-mini", "gpt-4.1-mini", "claude-haiku-4-5", "gemini/gemini-2.5-flash"],
        use_cases=[
            UseCase(
                name="Support chat",
                task="Answer customer questions from the help centre",
                value_per_success_usd=0.5,
                cost_per_txn_target_usd=0.01,
                monthly_budget_usd=2.0,
                p95_latency_ms=4000,
                ttft_ms=800,
                requests_per_day=100,
                input_tokens=1800,
                output_tokens=220,
                output_token_samples=[120, 180, 220, 260, 400],
                growth_pct_per_month=8.0,
                cached_input_share=0.5,
                model="gpt-4o-mini",
                feature_tag="demo-support-chat",
            ),
            UseCase(
                name="Document summaries",
                task="Summarise long documents for the docs team",
                monthly_budget_usd=10.0,
                requests_per_day=45,
                input_tokens=6000,
                output_tokens=450,
                batch_share=0.5,
                model="claude-haiku-4-5",
                feature_tag="demo-doc-summary",
            ),
        ],
    )
