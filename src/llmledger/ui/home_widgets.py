"""The Home page's widgets: this month's spend and run rate, daily spend, the top features,
budgets closest to their limit, data quality, and links to the pages. Streamlit glue over
reads/overview and alerts.evaluate."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
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
#: Every other page, in the sidebar's order (app.PAGES; tests/test_home_page.py checks none is missing).
LINKS = [
    ("app_pages/calls.py", "Calls", "📞", "Volume, tokens, latency; the top traces"),
    ("app_pages/spend.py", "Spend", "💸", "Where the money went, by feature, team, user, model"),
    ("app_pages/budgets.py", "Budgets", "🎯", "Limits, forecasts and alerts"),
    ("app_pages/estimate.py", "Estimate", "🧮", "Price a prompt or a monthly bill"),
    ("app_pages/reprice.py", "Reprice", "🔁", "History under another sheet or model"),
    ("app_pages/whatif.py", "What-if", "🔀", "Routers, cascades, caching and other levers on your traffic"),
    ("app_pages/plan.py", "Plan", "🗓️", "Requirements, shortlist, 12–24 month bill"),
    ("app_pages/local_lab.py", "Local lab", "🧪", "Quantized local models: latency here against API prices"),
    ("app_pages/ingest.py", "Ingest", "📥", "Receiver, file import, demo data"),
    ("app_pages/prices.py", "Prices", "🏷️", "Price sheets and which entry prices a model"),
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


#: Home's charts are Vega-Lite specs (st.vega_lite_chart, built into Streamlit), not Plotly: a fresh
#: tab that draws a Plotly figure first loads and runs Streamlit's 4.7 MB Plotly bundle (2.9x the
#: one-line page in bench_pages) where one Vega-Lite chart costs 1.1x; Home is the first page a visit opens.
MONTH_COLORS = {"Last month": "#BAB0AC", "This month": "#4C78A8"}


def daily_chart(o: ov.Overview) -> tuple[pd.DataFrame, dict]:
    """(data, Vega-Lite spec): daily spend, last month in grey and this month in colour, with this
    month's daily average so far as a dotted line."""
    d = o.daily if not o.daily.empty else pd.DataFrame({"day": [], "month": [], "cost_usd": []})
    data = pd.DataFrame(
        {
            "day": [pd.Timestamp(x).strftime("%Y-%m-%d") for x in d["day"]],
            "month": [str(m).capitalize() for m in d["month"]],
            "cost_usd": pd.to_numeric(d["cost_usd"], errors="coerce").fillna(0.0).astype(float).tolist(),
        }
    )
    bars = {
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "day", "type": "ordinal", "title": None, "axis": {"labelAngle": -45, "labelOverlap": True}},
            "y": {"field": "cost_usd", "type": "quantitative", "title": "Actual cost", "axis": {"format": "$,.2f"}},
            "color": {
                "field": "month",
                "type": "nominal",
                "title": None,
                "scale": {"domain": list(MONTH_COLORS), "range": list(MONTH_COLORS.values())},
                "legend": {"orient": "bottom"},
            },
            "tooltip": [
                {"field": "day", "title": "Day (UTC)"},
                {"field": "cost_usd", "type": "quantitative", "title": "Actual cost", "format": "$,.2f"},
            ],
        },
    }
    layers = [bars]
    title: dict = {"text": "Actual cost per day (UTC)"}
    if o.projected_usd is not None:
        avg = o.projected_usd / o.days_in_month
        layers.append(
            {
                "data": {"values": [{"avg": avg}]},
                "mark": {"type": "rule", "strokeDash": [2, 3], "color": "#F58518", "size": 2},
                "encoding": {
                    "y": {"field": "avg", "type": "quantitative"},
                    "tooltip": [{"field": "avg", "title": "This month's daily average", "format": "$,.2f"}],
                },
            }
        )
        title["subtitle"] = f"Dotted line: this month's daily average so far ({fmt.usd(avg)})"
    return data, {"title": title, "layer": layers}


def features_chart(top: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """(data, Vega-Lite spec): this month's top features by actual cost, largest first."""
    data = pd.DataFrame(
        {
            "feature": [fmt.label(v) for v in top["feature"]],  # Vega draws text as written
            "cost_usd": pd.to_numeric(top["cost_usd"], errors="coerce").fillna(0.0).astype(float).tolist(),
        }
    )
    spec = {
        "title": {"text": "Top features this month"},
        "mark": {"type": "bar", "color": "#54A24B", "tooltip": True},
        "encoding": {
            "y": {"field": "feature", "type": "nominal", "sort": "-x", "title": None, "axis": {"labelLimit": 220}},
            "x": {"field": "cost_usd", "type": "quantitative", "title": "Actual cost", "axis": {"format": "$,.2f"}},
            "tooltip": [
                {"field": "feature", "title": "Feature"},
                {"field": "cost_usd", "type": "quantitative", "title": "Actual cost", "format": "$,.2f"},
            ],
        },
    }
    return data, spec


def chart_height(n_bars: int) -> int:
    """Pixels for a horizontal bar chart of `n_bars` bars (title and axis included)."""
    return max(220, 34 * n_bars + 90)


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
    per_row = 5
    for row in range(0, len(LINKS), per_row):  # one row of columns at a time: captions line up
        for col, (path, label, icon, what) in zip(st.columns(per_row), LINKS[row : row + per_row]):
            with col:
                try:
                    st.page_link(path, label=label, icon=icon, help=what)
                except st.errors.StreamlitAPIException:  # the page runs alone (AppTest): no navigation
                    st.markdown(f"{icon} **{label}**")
                st.caption(what)
