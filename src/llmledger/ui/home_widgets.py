"""The Home page's widgets: this month's spend and run rate, daily spend, the top features,
budgets closest to their limit, data quality, and links to the pages. Streamlit glue over
reads/overview and alerts.evaluate."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from llmledger import config
from llmledger.reads import overview as ov
from llmledger.reads import spend
from llmledger.ui import common
from llmledger.ui import format as fmt
from llmledger.ui.call_reads import cursor

#: Budgets at or above this share of their limit are "near their limit" on the Home page.
NEAR_PCT = 80
BUDGET_COLUMNS = {
    "budget": st.column_config.TextColumn("Budget"),
    "period": st.column_config.TextColumn("Period"),
    "spent": st.column_config.TextColumn("Spent"),
    "limit": st.column_config.TextColumn("Limit"),
    "used": st.column_config.ProgressColumn("Used", format="percent", min_value=0, max_value=1),
    "state": st.column_config.TextColumn("State"),
    "note": st.column_config.TextColumn("Note"),
}
FEATURE_COLUMNS = {
    "feature": st.column_config.TextColumn("Feature"),
    "cost_usd": st.column_config.NumberColumn("Actual cost", format="dollar"),
    "calls": st.column_config.NumberColumn("Calls", format="localized"),
    "unpriced_calls": st.column_config.NumberColumn("Unpriced calls", format="localized"),
}
#: (page file, label, icon, what it answers) for the links.
LINKS = [
    ("app_pages/spend.py", "Spend", "💸", "Where the money went, by feature, team, user, model"),
    ("app_pages/calls.py", "Calls", "📞", "Volume, tokens, latency; the top traces"),
    ("app_pages/budgets.py", "Budgets", "🎯", "Limits, forecasts and alerts"),
    ("app_pages/estimate.py", "Estimate", "🧮", "Price a prompt or a monthly bill"),
    ("app_pages/plan.py", "Plan", "🗓️", "Requirements, shortlist, 12–24 month bill"),
    ("app_pages/reprice.py", "Reprice", "🔁", "History under another sheet or model"),
    ("app_pages/prices.py", "Prices", "🏷️", "Price sheets and which entry prices a model"),
    ("app_pages/ingest.py", "Ingest", "📥", "Receiver, file import, demo data"),
]


@st.cache_data(show_spinner=False, ttl=60)
def _overview(db: str, as_of: datetime) -> ov.Overview:
    with cursor() as cur:
        return ov.overview(cur, as_of)


def overview() -> ov.Overview:
    """This month (to now, or to the last call's day when the ledger holds only older calls)."""
    with cursor() as cur:
        as_of = spend.default_as_of(cur)
    return _overview(str(config.db_path()), as_of.replace(second=0, microsecond=0))


def spend_kpis(o: ov.Overview) -> None:
    c = st.columns(4)
    c[0].metric(
        f"Spend in {o.month_start:%B} so far",
        fmt.usd(o.mtd_usd),
        delta=None if not o.last_month_to_date_usd else f"{(o.mtd_usd / o.last_month_to_date_usd - 1):+.0%}",
        delta_color="inverse",
        help="Actual cost (computed under the active sheet, else reported) to "
        f"{o.as_of:%Y-%m-%d %H:%M} UTC; the change is against last month to the same day and hour.",
    )
    c[1].metric(
        "Run rate: whole month (projected)",
        fmt.usd(o.projected_usd),
        help=f"An estimate: the average daily spend so far × {o.days_in_month} days. It assumes the rest of "
        "the month runs at the same rate.",
    )
    c[2].metric(f"Last month ({(o.month_start - pd.Timedelta(days=1)):%B})", fmt.usd(o.last_month_usd))
    c[3].metric("Calls this month", fmt.count(o.mtd_calls))


def daily_chart(o: ov.Overview) -> go.Figure:
    """Daily spend, last month in grey and this month in colour, with the run rate's daily average."""
    fig = go.Figure()
    for month, color in (("last month", "#BAB0AC"), ("this month", "#4C78A8")):
        d = o.daily[o.daily["month"] == month] if not o.daily.empty else o.daily
        fig.add_trace(
            go.Bar(
                x=[pd.Timestamp(x).strftime("%Y-%m-%d") for x in d["day"]] if len(d) else [],
                y=d["cost_usd"].tolist() if len(d) else [],
                name=month.capitalize(),
                marker_color=color,
                hovertemplate="%{x}<br>%{y:$,.2f}<extra></extra>",
            )
        )
    if o.projected_usd is not None:
        fig.add_hline(
            y=o.projected_usd / o.days_in_month,
            line=dict(dash="dot", color="#F58518"),
            annotation_text="this month's daily average so far",
            annotation_position="top left",
        )
    fig.update_layout(
        title="Actual cost per day (UTC)",
        height=300,
        margin=dict(l=10, r=10, t=50, b=10),
        yaxis=dict(tickprefix="$", rangemode="tozero"),
        legend=dict(orientation="h", y=-0.25),
        bargap=0.15,
    )
    return fig


def features_chart(top: pd.DataFrame) -> go.Figure:
    d = top.iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=d["cost_usd"].fillna(0).tolist(),
            y=fmt.plain_labels(d["feature"]),
            orientation="h",
            marker_color="#54A24B",
            hovertemplate="%{y}: %{x:$,.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Top features this month",
        height=max(220, 40 * len(d) + 80),
        margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(tickprefix="$", rangemode="tozero"),
    )
    return fig


def budgets_section(as_of: datetime) -> None:
    """Every budget's worst figure, closest to its limit first; those at NEAR_PCT% or more flagged."""
    from llmledger.alerts import evaluate

    st.subheader("Budgets")
    statuses = evaluate.status(common.resources()["con"], as_of, forecasts="none")
    if not statuses:
        st.info("No budgets yet: set one on the Budgets page to see here how close each is to its limit.")
        return
    rows = []
    for s in statuses:
        f, b = s.worst, s.budget
        who = f"{b.each} {f.member}: " if f is not None and b.each else ""
        rows.append(
            {
                "budget": b.name,
                "period": s.period_label(),
                "spent": who + b.amount_text(f.spent) if f else "—",
                "limit": b.amount_text(f.amount if f else None),
                "used": (f.pct / 100) if f else 0.0,
                "state": s.state(),
                "note": f"{f.unpriced:,} unpriced call(s) not in the sum" if f and f.unpriced else "",
            }
        )
    table = pd.DataFrame(rows).sort_values("used", ascending=False, kind="stable")
    near = int((table["used"] >= NEAR_PCT / 100).sum())
    msg = f"{near} of {len(table)} budget(s) at {NEAR_PCT}% of their limit or more." if near else ""
    if near:
        st.warning(fmt.plain_markdown(msg), icon=":material/warning:")
    else:
        st.success(f"All {len(table)} budget(s) are under {NEAR_PCT}% of their limit.")
    st.dataframe(table.head(8), hide_index=True, key="home_budgets", column_config=BUDGET_COLUMNS)


def quality_section(o: ov.Overview) -> None:
    q = o.quality
    st.subheader("Data quality this month")
    c = st.columns(4)
    c[0].metric("Calls without usage", fmt.count(q["no_usage"]), help="No token counts reported or estimated.")
    c[1].metric("Unpriced calls", fmt.count(q["unpriced"]), help="No price in the active sheet and no reported cost.")
    c[2].metric("Estimated usage", fmt.count(q["estimated_usage"]), help="Tokens counted locally, not reported.")
    c[3].metric("Errors", fmt.count(q["errors"]))
    for n in o.notes:
        st.caption(fmt.plain_markdown(n))


def links() -> None:
    st.subheader("Go to")
    cols = st.columns(4)
    for i, (path, label, icon, what) in enumerate(LINKS):
        with cols[i % 4]:
            try:
                st.page_link(path, label=label, icon=icon, help=what)
            except st.errors.StreamlitAPIException:  # the page runs alone (AppTest): no navigation
                st.markdown(f"{icon} **{label}**")
            st.caption(what)
