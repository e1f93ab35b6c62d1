"""`whatif cache|agent-cache|prompt-cache|compress|memory|batch|caps`: a lever on stored calls.

    python -m llmledger whatif cache|prompt-cache|compress|memory|batch [--feature F] [--days N]
        [--sheet S] [--json]   (contract, DESIGN.md), plus each lever's own options
    python -m llmledger whatif cache --semantic [--threshold T] [--ttl S]   semantic cache with
        its similarity-threshold sweep (embeddings computed locally, simulate/levers/semantic.py)

Each prints the lever's baseline cost, its what-if cost, the saving (and per month) and the
assumptions it rests on. `register_whatif(whatif_subparsers)` is called by simulate/cli.py.
"""

from __future__ import annotations

import argparse

from llmledger.cli_common import add_common
from llmledger.errors import SimulationError

HELP = {
    "cache": "response cache (exact, normalised or --semantic, with a TTL): calls a cache would have answered",
    "agent-cache": "identical calls repeated inside one trace or session",
    "prompt-cache": "provider prompt caching of shared prefixes (5 min or 1 h)",
    "compress": "input compression with SmolLM2 token surprisal (LLMLingua's idea)",
    "memory": "multi-turn sessions: window of k turns, or running summary + window",
    "batch": "move latency-tolerant calls to the sheet's batch prices",
    "caps": "max_tokens caps on each feature's tail of output tokens",
    "savings": "levers one after another (no double counting): each one's extra saving, for a waterfall",
}


def register_whatif(whatif_sub) -> None:
    for name, text in HELP.items():
        p = whatif_sub.add_parser(name, help=text, description=text)
        p.add_argument("--feature", help="only this feature's calls (default: every feature)")
        p.add_argument("--days", default="30", help="days of traffic up to the latest call (30)")
        p.add_argument("--sheet", help="price sheet (default: the active one)")
        _options(name, p)
        add_common(p)
        p.set_defaults(func=run_savings if name == "savings" else run_lever, lever=name)


def _options(name: str, p: argparse.ArgumentParser) -> None:
    if name == "cache":
        p.add_argument(
            "--mode",
            choices=("exact", "normalised"),
            help="key on the messages as sent (exact, default) or case- and space-folded",
        )
        p.add_argument("--ttl", default="3600", help="seconds an entry lives after the miss that wrote it (3600)")
        p.add_argument(
            "--semantic",
            action="store_true",
            help="a semantic cache: hits on similar prompts (all-MiniLM-L6-v2 embeddings computed here), with a "
            "similarity-threshold sweep of hit rate against false-hit risk",
        )
        p.add_argument("--threshold", help="with --semantic: cosine similarity for a hit, above 0 and at most 1 (0.9)")
    elif name == "agent-cache":
        p.add_argument("--scope", default="trace", choices=("trace", "session"))
    elif name == "prompt-cache":
        p.add_argument("--lifetime", default="5m", choices=("5m", "1h"))
        p.add_argument("--min-prefix", default="1024", help="provider's minimum cacheable prefix in tokens (1024)")
    elif name == "compress":
        p.add_argument("--keep", default="0.5", help="target share of prompt tokens kept (0..1, default 0.5)")
        p.add_argument("--sample", default="20", help="distinct prompts compressed (default 20)")
    elif name == "memory":
        p.add_argument("--k", default="4", help="turns kept whole (4)")
        p.add_argument("--summary-tokens", default="200", help="summary length, an assumption (200)")
        p.add_argument("--strategy", default="summary", choices=("summary", "window"))
        p.add_argument("--summary-model", help="model writing the summaries (default: the session's own)")
    elif name == "batch":
        p.add_argument(
            "--tolerant",
            metavar="F1,F2",
            help="latency-tolerant features to move (default: every call in scope)",
        )
        p.add_argument(
            "--where",
            metavar="RULE",
            help="or a rule for the calls to move, e.g. 'hour=0-6; model=gpt-4o-mini' (keys: feature, model, "
            "operation, status, hour as UTC hours A-B); with --tolerant, both must hold",
        )
    elif name == "savings":
        p.add_argument(
            "--levers",
            default="cache,agent-cache,memory,prompt-cache,caps,batch",
            help="levers in the order applied (default cache,agent-cache,memory,prompt-cache,caps,batch; "
            "compress runs SmolLM2 and semantic embeds each prompt: both opt-in)",
        )
    elif name == "caps":
        p.add_argument("--cap", help="one max_tokens cap for every feature in scope (default: each feature's quantile)")
        p.add_argument("--quantile", default="0.95", help="cap at this quantile of output tokens (0.95)")


def _int(v, what):
    try:
        return int(str(v).strip())
    except ValueError:
        raise SimulationError(f"{what} must be a whole number (got {v!r})") from None


def _float(v, what):
    try:
        return float(str(v).strip())
    except ValueError:
        raise SimulationError(f"{what} must be a number (got {v!r})") from None


def lever_params(args) -> dict:
    n = args.lever
    if n == "cache":
        if args.semantic:
            if args.mode:
                raise SimulationError("--mode is for the exact or normalised cache, not with --semantic")
            return {
                "ttl_s": _float(args.ttl, "--ttl"),
                "threshold": 0.9 if args.threshold is None else _float(args.threshold, "--threshold"),
            }
        if args.threshold is not None:
            raise SimulationError("--threshold needs --semantic (a similarity threshold for the semantic cache)")
        return {"ttl_s": _float(args.ttl, "--ttl"), "mode": args.mode or "exact"}
    if n == "agent-cache":
        return {"scope": args.scope}
    if n == "prompt-cache":
        return {"lifetime": args.lifetime, "min_prefix": _int(args.min_prefix, "--min-prefix")}
    if n == "compress":
        return {"keep": _float(args.keep, "--keep"), "sample": _int(args.sample, "--sample")}
    if n == "memory":
        return {
            "k": _int(args.k, "--k"),
            "summary_tokens": _int(args.summary_tokens, "--summary-tokens"),
            "strategy": args.strategy,
            "summary_model": args.summary_model,
        }
    if n == "batch":
        feats = [f.strip() for f in (args.tolerant or "").split(",") if f.strip()]
        return {"features": feats or None, "where": args.where}
    if n == "caps":
        q = _float(args.quantile, "--quantile")
        if args.cap is None:
            return {"quantile": q}
        return {"quantile": q, "cap_all": _int(args.cap, "--cap")}
    raise SimulationError(f"unknown lever {n!r}")


def run_lever(args):
    from llmledger.simulate.levers.ledger import apply_lever
    from llmledger.store.db import connect

    params = lever_params(args)
    cap_all = params.pop("cap_all", None)
    lever = "semantic" if args.lever == "cache" and getattr(args, "semantic", False) else args.lever
    con = connect(args.db) if args.db else connect()
    try:
        if cap_all is not None:
            from llmledger.reads.levers import known_features

            params["caps"] = {f: cap_all for f in ([args.feature] if args.feature else known_features(con))}
        r = apply_lever(con, lever, feature=args.feature, days=args.days, sheet=args.sheet, **params)
    finally:
        con.close()
    data = r.to_dict()
    return data, summary_text(data)


def run_savings(args):
    from llmledger.simulate.levers.ledger import savings_summary
    from llmledger.store.db import connect

    steps = tuple(s.strip() for s in args.levers.split(",") if s.strip())
    if not steps:
        raise SimulationError("--levers is empty: name at least one lever")
    con = connect(args.db) if args.db else connect()
    try:
        d = savings_summary(con, args.feature, args.days, args.sheet, steps)
    finally:
        con.close()
    scope = f"feature {d['feature']!r}" if d["feature"] else "every feature"
    lines = [
        f"savings in sequence, {scope}, {d['period_start'][:10]} to {d['period_end'][:10]}, sheet {d['sheet']}",
        f"  baseline {usd(d['baseline_usd'])}",
    ]
    lines += [
        f"  - {s['lever']:<13} saves {usd(s['saving_usd'])} ({usd(s['monthly_saving_usd'], 2)}/month), "
        f"leaves {usd(s['cost_after_usd'])} over {s['calls_after']:,} calls"
        for s in d["steps"]
    ]
    lines.append(
        f"  what-if {usd(d['final_usd'])}, saving {usd(d['saving_usd'])} ({usd(d['monthly_saving_usd'], 2)}/month)"
    )
    lines.append("  rests on:")
    lines += [f"    - {a}" for a in d["assumptions"]]
    return d, "\n".join(lines)


def usd(x, places: int = 4) -> str:
    return ("-" if x < 0 else "") + f"${abs(x):,.{places}f}"


def summary_text(d: dict) -> str:
    scope = f"feature {d['feature']!r}" if d["feature"] else "every feature"
    share = f" ({d['saving_share']:.1%})" if d["saving_share"] is not None else ""
    lines = [
        f"{d['title']}",
        f"  {scope}: {d['calls']:,} calls, {d['period_start'][:10]} to {d['period_end'][:10]} "
        f"({d['days_covered']:g} days), sheet {d['sheet']}",
        f"  baseline {usd(d['baseline_usd'])}   what-if {usd(d['whatif_usd'])}   saving {usd(d['saving_usd'])}{share}",
        f"  per month: baseline {usd(d['monthly_baseline_usd'], 2)}, saving {usd(d['monthly_saving_usd'], 2)}",
    ]
    for k, v in d["metrics"].items():
        if isinstance(v, float):
            v = f"{v:.4g}"
        elif isinstance(v, dict):
            v = "; ".join(f"{a}: {b}" for a, b in v.items() if a != "sha256")
        lines.append(f"  {k}: {v}")
    lines.append("  rests on:")
    lines += [f"    - {a}" for a in d["assumptions"]]
    lines += [f"  note: {n}" for n in d["notes"]]
    sweep = (d.get("tables") or {}).get("sweep")
    if sweep:
        lines.append("  threshold sweep (hit rate, false hits among hits whose answers were both captured, pair risk):")
        for row in sweep:
            fr = "-" if row["false_hit_rate"] is None else f"{row['false_hit_rate']:.1%}"
            pr = "-" if row["pair_risk"] is None else f"{row['pair_risk']:.1%}"
            lines.append(
                f"    {row['threshold']:>5.2f}  hits {row['hits']:>7,} ({row['hit_rate']:6.1%})  "
                f"false hits {row['false_hits']:>6,} ({fr:>6})  pairs {row['pairs']:>7,} risk {pr:>6}  "
                f"saves {usd(row['saved_usd'])}"
            )
    for e in d.get("examples") or []:
        lines.append(f"  example ({e['before_tokens']} -> {e['after_tokens']} tokens):")
        lines.append(f"    before: {e['before'][:200]!r}")
        lines.append(f"    after:  {e['after'][:200]!r}")
    return "\n".join(lines)
