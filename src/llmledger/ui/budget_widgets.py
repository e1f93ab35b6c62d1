"""Streamlit glue for the Budgets page: budget cards, the alerts inbox, the budget editor, the
delivery log and the review export. Logic lives in llmledger.alerts; this only lays out widgets.
Names from users and telemetry are shown through fmt.plain_markdown (Markdown) or in tables."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from llmledger.alerts import budgets as bmod
from llmledger.alerts import evaluate, events, export, notify
from llmledger.reads.filters import UNATTRIBUTED, FilterChoice
from llmledger.ui import budget_charts, call_reads, common, vega, widgets
from llmledger.ui import format as fmt

STATE_ICONS = {"ok": "🟢", "warning": "🟡", "forecast over": "🟠", "over": "🔴"}
SEVERITY_ICONS = {"info": "🔵", "warning": "🟠", "critical": "🔴"}
PERIODS = ["day", "week", "month", "quarter", "rolling-24h", "rolling-7d"]
ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Australia/Sydney",
]
#: Scope dimension -> the Calls/Spend filter it maps to (widgets.call_filters keys `<page>_f_<dim>`).
PAGE_DIMS = {
    "feature": "feature",
    "team": "team",
    "user_id": "user",
    "service": "service",
    "environment": "environment",
    "model": "model",
    "request_model": "model",
    "response_model": "model",
    "provider": "provider",
}
#: Form labels for scope dimensions -> the options list they draw from (queries.dimension_values).
FORM_DIMS = {
    "feature": "feature",
    "team": "team",
    "user_id": "user",
    "service": "service",
    "environment": "environment",
    "model": "model",
    "provider": "provider",
}


#: The page's tabs (st.tabs key) and their names; the inbox's label also carries the firing count.
TAB_KEY = "budgets_tab"
TABS = ("Budgets", "Alerts inbox", "Create / edit", "Notifications", "Review export")
_TAB_LABELS = "_budgets_tab_labels"


def tab_labels(n_firing: int) -> list[str]:
    """The tab labels, "Alerts inbox (N firing)" with the live count, keeping the open tab open.

    Streamlit identifies a keyed st.tabs by its labels too: when the count changes (an alert
    acknowledged, a new one fired), it sees a new widget and would open the first tab. So the open
    tab is carried over by name before the tabs are drawn; any value starting "Alerts inbox" (the
    old count's label, or the bare name) means the inbox."""
    labels = [TABS[0], f"{TABS[1]} ({n_firing} firing)", *TABS[2:]]
    ss = st.session_state
    shown = ss.get(TAB_KEY)
    if isinstance(shown, str) and (shown not in labels or ss.get(_TAB_LABELS) != labels):
        name = shown if shown in TABS else TABS[1] if shown.startswith(TABS[1]) else None
        if name is not None:
            ss[TAB_KEY] = labels[TABS.index(name)]
    ss[_TAB_LABELS] = labels
    return labels


def as_of_picker() -> datetime:
    """Sidebar: the moment budgets are evaluated at (now, or the end of a past UTC day)."""
    with st.sidebar:
        st.subheader("Evaluate at")
        now = st.toggle("Now", value=True, key="budgets_now")
        if now:
            return datetime.now(UTC)
        day = st.date_input("End of UTC day", value=date.today() - timedelta(days=1), key="budgets_as_of_day")
        return datetime.combine(day, time(23, 59, 59), UTC)


def statuses(as_of: datetime) -> list[evaluate.BudgetStatus]:
    """Every budget at `as_of` (not st.cache_data: the forecasts are cached per hour below)."""
    return evaluate.status(common.resources()["con"], as_of)


def _v(b: bmod.Budget, v: float | None) -> str:
    return "—" if v is None else b.amount_text(v)


def budget_card(s: evaluate.BudgetStatus, i: int) -> None:
    b = s.budget
    f = s.worst
    state = s.state()
    with st.container(border=True):
        left, right = st.columns([2, 3], vertical_alignment="center")
        left.markdown(
            f"**{fmt.plain_markdown(b.name)}** {STATE_ICONS.get(state, '')} `{state}`  \n"
            f"{fmt.plain_markdown(b.amount_text())} per {fmt.plain_markdown(b.period)} · "
            f"{fmt.plain_markdown(b.scope_text())}  \n{fmt.plain_markdown(s.period_label())}"
        )
        vega.show(right, budget_charts.progress(s), key=f"budgets_progress_{i}")
        if f is None:
            st.caption("No calls in this period yet.")
            return
        m = fmt.plain_markdown
        who = m(f"{b.each} {f.member}:") + " " if b.each else ""
        parts = [f"{who}spent **{m(_v(b, f.spent))}** of {m(_v(b, f.amount))} ({f.pct:.0f}%)"]
        if f.p50 is not None:
            band = f" (p10–p90 {m(_v(b, f.p10))}–{m(_v(b, f.p90))})" if f.p10 is not None else ""
            parts.append(f"forecast at period end **{m(_v(b, f.p50))}**{band}, {m(f.method)}")
        if f.spent >= f.amount:
            parts.append("**over budget**")
        elif f.runs_out:
            parts.append(f"forecast to run out on **{f.runs_out:%Y-%m-%d}**")
        elif f.p50 is not None:
            parts.append("not forecast to run out this period")
        if f.unpriced:
            parts.append(f"{f.unpriced:,} unpriced call(s) not in the sum")
        if b.each:
            parts.append(f"{s.member_count:,} member(s)")
        st.caption(" · ".join(parts))


def budget_detail(s: evaluate.BudgetStatus, key: str) -> None:
    """Burn-up, members closest to the limit, and the history of past periods."""
    con = common.resources()["con"]
    b = s.budget
    if b.each:
        if s.members:
            vega.show(st, budget_charts.members(s), key=f"{key}_members")
            table = pd.DataFrame(
                [
                    {
                        "member": f.member,
                        "spent": f.spent,
                        "pct": f.pct / 100,
                        "forecast": f.p50,
                        "forecast by": f.method,
                        "runs out": f.runs_out,
                        "state": s.state(f),
                        "unpriced calls": f.unpriced,
                    }
                    for f in s.members
                ]
            )
            st.dataframe(
                table,
                hide_index=True,
                key=f"{key}_members_table",
                column_config={
                    "pct": st.column_config.ProgressColumn("of budget", format="percent", min_value=0, max_value=1),
                    **_money_columns(b.unit, ("spent", "forecast")),
                },
            )
            st.caption(
                f"The {evaluate.TOP_FORECAST} members closest to their limit are forecast with the weekly "
                'seasonal model when they have two weeks of history or more ("forecast by" says which); '
                "the others by the linear run rate (spent so far / days elapsed × days in the period), which "
                'is also what forecast thresholds of an "each" budget compare.'
            )
        else:
            st.info("No member has calls in this period yet.")
    elif not s.window.rolling:
        vega.show(st, budget_charts.burn_up(s), key=f"{key}_burnup")
        if s.forecast is not None:
            st.caption(
                fmt.plain_markdown(
                    f"Forecast method: {s.forecast.method}. {s.forecast.note or ''} Forecast thresholds compare the "
                    f"p50 (median) period-end total with the budget."
                )
            )
    member = s.members[0].member if b.each and s.members else None  # the member closest to the limit
    past = evaluate.history(con, s, 6, member)
    vega.show(st, budget_charts.history(s, past, member), key=f"{key}_history")


# ------------------------------------------------------------------ inbox


def firing_count() -> int:
    return events.count(common.resources()["con"], "firing")


def inbox(key: str = "budgets_inbox") -> None:
    con = common.resources()["con"]
    c1, c2, c3 = st.columns(3)
    state = c1.selectbox(
        "State",
        ["open (firing, snoozed, acknowledged)", *events.STATES, "all"],
        key=f"{key}_state",
        persist_state="page",
    )
    severity = c2.selectbox("Severity", ["all", *events.SEVERITIES], key=f"{key}_severity", persist_state="page")
    names = [sb.budget.name for sb in bmod.load_all(con)]
    rule = c3.selectbox("Budget", ["all", *names], key=f"{key}_rule", persist_state="page")
    df = events.list_events(
        con,
        state=state if state in events.STATES else None,
        severity=None if severity == "all" else severity,
        rule=None if rule == "all" else rule,
    )
    if state.startswith("open"):
        df = df[df["state"] != "resolved"]
    if df.empty:
        st.info("No alerts match.")
        return
    view = pd.DataFrame(
        {
            "id": df["event_id"],
            "state": df["state"],
            "severity": [f"{SEVERITY_ICONS.get(s, '')} {s}" for s in df["severity"]],
            "alert": df["title"],
            "budget": df["rule_name"],
            "member": df["member"],
            "fired": df["fired_at"],
            "delivered": df["delivered"],
            "failed": df["failed"],
        }
    )
    st.dataframe(view, hide_index=True, key=f"{key}_table")
    ids = [int(i) for i in df["event_id"]]
    titles = dict(zip(ids, df["title"]))
    pick = st.selectbox(
        "Open alert",
        [None, *ids],
        key=f"{key}_open",
        persist_state="page",
        format_func=lambda i: (
            "Pick an alert to see its explanation and act on it" if i is None else f"#{i} {titles[i]}"
        ),
    )
    if pick is not None:
        alert_detail(df[df["event_id"] == pick].iloc[0].to_dict(), key)


def alert_detail(e: dict[str, Any], key: str) -> None:
    con = common.resources()["con"]
    f, ex = e["figures"], e["explanation"]
    with st.container(border=True):
        st.markdown(f"#### #{e['event_id']} {fmt.plain_markdown(e['title'])}")
        st.caption(
            fmt.plain_markdown(
                f"{e['severity']} · {e['state']} · {f.get('period_label', 'monitor')} · {f.get('scope', '')} · "
                f"price sheet {f.get('sheet', '')} · fired {e['fired_at']:%Y-%m-%d %H:%M} UTC"
                + (f" · {e['state']} by {e['state_by']}: {e['state_note']}" if e.get("state_by") else "")
            )
        )
        if "monitor" in f:
            m1, m2 = st.columns(2)
            money = f["monitor"] == "cost_spike"
            m1.metric(
                "Seen",
                f"${f['value']:,.2f}"
                if money
                else f"{f['value']:,.1f}" + ("" if money else (" calls" if f["monitor"] == "unpriced_model" else "%")),
            )
            m2.metric(
                "Baseline",
                f"${f['baseline']:,.2f}"
                if money
                else f"{f['baseline']:,.1f}" + ("" if money else ("" if f["monitor"] == "unpriced_model" else "%")),
            )
        else:
            m1, m2, m3, m4 = st.columns(4)
            m1.metric("Spent at firing", f.get("spent_text", ""), help="Actual cost under the active sheet")
            m2.metric("Budget", f.get("amount_text", ""))
            m3.metric("Forecast (p50)", f.get("forecast_text") or "—")
            m4.metric("Unpriced calls", f"{int(f.get('unpriced_calls') or 0):,}", help="Counted, never added as $0")
        top = ex.get("top", [])
        if top:
            st.markdown("**Top contributors to the change against the same part of the previous period**")
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "by": c["dim"],
                            "value": c["value"],
                            "now": c["now"],
                            "before": c["before"],
                            "change": c["delta"],
                        }
                        for c in top
                    ]
                ),
                hide_index=True,
                key=f"{key}_explain_{e['event_id']}",
                column_config=_money_columns(f.get("unit", "usd"), ("now", "before", "change")),
            )
        elif ex.get("note"):
            st.caption(fmt.plain_markdown(ex["note"]))
        links(e, key)
        with st.form(f"{key}_act_{e['event_id']}", border=False):
            note = st.text_input(
                "Note", key=f"{key}_note_{e['event_id']}", placeholder="what was checked, what happens next"
            )
            by = st.text_input("Your name", key=f"{key}_by_{e['event_id']}", value="reviewer")
            hours = st.number_input(
                "Snooze for (hours)", min_value=1, max_value=24 * 30, value=24, key=f"{key}_hours_{e['event_id']}"
            )
            a, s, r = st.columns(3)
            do_ack = a.form_submit_button("Acknowledge", key=f"{key}_ack_{e['event_id']}")
            do_snooze = s.form_submit_button("Snooze", key=f"{key}_snooze_{e['event_id']}")
            do_resolve = r.form_submit_button("Resolve", key=f"{key}_resolve_{e['event_id']}")
        if do_ack or do_snooze or do_resolve:
            with common.show_errors():
                if do_ack:
                    events.acknowledge(con, int(e["event_id"]), note, by=by)
                elif do_snooze:
                    events.snooze(con, int(e["event_id"]), datetime.now(UTC) + timedelta(hours=int(hours)), note, by=by)
                else:
                    events.resolve(con, int(e["event_id"]), note, by=by)
                widgets.flash(f"Alert #{e['event_id']} updated.")
                st.rerun()


def _money_columns(unit: str, names) -> dict:
    fmt_ = "$%.4f" if unit == "usd" else "%d tokens"
    return {n: st.column_config.NumberColumn(n, format=fmt_) for n in names}


def alert_choice(e: dict[str, Any], budget: bmod.Budget | None) -> FilterChoice:
    """The Calls/Spend filters of an alert: exactly its window (events.link_window) and its scope
    (the budget's, and the member of an "each" budget)."""
    lo, hi = events.link_window(e["figures"])
    values: dict[str, list[str]] = {}
    if budget is not None:
        for dim, vals in budget.scope:
            values.setdefault(PAGE_DIMS[dim], []).extend(vals)
        if budget.each and e.get("member"):
            values.setdefault(PAGE_DIMS[budget.each], []).append(e["member"])
    return FilterChoice.custom(lo, hi).with_values(values)


def links(e: dict[str, Any], key: str) -> None:
    """Buttons opening the Calls and Spend pages filtered to the alert's scope and exact window."""
    b = None
    try:
        b = bmod.get(common.resources()["con"], e["rule_name"]).budget
    except Exception:  # noqa: BLE001 - the budget was removed since; the period still helps
        pass
    choice = alert_choice(e, b)
    st.caption(
        f"The alert's window: {choice.start_at:%Y-%m-%d %H:%M} to {choice.end_at:%Y-%m-%d %H:%M} UTC "
        "(its period up to the moment it fired). The Calls and Spend pages open on exactly this window."
    )
    c1, c2 = st.columns(2)
    for col, page, prefix in ((c1, "app_pages/calls.py", "calls"), (c2, "app_pages/spend.py", "spend")):
        if col.button(f"Open in {prefix.title()}", key=f"{key}_{prefix}_{e['event_id']}"):
            options = call_reads.dimension_values()
            known = {d: [v for v in vals if v in options.get(d, [])] for d, vals in choice.values}
            widgets.open_filtered(page, prefix, choice.with_values(known))


# ------------------------------------------------------------------ editor


def editor(key: str = "budgets_edit") -> None:
    con = common.resources()["con"]
    stored = bmod.load_all(con)
    names = [s.budget.name for s in stored]
    pick = st.selectbox("Budget", ["➕ New budget", *names], key=f"{key}_pick", persist_state="page")
    current = next((s.budget for s in stored if s.budget.name == pick), None)
    k = f"{key}_{abs(hash(pick)) % 10**8}"  # fresh widgets per budget, pre-filled with its values
    options = call_reads.dimension_values()
    d = (
        current.to_dict()
        if current
        else {
            "name": "",
            "amount": "100",
            "unit": "usd",
            "period": "month",
            "tz": "UTC",
            "scope": {},
            "each": None,
            "thresholds": [50, 80, 100],
            "forecast_thresholds": [100],
            "notify": [],
        }
    )
    with st.form(f"{k}_form"):
        c1, c2, c3 = st.columns([2, 1, 1])
        name = c1.text_input("Name", value=d["name"], key=f"{k}_name")
        amount = c2.text_input("Amount", value=str(d["amount"]), key=f"{k}_amount", help="USD, or tokens")
        unit = c3.selectbox("Unit", list(bmod.UNITS), index=list(bmod.UNITS).index(d["unit"]), key=f"{k}_unit")
        c4, c5, c6 = st.columns(3)
        plist = PERIODS if d["period"] in PERIODS else [*PERIODS, d["period"]]
        period = c4.selectbox("Period", plist, index=plist.index(d["period"]), key=f"{k}_period")
        zlist = ZONES if d["tz"] in ZONES else [*ZONES, d["tz"]]
        tz = c5.selectbox("Time zone (calendar periods)", zlist, index=zlist.index(d["tz"]), key=f"{k}_tz")
        each_opts = ["(none)", *bmod.SCOPE_DIMS]
        each = c6.selectbox(
            "One budget for each",
            each_opts,
            index=each_opts.index(d["each"] or "(none)"),
            key=f"{k}_each",
            help="e.g. user_id: every user gets this amount",
        )
        st.markdown("**Scope** (empty = every call)")
        cols = st.columns(4)
        scope: dict[str, list[str]] = {}
        for i, (dim, label) in enumerate(FORM_DIMS.items()):
            opts = [v for v in options.get(label, []) if v != UNATTRIBUTED]
            chosen = d["scope"].get(dim, [])
            opts = list(dict.fromkeys([*chosen, *opts]))
            scope[dim] = cols[i % 4].multiselect(
                widgets.DIM_TITLES[label], opts, default=chosen, key=f"{k}_scope_{dim}", placeholder="All"
            )
        c7, c8 = st.columns(2)
        ths = c7.text_input(
            "Thresholds on actual spend (% of amount)",
            value=",".join(f"{p:g}" for p in d["thresholds"]),
            key=f"{k}_ths",
        )
        fths = c8.text_input(
            "Thresholds on the forecast (p50 at period end, %)",
            value=",".join(f"{p:g}" for p in d["forecast_thresholds"]),
            key=f"{k}_fths",
        )
        urls = st.text_area(
            "Notify (apprise URLs, one per line: slack://..., mailto://..., json://...)",
            value="\n".join(d["notify"]),
            key=f"{k}_notify",
        )
        saved = st.form_submit_button("Save budget", type="primary", key=f"{k}_save")
    if saved:
        with common.show_errors():
            b = bmod.Budget.build(
                name,
                amount,
                period,
                unit=unit,
                tz=tz,
                where={k2: v for k2, v in scope.items() if v},
                each=None if each == "(none)" else each,
                thresholds=ths,
                forecast_thresholds=fths,
                notify=[u for u in urls.splitlines() if u.strip()],
            )
            bmod.save(con, b, replace=current.name if current else None)
            widgets.flash(f"Budget {b.name} saved.")
            st.rerun()
    if current is not None:
        c1, c2 = st.columns(2)
        if c1.button(f"Delete {current.name}", key=f"{k}_delete"):
            with common.show_errors():
                bmod.remove(con, current.name)
                widgets.flash(f"Budget {current.name} deleted; its past alerts stay.")
                st.rerun()
        for j, url in enumerate(current.notify):
            if c2.button(f"Send test to {notify.redact(url)}", key=f"{k}_test_{j}"):
                with common.show_errors():
                    out = notify.send_test(con, url, current.name)
                    if out["ok"]:
                        st.success(fmt.plain_markdown(f"Test sent to {out['url']} in {out['seconds']:.2f} s."))
                    else:
                        st.error(fmt.plain_markdown(f"Test to {out['url']} failed: {out['error']}"))


def deliveries(key: str = "budgets_deliveries") -> None:
    con = common.resources()["con"]
    df = notify.deliveries(con)
    runner = common.resources().get("alerts")
    if runner is not None:
        s = runner.stats()
        st.caption(
            fmt.plain_markdown(
                f"Evaluator: {'running' if s['running'] else 'stopped'}, {s['checks']} check(s), last "
                f"{s['last_check_at']:%H:%M:%S} UTC in {s['last_seconds']:.2f} s"
                if s["last_check_at"]
                else f"Evaluator: {'running' if s['running'] else 'stopped'}, no check yet"
            )
            + (f" · last error: {fmt.plain_markdown(s['last_error'])}" if s["last_error"] else "")
        )
    if df.empty:
        st.info("No notifications yet. Add apprise URLs to a budget to be notified.")
        return
    failed = int((df["status"] == "failed").sum())
    if failed:
        st.warning(f"{failed} notification(s) failed after every retry; see the last error below.")
    st.dataframe(df, hide_index=True, key=f"{key}_table")


def review(statuses: list, as_of: datetime, key: str = "budgets_review") -> None:
    con = common.resources()["con"]
    df = events.list_events(con, period_from=min((s.window.start for s in statuses), default=as_of))
    from llmledger.pricing.sheets import get_active_sheet

    md = export.review_markdown(statuses, df, as_of, get_active_sheet(con.cursor()))
    b_csv, a_csv = export.review_csv(statuses, df)
    c1, c2, c3 = st.columns(3)
    stamp = f"{as_of:%Y%m%d}"
    c1.download_button(
        "Review (Markdown)", md, file_name=f"budget-review-{stamp}.md", mime="text/markdown", key=f"{key}_md"
    )
    c2.download_button("Budgets (CSV)", b_csv, file_name=f"budgets-{stamp}.csv", mime="text/csv", key=f"{key}_csv")
    c3.download_button("Alerts (CSV)", a_csv, file_name=f"alerts-{stamp}.csv", mime="text/csv", key=f"{key}_alerts_csv")
    with st.expander("Preview", expanded=False):
        st.code(md, language="markdown")
