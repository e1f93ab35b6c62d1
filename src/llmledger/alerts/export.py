"""The budget review export: the period's budgets and alerts as Markdown and CSV (pure functions
over evaluate.status results and events.list_events frames)."""

from __future__ import annotations

import io
from datetime import datetime

import pandas as pd

from llmledger.pricing.engine import ACTUAL_COST_RULE


def _md(text) -> str:
    """A table cell: pipes and line breaks would end it; backslash escapes keep names literal."""
    s = " ".join(str(text if text is not None else "").split())
    for ch in "\\|*_`[]<>#":
        s = s.replace(ch, "\\" + ch)
    return s


def budgets_frame(statuses) -> pd.DataFrame:
    rows = []
    for s in statuses:
        b = s.budget
        for f in s.rows or []:
            rows.append(
                {
                    "budget": b.name,
                    "member": f.member,
                    "each": b.each or "",
                    "scope": b.scope_text(),
                    "period": s.period_label(),
                    "unit": b.unit,
                    "amount": f.amount,
                    "spent": f.spent,
                    "pct": round(f.pct, 1),
                    "forecast_p50": f.p50,
                    "forecast_p10": f.p10,
                    "forecast_p90": f.p90,
                    "forecast_method": f.method,
                    "runs_out": f.runs_out.isoformat() if f.runs_out else "",
                    "state": s.state(f),
                    "calls": f.calls,
                    "unpriced_calls": f.unpriced,
                }
            )
        if not s.rows:
            rows.append(
                {
                    "budget": b.name,
                    "member": "",
                    "each": b.each or "",
                    "scope": b.scope_text(),
                    "period": s.period_label(),
                    "unit": b.unit,
                    "amount": float(b.amount),
                    "spent": 0.0,
                    "pct": 0.0,
                    "state": "ok",
                    "calls": 0,
                    "unpriced_calls": 0,
                }
            )
    return pd.DataFrame(rows)


ALERT_COLUMNS = [
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
    "state_by",
    "state_note",
    "snoozed_until",
    "delivered",
    "failed",
]


def review_csv(statuses, alerts: pd.DataFrame) -> tuple[str, str]:
    """(budgets CSV, alerts CSV)."""
    b = io.StringIO()
    budgets_frame(statuses).to_csv(b, index=False)
    a = io.StringIO()
    cols = [c for c in ALERT_COLUMNS if c in alerts.columns]
    alerts[cols].to_csv(a, index=False)
    return b.getvalue(), a.getvalue()


def review_markdown(statuses, alerts: pd.DataFrame, as_of: datetime, sheet: str) -> str:
    lines = [
        f"# Budget review, {as_of:%Y-%m-%d %H:%M} UTC",
        "",
        f"Price sheet: {_md(sheet)} (the active sheet). {ACTUAL_COST_RULE} "
        "Forecast thresholds compare the p50 forecast of the period-end total.",
        "",
        "## Budgets",
        "",
        "| budget | member | period | spent | budget | % | forecast (p50) | runs out | state | unpriced calls |",
        "|---|---|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for s in statuses:
        b = s.budget
        for f in (s.rows or [])[:20]:
            lines.append(
                f"| {_md(b.name)} | {_md(f.member)} | {_md(s.period_label())} | {b.amount_text(f.spent)} | "
                f"{b.amount_text(f.amount)} | {f.pct:.0f}% | "
                f"{b.amount_text(f.p50) if f.p50 is not None else ''} | "
                f"{f.runs_out.isoformat() if f.runs_out else ''} | {s.state(f)} | {f.unpriced:,} |"
            )
        if b.each and s.member_count > 20:
            lines.append(f"| {_md(b.name)} | ... {s.member_count - 20} more members | | | | | | | | |")
    lines += ["", "## Alerts", ""]
    if alerts.empty:
        lines.append("No alerts in this period.")
    else:
        lines += ["| id | state | severity | alert | fired | handled by | note |", "|---:|---|---|---|---|---|---|"]
        for r in alerts.itertuples():
            fired = r.fired_at.strftime("%Y-%m-%d %H:%M") if hasattr(r.fired_at, "strftime") else str(r.fired_at)
            lines.append(
                f"| {r.event_id} | {r.state} | {r.severity} | {_md(r.title)} | {fired} | "
                f"{_md(r.state_by or '')} | {_md(r.state_note or '')} |"
            )
        lines += ["", "### Explanations", ""]
        for r in alerts.head(20).itertuples():
            top = (r.explanation or {}).get("top", [])[:5]
            if top:
                lines.append(
                    f"- #{r.event_id} {_md(r.title)}: "
                    + "; ".join(f"{_md(c['dim'])} {_md(c['value'])} {_md(c.get('delta_text', ''))}" for c in top)
                )
    return "\n".join(lines) + "\n"
