"""What a local model costs per token, and the volume above which it beats an API.

A machine rented (or amortised) at `usd_per_hour` that generates `tokens_per_s` costs
usd_per_hour / (3600 * tokens_per_s) per token, if it is kept busy. Running it only for the
month's volume, the bill is that rate times the tokens; kept on all month (a reserved box), it is
a fixed cost, and local beats the API above the break-even volume fixed / api_rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from llmledger.errors import LocalModelError

HOURS_PER_MONTH = Decimal("730")  # 365 * 24 / 12

#: Machine presets ($/hour): indicative on-demand list prices, to be edited by the user.
PRESETS = {
    "This laptop / desktop (power only, ~150 W at $0.30/kWh)": Decimal("0.045"),
    "Cloud CPU, 2 vCPU (e.g. c7i.large)": Decimal("0.09"),
    "Cloud CPU, 8 vCPU (e.g. c7i.2xlarge)": Decimal("0.36"),
    "Cloud GPU, NVIDIA L4 (g6.xlarge)": Decimal("0.80"),
    "Cloud GPU, NVIDIA A100 80GB": Decimal("3.70"),
    "Cloud GPU, NVIDIA H100": Decimal("6.90"),
}

#: API models set beside local by default (when the price sheet has them).
DEFAULT_API_MODELS = ("gpt-4.1-nano", "gpt-4o-mini", "gemini-2.5-flash-lite", "claude-haiku-4-5")


def _dec(v, what: str) -> Decimal:
    try:
        d = Decimal(str(v))
    except Exception as exc:
        raise LocalModelError(f"{what}: {v!r} is not a number") from exc
    if not d.is_finite() or d <= 0:
        raise LocalModelError(f"{what} must be positive")
    return d


def usd_per_mtok(usd_per_hour, tokens_per_s) -> Decimal:
    """$ per 1M tokens at full utilisation."""
    return _dec(usd_per_hour, "$/hour") / (Decimal(3600) * _dec(tokens_per_s, "tokens/s")) * Decimal(1_000_000)


@dataclass
class LocalRates:
    usd_per_hour: Decimal
    input_tps: Decimal
    output_tps: Decimal

    @property
    def input_mtok(self) -> Decimal:
        return usd_per_mtok(self.usd_per_hour, self.input_tps)

    @property
    def output_mtok(self) -> Decimal:
        return usd_per_mtok(self.usd_per_hour, self.output_tps)

    def blended_mtok(self, output_share) -> Decimal:
        """$/1M tokens for a mix where `output_share` of the tokens are generated."""
        s = Decimal(str(output_share))
        return self.input_mtok * (1 - s) + self.output_mtok * s

    def busy_hours(self, input_tokens, output_tokens) -> Decimal:
        return (Decimal(input_tokens) / self.input_tps + Decimal(output_tokens) / self.output_tps) / 3600


def rates(usd_per_hour, input_tps, output_tps) -> LocalRates:
    return LocalRates(
        _dec(usd_per_hour, "$/hour"), _dec(input_tps, "input tokens/s"), _dec(output_tps, "output tokens/s")
    )


def api_mtok(input_mtok, output_mtok, output_share) -> Decimal:
    s = Decimal(str(output_share))
    return Decimal(str(input_mtok)) * (1 - s) + Decimal(str(output_mtok)) * s


def monthly_cost_local(r: LocalRates, mtok_per_month, output_share, always_on: bool = True) -> Decimal:
    """A reserved machine costs its hours all month, plus extra machines once one is saturated;
    pay-per-use costs only the busy hours."""
    m = Decimal(str(mtok_per_month))
    s = Decimal(str(output_share))
    busy = r.busy_hours(m * (1 - s) * 1_000_000, m * s * 1_000_000)
    if not always_on:
        return busy * r.usd_per_hour
    machines = max(Decimal(1), (busy / HOURS_PER_MONTH).to_integral_value(rounding="ROUND_CEILING"))
    return machines * HOURS_PER_MONTH * r.usd_per_hour


def capacity_mtok_per_month(r: LocalRates, output_share) -> Decimal:
    """Tokens one machine can serve in a month, kept busy, in millions."""
    return HOURS_PER_MONTH / r.busy_hours(
        Decimal(1_000_000) * (1 - Decimal(str(output_share))), Decimal(1_000_000) * Decimal(str(output_share))
    )


def break_even_mtok(r: LocalRates, api_input_mtok, api_output_mtok, output_share) -> Decimal | None:
    """Monthly volume (M tokens) above which one always-on machine is cheaper than the API.

    None when the machine never wins: the API is cheaper per token even at full utilisation
    (equivalently, the break-even volume would exceed what one machine can serve)."""
    api = api_mtok(api_input_mtok, api_output_mtok, output_share)
    if api <= 0 or api <= r.blended_mtok(output_share):
        return None
    return HOURS_PER_MONTH * r.usd_per_hour / api


def break_even_curve(
    r: LocalRates, apis: dict[str, tuple], output_share, max_mtok=None, points: int = 60
) -> list[dict]:
    """Monthly cost of local (always-on) and of each API across volumes, for the chart."""
    cap = capacity_mtok_per_month(r, output_share)
    top = Decimal(str(max_mtok)) if max_mtok else cap * 3
    rows = []
    for i in range(points + 1):
        m = top * i / points
        rows.append(
            {
                "mtok_per_month": float(m),
                "option": "local (always on)",
                "usd_per_month": float(monthly_cost_local(r, m, output_share)),
            }
        )
        for name, (inp, out) in apis.items():
            rows.append(
                {
                    "mtok_per_month": float(m),
                    "option": name,
                    "usd_per_month": float(api_mtok(inp, out, output_share) * m),
                }
            )
    return rows


def self_hosted_sheet(name: str, r: LocalRates, models: list[str]):
    """The measured rates as a pricing sheet (pricing owns the sheet format and its storage)."""
    from llmledger.pricing.importers import self_hosted_sheet as make

    return make(name, r.usd_per_hour, r.input_tps, r.output_tps, models)


def comparison(r: LocalRates, local_label: str, apis: dict[str, tuple], output_share) -> tuple[list[dict], dict]:
    """Rows of $/1M tokens for local and each API, and each API's break-even volume."""
    table = [
        {
            "option": local_label,
            "input $/1M": float(r.input_mtok),
            "output $/1M": float(r.output_mtok),
            "blended $/1M": float(r.blended_mtok(output_share)),
            "break-even (M tokens/month)": None,
        }
    ]
    bes: dict[str, float | None] = {}
    for name, (pi, po) in apis.items():
        be = break_even_mtok(r, pi, po, output_share)
        bes[name] = float(be) if be is not None else None
        table.append(
            {
                "option": name,
                "input $/1M": float(pi),
                "output $/1M": float(po),
                "blended $/1M": float(api_mtok(pi, po, output_share)),
                "break-even (M tokens/month)": bes[name],
            }
        )
    return table, bes
