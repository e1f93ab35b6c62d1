"""`estimate` (monthly bill) and `prices` (sheet management) commands."""

from __future__ import annotations

import os
from decimal import ROUND_HALF_UP, Decimal

from llmledger.cli_common import add_common
from llmledger.errors import PricingError

CENT = Decimal("0.01")


def register(sub) -> None:
    p = sub.add_parser("estimate", help="estimate a monthly bill for one model")
    p.add_argument("--model", required=True, help="model name, e.g. gpt-4o")
    p.add_argument("--input-tokens", required=True, help="input tokens per request")
    p.add_argument("--output-tokens", required=True, help="output tokens per request")
    p.add_argument("--requests", required=True, help="requests per month")
    p.add_argument("--sheet", default=None, help="price sheet (default: the active one, else litellm)")
    p.add_argument("--cached-share", default="0", help="fraction of input tokens read from cache (0-1)")
    p.add_argument("--batch-share", default="0", help="fraction of requests sent via batch (0-1)")
    p.add_argument("--growth-pct", default="0", help="month-over-month growth of requests, percent")
    p.add_argument("--months", type=int, default=1, help="months to project")
    add_common(p)
    p.set_defaults(func=run_estimate)

    pr = sub.add_parser("prices", help="manage price sheets")
    psub = pr.add_subparsers(dest="prices_command", required=True)
    pl = psub.add_parser("list", help="list price sheets")
    add_common(pl)
    pl.set_defaults(func=run_list)
    pi = psub.add_parser("import", help="import a sheet (.csv, .yaml, LiteLLM/Langfuse/genai-prices .json)")
    pi.add_argument("path")
    pi.add_argument("--name", help="sheet name (default: from the file)")
    pi.add_argument("--effective-from", help="date the prices take effect (YYYY-MM-DD; default: always)")
    pi.add_argument("--base-sheet", help="copy this sheet's prices first (user CSV/YAML only)")
    pi.add_argument("--discount-pct", help="percent off the base sheet's prices")
    pi.add_argument("--activate", action="store_true", help="make it the active sheet")
    add_common(pi)
    pi.set_defaults(func=run_import)
    pa_ = psub.add_parser("activate", help="make this the active sheet (same as `prices active NAME`)")
    pa_.add_argument("name")
    add_common(pa_)
    pa_.set_defaults(func=run_activate)
    pc = psub.add_parser("active", help="show the active sheet (llm_calls, CLI, budgets, alerts), or set it")
    pc.add_argument("name", nargs="?", help="make this sheet the active one")
    add_common(pc)
    pc.set_defaults(func=run_active)
    pu = psub.add_parser("unknown", help="models in calls that a sheet cannot price")
    pu.add_argument("--sheet", default=None)
    add_common(pu)
    pu.set_defaults(func=run_unknown)


def _money(d: Decimal) -> str:
    return f"${d.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def run_estimate(args):
    from llmledger import config
    from llmledger.pricing.engine import DEFAULT_SHEET
    from llmledger.pricing.estimate import monthly_bill

    path = args.db or config.db_path()
    con = None
    sheet = args.sheet
    if os.path.exists(path):
        from llmledger.store.db import connect

        con = connect(path)
    elif sheet not in (None, DEFAULT_SHEET):
        raise PricingError(f"sheet {sheet!r} needs the ledger database, and {path} does not exist")
    try:
        if sheet is None:
            from llmledger.pricing.sheets import get_active_sheet

            sheet = get_active_sheet(con) if con is not None else DEFAULT_SHEET
        bill = monthly_bill(
            args.model,
            args.input_tokens,
            args.output_tokens,
            args.requests,
            sheet=sheet,
            cached_input_share=args.cached_share,
            batch_share=args.batch_share,
            growth_pct=args.growth_pct,
            months=args.months,
            con=con,
        )
    finally:
        if con is not None:
            con.close()
    data = bill.as_dict()
    lines = [f"{bill.model} under sheet {bill.sheet} (priced as {bill.priced_model}, {bill.match_kind} match)"]
    pr = bill.prices
    lines.append(
        "prices per 1M tokens: "
        + ", ".join(f"{k.replace('_mtok', '')} ${v.normalize():f}" for k, v in pr.items() if k.endswith("_mtok"))
    )
    for m in bill.months:
        lines.append(
            f"month {m.month}: {m.requests.normalize():f} requests  input {_money(m.input_usd)}  "
            f"cache {_money(m.cache_usd)}  output {_money(m.output_usd)}  total {_money(m.total_usd)}"
        )
    if len(bill.months) > 1:
        lines.append(f"total over {len(bill.months)} months: {_money(bill.total_usd)}")
    lines += [f"note: {n}" for n in bill.notes]
    return data, "\n".join(lines)


def _con(args, must_exist: bool = True):
    from llmledger import config
    from llmledger.store.db import connect

    path = args.db or config.db_path()
    if must_exist and not os.path.exists(path):
        raise PricingError(f"database {path} does not exist")
    return connect(path)


def run_list(args):
    from llmledger.pricing.sheets import list_sheets

    con = _con(args, must_exist=False)
    try:
        df = list_sheets(con)
    finally:
        con.close()
    rows = df.to_dict("records")
    text = "\n".join(
        f"{'*' if r['active'] else ' '} {r['sheet']:<24} {r['kind']:<13} {r['models']:>6} models  "
        f"{r['versions']} version(s)  {r['source']}"
        for r in rows
    )
    return {"sheets": rows}, text


def run_import(args):
    from llmledger.pricing.sheets import import_file, set_active_sheet

    con = _con(args, must_exist=False)
    try:
        name = import_file(
            con,
            args.path,
            name=args.name,
            effective_from=args.effective_from,
            base_sheet=args.base_sheet,
            discount_pct=args.discount_pct,
        )
        if args.activate:
            set_active_sheet(con, name)
    finally:
        con.close()
    return {"sheet": name, "active": bool(args.activate)}, f"imported sheet {name}" + (
        " (active)" if args.activate else ""
    )


def run_activate(args):
    from llmledger.pricing.sheets import set_active_sheet

    con = _con(args, must_exist=False)
    try:
        set_active_sheet(con, args.name)
    finally:
        con.close()
    return {"active_sheet": args.name}, f"active sheet: {args.name}"


def run_active(args):
    from llmledger.pricing.sheets import get_active_sheet

    if args.name:
        return run_activate(args)
    con = _con(args, must_exist=False)
    try:
        name = get_active_sheet(con)
    finally:
        con.close()
    return {"active_sheet": name}, f"active sheet: {name}"


def run_unknown(args):
    from llmledger.pricing.sheets import unknown_models

    con = _con(args)
    try:
        df = unknown_models(con, args.sheet)
    finally:
        con.close()
    rows = df.to_dict("records")
    text = "\n".join(f"{r['model']}  ({r['provider']})  {r['calls']} calls" for r in rows) or "every model has a price"
    return {"unknown_models": rows}, text
