"""`plan` commands: list saved requirement sets, import/export them, project a monthly bill."""

from __future__ import annotations

from pathlib import Path

from llmledger.cli_common import add_common
from llmledger.errors import PlanningError


def register(sub) -> None:
    p = sub.add_parser("plan", help="requirement sets: list, import, export, project the monthly bill")
    psub = p.add_subparsers(dest="plan_command", required=True)
    pl = psub.add_parser("list", help="saved plans and their versions")
    add_common(pl)
    pl.set_defaults(func=run_list)
    pe = psub.add_parser("export", help="print a plan as Markdown or JSON")
    pe.add_argument("name")
    pe.add_argument("--version", type=int, help="version (default: latest)")
    pe.add_argument("--format", choices=("md", "json"), default="md")
    add_common(pe, db=True)
    pe.set_defaults(func=run_export)
    pi = psub.add_parser("import", help="save a JSON export as a new version")
    pi.add_argument("path")
    pi.add_argument("--note", default="imported")
    add_common(pi)
    pi.set_defaults(func=run_import)
    pp = psub.add_parser("project", help="month-by-month bill of a saved plan")
    pp.add_argument("name")
    pp.add_argument("--version", type=int, help="version (default: latest)")
    pp.add_argument("--sheet", help="price sheet (default: the plan's, else the active one)")
    add_common(pp)
    pp.set_defaults(func=run_project)


def _con(args):
    from llmledger.store.db import connect

    return connect(args.db) if args.db else connect()


def run_list(args):
    from llmledger.planning import store

    con = _con(args)
    try:
        df = store.list_plans(con)
    finally:
        con.close()
    rows = [{"plan": r.plan, "versions": int(r.versions), "last_saved": r.last_saved} for r in df.itertuples()]
    text = (
        "\n".join(f"{r['plan']}  v{r['versions']}  {r['last_saved']:%Y-%m-%d %H:%M}" for r in rows) or "no saved plans"
    )
    return rows, text


def run_export(args):
    from llmledger.planning import store

    con = _con(args)
    try:
        rs = store.load(con, args.name, args.version)
    finally:
        con.close()
    text = store.to_json(rs) if args.format == "json" else store.to_markdown(rs)
    return rs.to_dict(), text


def run_import(args):
    from llmledger.planning import store

    path = Path(args.path)
    if not path.exists():
        raise PlanningError(f"{path}: no such file")
    rs = store.from_json_bytes(path.read_bytes())
    con = _con(args)
    try:
        version = store.save(con, rs, note=args.note)
    finally:
        con.close()
    return {"plan": rs.name, "version": version}, f"saved {rs.name} v{version}"


def _records(df) -> list[dict]:
    """Rows as dicts, NaN as None (valid JSON)."""
    import math

    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in df.to_dict(orient="records")
    ]


def run_project(args):
    from llmledger.planning import prices, store
    from llmledger.planning.projection import PLAN, project

    con = _con(args)
    try:
        rs = store.load(con, args.name, args.version)
        sheet = prices.sheet_models(con, args.sheet or rs.sheet or None)
    finally:
        con.close()
    proj = project(rs, sheet)
    totals = proj.totals_frame()
    data = {
        "plan": rs.name,
        "version": rs.version,
        "months": proj.months,
        "scenarios": {sc: [round(float(v), 6) for v in totals[sc]] for sc in proj.scenarios},
        "use_cases": _records(proj.summary(PLAN)),
        "budget_exceeded_in": proj.budget_breach(PLAN),
        "notes": proj.notes,
    }
    width = max(12, *(len(s) for s in proj.scenarios))
    lines = ["month    " + "".join(s.rjust(width + 2) for s in proj.scenarios)]
    for m, row in zip(proj.months, totals.itertuples(index=False)):
        lines.append(m.ljust(9) + "".join(f"${v:,.2f}".rjust(width + 2) for v in row))
    lines.append("total    " + "".join(f"${totals[s].sum():,.2f}".rjust(width + 2) for s in proj.scenarios))
    lines.append(f"budget exceeded in: {data['budget_exceeded_in'] or 'never'}")
    lines += [f"note: {n}" for n in proj.notes]
    return data, "\n".join(lines)
