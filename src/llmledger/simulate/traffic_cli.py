"""`whatif traffic`: apply a router or a cascade to a feature's stored calls (contract, DESIGN.md).

    python -m llmledger whatif traffic --feature F (--router --strong M --weak M --strong-share P
        | --cascade M1,M2,... --accept R1,R2,...) [--days N] [--sheet S] [--json]

`register_traffic(whatif_subparsers)` adds the command to the `whatif` group of simulate/cli.py.
"""

from __future__ import annotations

import argparse

from llmledger.cli_common import add_common
from llmledger.errors import SimulationError


def register_traffic(whatif_sub) -> argparse.ArgumentParser:
    p = whatif_sub.add_parser(
        "traffic",
        help="reprice a feature's last N days under a router or a cascade",
        description="Reprice a feature's last N days of calls under a router (a share of calls to the strong "
        "model) or a cascade (each tier accepts a share, the rest escalate), with each model's tokenizer and "
        "the chosen price sheet. Prints baseline and policy cost, the monthly saving with its band, the "
        "latency impact and the break-even rate.",
    )
    p.add_argument("--feature", required=True, help="the feature whose calls the policy applies to")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--router", action="store_true", help="route between --strong and --weak")
    kind.add_argument("--cascade", metavar="M1,M2,...", help="models tried in order, cheapest first")
    p.add_argument("--strong", help="router: the strong model")
    p.add_argument("--weak", help="router: the weak model")
    p.add_argument("--strong-share", metavar="P", help="router: percent of calls sent to the strong model (0..100)")
    p.add_argument(
        "--strong-share-pm", metavar="P", default="0", help="router: ± percentage points around --strong-share"
    )
    p.add_argument(
        "--accept",
        metavar="R1,R2,...",
        help="cascade: share each tier accepts (0..1), one per tier but the last; 'K/N' gives counts "
        "(accepted of tried) and a 90%% interval",
    )
    p.add_argument("--accept-pm", metavar="R", default="0", help="cascade: ± around each typed rate (0..1)")
    p.add_argument("--days", default="30", help="how many days of the feature's traffic, up to its last call (30)")
    p.add_argument("--sheet", help="price sheet (default: the active one)")
    p.add_argument("--save-scenario", metavar="NAME", help="also save the result as a scenario for the Plan page")
    add_common(p)
    p.set_defaults(func=run_traffic)
    return p


def policy_from_args(args):
    from llmledger.simulate import traffic

    if args.router:
        missing = [
            o
            for o, v in (("--strong", args.strong), ("--weak", args.weak), ("--strong-share", args.strong_share))
            if v is None
        ]
        if missing:
            raise SimulationError(f"--router needs {', '.join(missing)}")
        return traffic.router(args.strong, args.weak, args.strong_share, args.strong_share_pm)
    if args.accept is None:
        raise SimulationError("--cascade needs --accept R1,R2,... (one acceptance rate per tier but the last)")
    models = [m.strip() for m in args.cascade.split(",")]
    rates = [parse_rate(r, i, args.accept_pm) for i, r in enumerate(args.accept.split(","))]
    return traffic.cascade(models, rates)


def parse_rate(text: str, i: int, plus_minus="0"):
    """A typed rate ('0.7') with the ± given, or counts ('700/1000') with their interval."""
    from llmledger.simulate import traffic

    t = text.strip()
    what = f"tier {i + 1} acceptance rate"
    if "/" in t:
        k, _, n = t.partition("/")
        try:
            return traffic.Rate.from_counts(int(k), int(n), source="counts you gave")
        except ValueError:
            raise SimulationError(f"{what} {t!r}: counts must be whole numbers, as accepted/tried") from None
    return traffic.Rate.assumed(t, plus_minus, what=what)


def run_traffic(args):
    from llmledger.simulate import scenarios, traffic
    from llmledger.store.db import connect

    policy = policy_from_args(args)
    con = connect(args.db) if args.db else connect()
    try:
        r = traffic.apply_to_traffic(con, args.feature, policy, days=args.days, sheet=args.sheet)
        data = r.to_dict()
        if args.save_scenario:
            data["scenario"] = scenarios.save(con, args.save_scenario, r)
    finally:
        con.close()
    return data, summary_text(r) + (f"\nSaved as scenario {args.save_scenario!r}." if args.save_scenario else "")


def usd(x, places: int = 2) -> str:
    """$1,234.56, with the sign before the dollar: -$0.04."""
    return ("-" if x < 0 else "") + f"${abs(x):,.{places}f}"


def summary_text(r) -> str:
    lat = r.latency
    lines = [
        f"{r.feature}: {r.policy}",
        f"  {r.calls:,} calls, {r.period_start[:10]} to {r.period_end[:10]}, sheet {r.sheet}",
        f"  baseline {usd(r.baseline_usd, 4)}   policy {usd(r.policy_usd, 4)} "
        f"(band {usd(r.policy_low_usd, 4)} to {usd(r.policy_high_usd, 4)})",
        f"  monthly saving {usd(r.monthly_saving_usd)} (band {usd(r.monthly_saving_low_usd)} to "
        f"{usd(r.monthly_saving_high_usd)}) on a monthly baseline of {usd(r.monthly_baseline_usd)}",
    ]
    for m, c in r.all_to_model_usd.items():
        lines.append(f"  every call to {m}: {usd(c, 4)}")
    if lat.policy_ms is not None and lat.baseline_ms is not None:
        lines.append(f"  mean latency {lat.baseline_ms:,.0f} ms today -> {lat.policy_ms:,.0f} ms under the policy")
    for m, v in lat.per_model.items():
        ms = f"{v['mean_ms']:,.0f} ms" if v["mean_ms"] is not None else "unknown"
        lines.append(f"  latency {m}: {ms} ({v['source']})")
    if r.break_even:
        lines.append(f"  break-even {r.break_even['what']}: {r.break_even['rate']:.1%} ({r.break_even['meaning']})")
    for k, v in r.rests_on.items():
        lines.append(f"  [{k}] {v}")
    lines += [f"  note: {n}" for n in r.notes]
    return "\n".join(lines)
