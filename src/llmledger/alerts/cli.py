"""`budgets add|list|remove|status` and `alerts check|list|ack|snooze|resolve|test`.

Handlers return (data, text) like every area's (llmledger/cli.py); a LedgerError becomes one line
on stderr and exit 1. The database is opened for writing, so with the dashboard (or serve-otlp)
holding it the command says so and exits 1: the dashboard's own evaluator is then the one running.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from llmledger.cli_common import add_common
from llmledger.errors import LedgerError


class CliInputError(LedgerError):
    title = "Invalid input"


def _serve_hook(service, con):
    """serve-otlp: check budgets on their own thread after each load and every minute."""
    from llmledger.alerts.runner import AlertRunner

    runner = AlertRunner(con).start()
    service.on_loaded.append(runner.poke)
    return runner.stop


def register(sub) -> None:
    from llmledger.telemetry import cli as telemetry_cli

    if _serve_hook not in telemetry_cli.SERVE_HOOKS:
        telemetry_cli.SERVE_HOOKS.append(_serve_hook)
    from llmledger.alerts import metrics  # serve-otlp answers GET /metrics on its port as well

    if metrics.serve_hook not in telemetry_cli.SERVE_HOOKS:
        telemetry_cli.SERVE_HOOKS.append(metrics.serve_hook)
    b = sub.add_parser("budgets", help="budgets: add, list, remove, status")
    bsub = b.add_subparsers(dest="budgets_command", required=True)
    a = bsub.add_parser("add", help="add a budget")
    a.add_argument("name")
    a.add_argument("--amount", required=True, help="USD (or tokens with --unit tokens) per period")
    a.add_argument("--period", required=True, help="day | week | month | quarter | rolling-24h (rolling-<N>h|d)")
    a.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="DIM=VALUE",
        help="scope (repeatable; values of one dimension are alternatives)",
    )
    a.add_argument("--each", help="one budget per value of this dimension (e.g. user_id)")
    a.add_argument("--thresholds", default="50,80,100", help="percent of the amount on actual spend")
    a.add_argument("--forecast-thresholds", default="", help="percent of the amount on the p50 period-end forecast")
    a.add_argument("--notify", action="append", default=[], metavar="APPRISE_URL", help="destination (repeatable)")
    a.add_argument("--tz", default="UTC", help="time zone of calendar periods (IANA name)")
    a.add_argument("--unit", default="usd", choices=("usd", "tokens"))
    a.add_argument("--replace", action="store_true", help="replace a budget of the same name")
    add_common(a)
    a.set_defaults(func=run_add)
    ls = bsub.add_parser("list", help="every budget")
    add_common(ls)
    ls.set_defaults(func=run_list)
    rm = bsub.add_parser("remove", help="delete a budget (its past alerts stay)")
    rm.add_argument("name")
    add_common(rm)
    rm.set_defaults(func=run_remove)
    st = bsub.add_parser("status", help="spend, forecast and state of each budget for the period containing --as-of")
    st.add_argument("--as-of", help="ISO time (default now; a time without zone is UTC)")
    add_common(st)
    st.set_defaults(func=run_status)

    mo = sub.add_parser("monitors", help="anomaly monitors: add, list, remove")
    msub = mo.add_subparsers(dest="monitors_command", required=True)
    ma = msub.add_parser("add", help="add a monitor")
    ma.add_argument("name")
    ma.add_argument("--kind", required=True, choices=("cost_spike", "unpriced_model", "missing_usage", "error_rate"))
    ma.add_argument("--dim", default="feature", help="cost_spike: feature | model | user")
    ma.add_argument("--window-hours", default=24)
    ma.add_argument("--threshold", help="cost_spike: MADs above the median (4); rates: percentage points (10 / 5)")
    ma.add_argument("--weeks", default=4, help="weeks of same-weekday baseline")
    ma.add_argument("--min-usd", default=1.0)
    ma.add_argument("--min-calls", default=20)
    ma.add_argument("--severity", default="warning", choices=("info", "warning", "critical"))
    ma.add_argument("--cooldown-hours", default=24)
    ma.add_argument("--notify", action="append", default=[], metavar="APPRISE_URL")
    ma.add_argument("--where", action="append", default=[], metavar="DIM=VALUE", help="watch only these calls")
    add_common(ma)
    ma.set_defaults(func=run_monitor_add)
    ml = msub.add_parser("list", help="every monitor")
    add_common(ml)
    ml.set_defaults(func=run_monitor_list)
    mr = msub.add_parser("remove", help="delete a monitor (its past alerts stay)")
    mr.add_argument("name")
    add_common(mr)
    mr.set_defaults(func=run_monitor_remove)

    al = sub.add_parser("alerts", help="alerts: check, list, ack, snooze, resolve, test")
    asub = al.add_subparsers(dest="alerts_command", required=True)
    c = asub.add_parser("check", help="evaluate every budget at --as-of, record and notify new events")
    c.add_argument("--as-of", help="ISO time (default now; a time without zone is UTC)")
    c.add_argument("--no-deliver", action="store_true", help="record events; leave delivery to a later check")
    add_common(c)
    c.set_defaults(func=run_check)
    li = asub.add_parser("list", help="alert events, newest first")
    li.add_argument("--state", choices=("firing", "acknowledged", "snoozed", "resolved"))
    li.add_argument("--severity", choices=("info", "warning", "critical"))
    li.add_argument("--budget", help="only this budget's events")
    li.add_argument("--limit", type=int, default=200)
    add_common(li)
    li.set_defaults(func=run_alert_list)
    ack = asub.add_parser("ack", help="acknowledge an alert")
    ack.add_argument("id")
    ack.add_argument("--note", required=True)
    ack.add_argument("--by", default="cli")
    add_common(ack)
    ack.set_defaults(func=run_ack)
    sn = asub.add_parser("snooze", help="snooze an alert until a time (its budget's new alerts are not sent meanwhile)")
    sn.add_argument("id")
    sn.add_argument("--until", required=True, help="ISO time")
    sn.add_argument("--note", required=True)
    sn.add_argument("--by", default="cli")
    add_common(sn)
    sn.set_defaults(func=run_snooze)
    rs = asub.add_parser("resolve", help="mark an alert resolved")
    rs.add_argument("id")
    rs.add_argument("--note", default="")
    rs.add_argument("--by", default="cli")
    add_common(rs)
    rs.set_defaults(func=run_resolve)
    te = asub.add_parser("test", help="send a test notification to an apprise URL")
    te.add_argument("url")
    add_common(te)
    te.set_defaults(func=run_test)


def _con(args):
    from llmledger.store.db import connect

    return connect(args.db) if args.db else connect()


def parse_time(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        ts = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliInputError(f"--as-of {raw!r} is not an ISO time (e.g. 2026-06-15T12:00:00Z)") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _id(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise CliInputError(f"alert id {raw!r} is not a number") from None
    if value <= 0:
        raise CliInputError(f"alert id {raw!r} is not a positive number")
    return value


def _budget_row(rule_id: int, budget) -> dict[str, Any]:
    return {"id": rule_id, **budget.to_dict(), "amount": float(budget.amount)}


# ------------------------------------------------------------------ budgets


def run_add(args):
    from llmledger.alerts import budgets

    b = budgets.Budget.build(
        args.name,
        args.amount,
        args.period,
        unit=args.unit,
        tz=args.tz,
        where=args.where,
        each=args.each,
        thresholds=args.thresholds,
        forecast_thresholds=args.forecast_thresholds,
        notify=args.notify,
    )
    con = _con(args)
    try:
        rid = budgets.save(con, b, replace=b.name if args.replace and _exists(con, b.name) else None)
    finally:
        con.close()
    return _budget_row(rid, b), f"saved budget {b.name!r}: {b.amount_text()} per {b.period} ({b.scope_text()})"


def _exists(con, name: str) -> bool:
    from llmledger.alerts import budgets

    return any(s.budget.name == name for s in budgets.load_all(con))


def run_list(args):
    from llmledger.alerts import budgets

    con = _con(args)
    try:
        stored = budgets.load_all(con)
    finally:
        con.close()
    rows = [_budget_row(s.rule_id, s.budget) for s in stored]
    text = (
        "\n".join(
            f"{s.budget.name}: {s.budget.amount_text()} per {s.budget.period} ({s.budget.tz}), {s.budget.scope_text()}; "
            f"thresholds {', '.join(t.key for t in s.budget.thresholds)}; notify {len(s.budget.notify)}"
            for s in stored
        )
        or "no budgets"
    )
    return {"budgets": rows}, text


def run_remove(args):
    from llmledger.alerts import budgets

    con = _con(args)
    try:
        budgets.remove(con, args.name)
    finally:
        con.close()
    return {"removed": args.name}, f"removed budget {args.name!r}"


def status_rows(statuses) -> list[dict[str, Any]]:
    out = []
    for s in statuses:
        b = s.budget
        row = {
            "name": b.name,
            "id": s.rule_id,
            "unit": b.unit,
            "amount": float(b.amount),
            "period": b.period,
            "tz": b.tz,
            "scope": b.scope_dict(),
            "each": b.each,
            "period_start": s.window.start,
            "period_end": s.window.end,
            "period_label": s.period_label(),
            "state": s.state(),
        }
        if s.whole is not None:
            row.update(_fig(s.whole))
        else:
            row["members"] = s.member_count
            row["top_members"] = [dict(_fig(f), member=f.member, state=s.state(f)) for f in s.members[:10]]
        out.append(row)
    return out


def _fig(f) -> dict[str, Any]:
    return {
        "spent": f.spent,
        "pct": round(f.pct, 2),
        "calls": f.calls,
        "unpriced_calls": f.unpriced,
        "forecast_p10": f.p10,
        "forecast_p50": f.p50,
        "forecast_p90": f.p90,
        "forecast_method": f.method,
        "runs_out": f.runs_out,
    }


def run_status(args):
    from llmledger.alerts import evaluate

    as_of = parse_time(args.as_of)
    con = _con(args)
    try:
        statuses = evaluate.status(con, as_of)
    finally:
        con.close()
    rows = status_rows(statuses)
    lines = []
    for s in statuses:
        b = s.budget
        if s.whole is not None:
            f = s.whole
            fc = f" forecast {b.amount_text(f.p50)}" if f.p50 is not None else ""
            un = f", {f.unpriced} unpriced call(s) not in the sum" if f.unpriced else ""
            lines.append(
                f"{b.name}: {b.amount_text(f.spent)} of {b.amount_text()} ({f.pct:.0f}%){fc} "
                f"[{s.state()}] {s.period_label()}{un}"
            )
        else:
            top = ", ".join(f"{f.member} {f.pct:.0f}%" for f in s.members[:3]) or "no members yet"
            lines.append(
                f"{b.name}: each {b.each}, {s.member_count} member(s), {b.amount_text()} each "
                f"[{s.state()}] {s.period_label()}; closest: {top}"
            )
    as_of_text = (as_of or datetime.now(UTC)).isoformat()
    return {"as_of": as_of_text, "budgets": rows}, "\n".join(lines) or "no budgets"


# ------------------------------------------------------------------ alerts


def run_check(args):
    from llmledger.alerts import evaluate

    as_of = parse_time(args.as_of)
    con = _con(args)
    try:
        out = evaluate.check(con, as_of, deliver=not args.no_deliver)
    finally:
        con.close()
    lines = [f"{len(out['new_events'])} new alert(s) at {out['as_of']} over {out['budgets']} budget(s)"]
    lines += [f"  #{e['event_id']} [{e['severity']}] {e['title']}" for e in out["new_events"]]
    d = out["deliveries"]
    if d:
        lines.append(
            f"notifications: {d.get('delivered', 0)} delivered, {d.get('retrying', 0)} to retry, "
            f"{d.get('failed', 0)} failed"
        )
    return out, "\n".join(lines)


def _event_row(r: dict) -> dict[str, Any]:
    keys = (
        "event_id",
        "state",
        "severity",
        "rule_name",
        "member",
        "threshold",
        "title",
        "period_start",
        "period_end",
        "fired_at",
        "as_of",
        "state_by",
        "state_note",
        "state_at",
        "snoozed_until",
        "delivered",
        "failed",
        "pending",
        "figures",
        "explanation",
    )
    out = {}
    for k in keys:
        v = r.get(k)
        if v is not None and not isinstance(v, (str, int, float, dict, list, bool)):
            v = None if str(v) in ("NaT", "nan", "None") else (v.isoformat() if hasattr(v, "isoformat") else v)
        if hasattr(v, "item"):
            v = v.item()
        out[k] = v
    return out


def run_alert_list(args):
    from llmledger.alerts import events

    con = _con(args)
    try:
        df = events.list_events(con, state=args.state, severity=args.severity, rule=args.budget, limit=args.limit)
    finally:
        con.close()
    rows = [_event_row(r) for r in df.to_dict("records")]
    text = "\n".join(f"#{r['event_id']} {r['state']:<12} [{r['severity']}] {r['title']}" for r in rows) or "no alerts"
    return {"alerts": rows}, text


def _state_change(args, fn, **kw):
    con = _con(args)
    try:
        row = fn(con, _id(args.id), by=args.by, **kw)
    finally:
        con.close()
    return _event_row(row), f"#{row['event_id']} {row['state']}"


def run_ack(args):
    from llmledger.alerts import events

    return _state_change(args, events.acknowledge, note=args.note)


def run_snooze(args):
    from llmledger.alerts import events

    until = parse_time(args.until)
    return _state_change(args, events.snooze, until=until, note=args.note)


def run_resolve(args):
    from llmledger.alerts import events

    return _state_change(args, events.resolve, note=args.note)


def run_test(args):
    from llmledger.alerts import notify

    con = _con(args)
    try:
        out = notify.send_test(con, args.url)
    finally:
        con.close()
    if not out["ok"]:
        raise notify.NotifyError(f"test notification to {out['url']} failed: {out['error']}")
    return out, f"test notification sent to {out['url']} in {out['seconds']:.2f} s"


# ------------------------------------------------------------------ monitors


def run_monitor_add(args):
    from llmledger.alerts import monitors

    m = monitors.Monitor.build(
        args.name,
        args.kind,
        dim=args.dim,
        window_hours=args.window_hours,
        threshold=args.threshold,
        weeks=args.weeks,
        min_usd=args.min_usd,
        min_calls=args.min_calls,
        severity=args.severity,
        cooldown_hours=args.cooldown_hours,
        notify=args.notify,
        where=args.where,
    )
    con = _con(args)
    try:
        rid = monitors.save(con, m)
    finally:
        con.close()
    return {"id": rid, **m.to_dict()}, f"saved monitor {m.name!r}: {m.describe()}"


def run_monitor_list(args):
    from llmledger.alerts import monitors

    con = _con(args)
    try:
        stored = monitors.load_all(con)
    finally:
        con.close()
    rows = [{"id": s.rule_id, **s.monitor.to_dict()} for s in stored]
    text = (
        "\n".join(
            f"{s.monitor.name}: {s.monitor.describe()} [{s.monitor.severity}, cool-down {s.monitor.cooldown_hours} h]"
            for s in stored
        )
        or "no monitors"
    )
    return {"monitors": rows}, text


def run_monitor_remove(args):
    from llmledger.alerts import monitors

    con = _con(args)
    try:
        monitors.remove(con, args.name)
    finally:
        con.close()
    return {"removed": args.name}, f"removed monitor {args.name!r}"
