"""Shared Streamlit widgets for the Estimate, Spend and Reprice pages: the price-sheet picker,
cached spend queries, money metrics and table column settings. Streamlit glue only."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from llmledger import config
from llmledger.store import spend_queries
from llmledger.ui import common
from llmledger.ui import format as fmt
from llmledger.ui import widgets

#: Spend queries the pages may run through st.cache_data.
CACHED = frozenset({"spend_totals", "spend_series", "spend_breakdown", "month_to_date", "default_as_of",
                    "top_calls", "reported_vs_computed", "unpriced_calls", "export_count"})


@st.cache_data(show_spinner=False, max_entries=256)
def _cached(db: str, sheet: str, name: str, args: tuple) -> Any:
    cur = common.connection()
    try:
        return getattr(spend_queries, name)(cur, *args)
    finally:
        cur.close()


def spend(name: str, *args: Any) -> Any:
    """`spend_queries.<name>(cursor, *args)`, cached per database, active sheet and arguments
    (cost depends on the sheet, so changing it never serves a stale total)."""
    if name not in CACHED:
        raise ValueError(f"{name} is not a cached spend query")
    return _cached(str(config.db_path()), active_sheet(), name, args)


@st.cache_data(show_spinner=False, max_entries=8, ttl=600)
def _export(db: str, sheet: str, kind: str, f) -> bytes:
    cur = common.connection()
    try:
        return spend_queries.export_csv(cur, f) if kind == "csv" else spend_queries.export_parquet(cur, f)
    finally:
        cur.close()


def export_bytes(kind: str, f) -> bytes:
    return _export(str(config.db_path()), active_sheet(), kind, f)


# ------------------------------------------------------------------ price sheets

def active_sheet() -> str:
    from llmledger.pricing import sheets

    return sheets.get_active_sheet(common.connection())


@st.cache_data(show_spinner=False, max_entries=16)
def _sheet_table(db: str, marker: int) -> pd.DataFrame:
    from llmledger.pricing import sheets

    return sheets.list_sheets(common.resources()["con"])


def sheet_names() -> list[str]:
    table = _sheet_table(str(config.db_path()), st.session_state.get("_money_sheets_marker", 0))
    col = "sheet" if "sheet" in table.columns else table.columns[0]
    return [str(s) for s in table[col]]


def sheet_picker(key: str, label: str = "Price sheet (active)") -> str:
    """Select the active price sheet: costs on every page follow it. Returns its name."""
    from llmledger.pricing import sheets

    names = sheet_names()
    current = active_sheet()
    if current not in names:
        names.append(current)
    picked = st.selectbox(label, names, index=names.index(current), key=key,
                          help="Cost is computed at query time from this sheet; switching reprices "
                               "all history. Import more sheets on the Ingest page.")
    if picked != current:
        sheets.set_active_sheet(common.resources()["con"], picked)
        widgets.data_changed()
    return picked


def sheets_multiselect(key: str, default: list[str] | None = None) -> list[str]:
    names = sheet_names()
    default = [s for s in (default or [active_sheet()]) if s in names] or names[:1]
    return st.multiselect("Price sheets", names, default=default, key=key)


# ------------------------------------------------------------------ money display

def spend_kpis(t: dict[str, Any], run: spend_queries.RunRate) -> None:
    """Headline money numbers; unpriced calls are counted, never summed as $0."""
    c = st.columns(5)
    priced = f"{fmt.count(t['priced_calls'])} of {fmt.count(t['calls'])} calls priced"
    c[0].metric("Spend in period", fmt.usd(t["cost_usd"]) if t["priced_calls"] else "unpriced",
                help=f"{priced}; {fmt.count(t['unpriced_calls'])} calls with an unknown model price are "
                     "left out (listed below), never counted as $0.")
    c[1].metric(f"Month to date ({run.month_start:%b %Y})", fmt.usd(run.mtd_cost_usd),
                help=f"{fmt.count(run.mtd_calls)} calls this month, {fmt.count(run.mtd_unpriced_calls)} unpriced.")
    c[2].metric("Run-rate projection" if not run.complete else "Month total",
                fmt.usd(run.projected_cost_usd) if run.projected_cost_usd is not None else fmt.DASH,
                help=run.method)
    c[3].metric("Cost per successful call", fmt.usd(t["cost_per_ok_call"]),
                help="Cost of successful priced calls ÷ their number. Failed calls' cost stays in the total.")
    c[4].metric("Unknown-price calls", fmt.count(t["unpriced_calls"]),
                help="Calls with token usage whose model is not on the active sheet.")


def money(title: str, **kw) -> Any:
    return st.column_config.NumberColumn(title, format="dollar", **kw)


def _n(title: str, fmt_: str = "localized", **kw) -> Any:
    return st.column_config.NumberColumn(title, format=fmt_, **kw)


def breakdown_columns(group_label: str) -> dict:
    return {
        "grp": st.column_config.TextColumn(group_label),
        "cost_usd": money("Cost", help="Priced calls only"),
        "share": st.column_config.ProgressColumn("Share of spend", format="percent", min_value=0, max_value=1),
        "calls": _n("Calls"),
        "ok_calls": _n("Successful"),
        "priced_calls": _n("Priced"),
        "unpriced_calls": _n("Unknown price"),
        "cost_per_ok_call": st.column_config.NumberColumn("Cost / successful call", format="$%.6f"),
        "tokens": _n("Tokens", "compact"),
    }


CALL_COLUMNS = {
    "start_time": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "trace_id": st.column_config.TextColumn("Trace", width="small"),
    "span_id": st.column_config.TextColumn("Span", width="small"),
    "cost_usd": st.column_config.NumberColumn("Cost", format="$%.6f"),
    "reported_cost_usd": st.column_config.NumberColumn("Reported cost", format="$%.6f"),
    "input_tokens": _n("Input tokens"),
    "output_tokens": _n("Output tokens"),
    "usage_source": st.column_config.TextColumn("Usage", help="reported | estimated (counted from text) | missing"),
}

TRACE_COLUMNS = dict(widgets.TRACE_COLUMNS)

REPORTED_COLUMNS = {
    "model": st.column_config.TextColumn("Model"),
    "calls": _n("Calls compared"),
    "reported_usd": st.column_config.NumberColumn("Reported", format="$%.6f"),
    "computed_usd": st.column_config.NumberColumn("Computed (sheet)", format="$%.6f"),
    "difference_usd": st.column_config.NumberColumn("Difference", format="$%+.6f",
                                                    help="computed − reported"),
    "difference_pct": st.column_config.NumberColumn("Difference %", format="percent"),
}

UNPRICED_COLUMNS = {
    "request_model": st.column_config.TextColumn("Requested model"),
    "response_model": st.column_config.TextColumn("Response model"),
    "provider": st.column_config.TextColumn("Provider"),
    "calls": _n("Calls"),
    "input_tokens": _n("Input tokens"),
    "output_tokens": _n("Output tokens"),
    "first_seen": st.column_config.DatetimeColumn("First seen", format="YYYY-MM-DD"),
    "last_seen": st.column_config.DatetimeColumn("Last seen", format="YYYY-MM-DD"),
}
