"""`whatif`: the What-if lab from the command line.

    python -m llmledger whatif dataset PATH [--format auto|long|routellm-mmlu|routellm-gsm8k|
        routellm-mtbench|frugalgpt] [--strong M --weak M] [--cascade M1,M2,...] [--sheet S] [--json]

Other `whatif` subcommands (traffic, cache, prompt-cache, compress, memory, batch) live in their
own modules: for each (module, function) in WHATIF_HOOKS whose module exists, the function is
called with the `whatif` subparsers object.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from llmledger.cli_common import add_common
from llmledger.errors import SimulationError

#: (module, function) pairs that add `whatif` subcommands: `function(whatif_subparsers)`.
#: Modules that do not exist (yet) are skipped; issue #18 adds cache|prompt-cache|compress|memory|batch.
WHATIF_HOOKS = (
    ("llmledger.simulate.traffic_cli", "register_traffic"),
    ("llmledger.simulate.levers_cli", "register_whatif"),
)


def register(sub) -> None:
    p = sub.add_parser("whatif", help="router and cascade what-ifs on outcome datasets and on stored traffic")
    wsub = p.add_subparsers(dest="whatif_command", required=True, parser_class=type(p))
    d = wsub.add_parser("dataset", help="routers and cascades on a per-query outcome dataset")
    d.add_argument("path", help="a long CSV, or a RouteLLM / FrugalGPT file or folder (see --format)")
    d.add_argument(
        "--format",
        default="auto",
        choices=("auto", "long", "routellm-mmlu", "routellm-gsm8k", "routellm-mtbench", "frugalgpt"),
    )
    d.add_argument("--strong", help="strong model (default: the most accurate)")
    d.add_argument("--weak", help="weak model (default: the cheapest)")
    d.add_argument(
        "--cascade",
        help="comma-separated cascade order, cheapest first (default: weak,strong for "
        "two models, else FrugalGPT's search over up to 3 models)",
    )
    d.add_argument("--sheet", help="price sheet for token columns (default: the active one, else litellm)")
    d.add_argument(
        "--router",
        default=None,
        help="router score source: learned (needs query text), oracle, random or an imported "
        "score's name (default: learned when 50+ queries have text, else an imported score, else random)",
    )
    d.add_argument(
        "--scorer",
        default=None,
        choices=("learned", "oracle"),
        help="cascade scorer (default: learned when 50+ queries have text, else oracle)",
    )
    d.add_argument("--thresholds", type=int, default=200, help="router thresholds to sweep (default 200)")
    d.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    d.add_argument("--seed", type=int, default=0)
    add_common(d)
    d.set_defaults(func=run_dataset)
    for name, func in WHATIF_HOOKS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue
            raise
        getattr(mod, func)(wsub)


def _sheet_and_con(args):
    """The sheet to price token columns with, and a connection when it lives in the ledger."""
    from llmledger import config
    from llmledger.pricing.engine import DEFAULT_SHEET

    sheet = args.sheet
    path = args.db or config.db_path()
    if sheet in (None, DEFAULT_SHEET) and not os.path.exists(path):
        return DEFAULT_SHEET, None
    if not os.path.exists(path):
        raise SimulationError(f"sheet {sheet!r} needs the ledger database, and {path} does not exist")
    from llmledger.errors import DatabaseLocked
    from llmledger.store.db import connect

    try:
        con = connect(path)
    except DatabaseLocked:
        # The dashboard holds the ledger: a dataset what-if needs it only for a sheet kept there.
        if sheet in (None, DEFAULT_SHEET):
            return DEFAULT_SHEET, None
        raise
    if sheet is None:
        from llmledger.pricing.sheets import get_active_sheet

        sheet = get_active_sheet(con)
    return sheet, con


def run_dataset(args):
    from llmledger.simulate.datasets import load_dataset
    from llmledger.simulate.report import dataset_report, render_text

    if args.thresholds < 2:
        raise SimulationError("--thresholds must be at least 2")
    sheet, con = _sheet_and_con(args)
    try:
        ds = load_dataset(args.path, fmt=args.format, sheet=sheet, con=con, strong=args.strong, weak=args.weak)
    finally:
        if con is not None:
            con.close()
    order = [m.strip() for m in args.cascade.split(",") if m.strip()] if args.cascade else None
    data: dict[str, Any] = dataset_report(
        ds,
        strong=args.strong,
        weak=args.weak,
        cascade_order=order,
        router_source=args.router,
        scorer=args.scorer,
        thresholds=args.thresholds,
        folds=args.folds,
        seed=args.seed,
    )
    return data, render_text(data)
