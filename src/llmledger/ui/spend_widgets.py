"""The Spend page's Streamlit glue: its reads (llmledger.reads.spend and .export) cached per
database, this session's sheet and plain arguments; the money metrics; table column settings.

Cost depends on the sheet, so every cached read is keyed by it: a switch never serves a stale
total. The page reads the sheet once per run (sheet_widgets.sheet_picker) and passes it to each
read, so the settings row is not queried once per read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from llmledger.reads import calls, export, spend, spend_cache
from llmledger.reads.filters import CallFilter
from llmledger.ui import common, widgets
from llmledger.ui import format as fmt
from llmledger.ui.call_reads import cursor, db


def ensure_priced(sheet: str) -> None:
    """Bring `sheet`'s memo of the priced calls up to date, with a spinner when that means pricing
    many calls (a sheet's first use: seconds per million calls; otherwise one query)."""
    with st.spinner(f"Pricing calls under {sheet}…", show_time=True):
        spend_cache.refresh(common.resources()["con"], sheet)


# ------------------------------------------------------------------ cached reads (this session's sheet)


@st.cache_data(show_spinner=False, max_entries=64)
def _totals(db_: str, sheet: str, f: CallFilter) -> dict[str, Any]:
    with cursor() as cur:
        return spend.spend_totals(cur, f, sheet=sheet)


def totals(sheet: str, f: CallFilter) -> dict[str, Any]:
    return _totals(db(), sheet, f)


@st.cache_data(show_spinner=False, max_entries=16)
def _default_as_of(db_: str, sheet: str) -> datetime:
    with cursor() as cur:
        return spend.default_as_of(cur, sheet=sheet)


def default_as_of(sheet: str) -> datetime:
    return _default_as_of(db(), sheet)


@st.cache_data(show_spinner=False, max_entries=64)
def _month_to_date(db_: str, sheet: str, f: CallFilter, as_of: datetime) -> spend.RunRate:
    with cursor() as cur:
        return spend.month_to_date(cur, f, as_of, sheet=sheet)


def month_to_date(sheet: str, f: CallFilter, as_of: datetime) -> spend.RunRate:
    return _month_to_date(db(), sheet, f, as_of)


@st.cache_data(show_spinner=False, max_entries=64)
def _series(db_: str, sheet: str, f: CallFilter, group_by: str, bucket: str, top_n: int) -> pd.DataFrame:
    with cursor() as cur:
        return spend.spend_series(cur, f, group_by, bucket, top_n, sheet=sheet)


def series(sheet: str, f: CallFilter, group_by: str, bucket: str, top_n: int) -> pd.DataFrame:
    return _series(db(), sheet, f, group_by, bucket, int(top_n))


@st.cache_data(show_spinner=False, max_entries=64)
def _breakdown(db_: str, sheet: str, f: CallFilter, group_by: str, top_n: int) -> pd.DataFrame:
    with cursor() as cur:
        return spend.spend_breakdown(cur, f, group_by, top_n, sheet=sheet)


def breakdown(sheet: str, f: CallFilter, group_by: str, top_n: int) -> pd.DataFrame:
    return _breakdown(db(), sheet, f, group_by, int(top_n))


@st.cache_data(show_spinner=False, max_entries=64)
def _top_traces(db_: str, sheet: str, f: CallFilter) -> pd.DataFrame:
    with cursor() as cur:
        return calls.top_traces(cur, f, "cost", sheet=sheet)


def top_traces(sheet: str, f: CallFilter) -> pd.DataFrame:
    """The traces that cost the most under `sheet`."""
    return _top_traces(db(), sheet, f)


@st.cache_data(show_spinner=False, max_entries=64)
def _top_calls(db_: str, sheet: str, f: CallFilter) -> pd.DataFrame:
    with cursor() as cur:
        return spend.top_calls(cur, f, sheet=sheet)


def top_calls(sheet: str, f: CallFilter) -> pd.DataFrame:
    return _top_calls(db(), sheet, f)


@st.cache_data(show_spinner=False, max_entries=64)
def _reported_vs_computed(db_: str, sheet: str, f: CallFilter) -> tuple[pd.DataFrame, dict[str, Any]]:
    with cursor() as cur:
        return spend.reported_vs_computed(cur, f, sheet=sheet)


def reported_vs_computed(sheet: str, f: CallFilter) -> tuple[pd.DataFrame, dict[str, Any]]:
    return _reported_vs_computed(db(), sheet, f)


@st.cache_data(show_spinner=False, max_entries=64)
def _unpriced_calls(db_: str, sheet: str, f: CallFilter) -> pd.DataFrame:
    with cursor() as cur:
        return spend.unpriced_calls(cur, f, sheet=sheet)


def unpriced_calls(sheet: str, f: CallFilter) -> pd.DataFrame:
    return _unpriced_calls(db(), sheet, f)


@st.cache_data(show_spinner=False, max_entries=64)
def _export_count(db_: str, sheet: str, f: CallFilter) -> int:
    with cursor() as cur:
        return export.export_count(cur, f, sheet=sheet)


def export_count(sheet: str, f: CallFilter) -> int:
    return _export_count(db(), sheet, f)


@st.cache_data(show_spinner=False, max_entries=8, ttl=600)
def _export_csv(db_: str, sheet: str, f: CallFilter) -> bytes:
    with cursor() as cur:
        return export.export_csv(cur, f, sheet=sheet)


def export_csv(sheet: str, f: CallFilter) -> bytes:
    return _export_csv(db(), sheet, f)


@st.cache_data(show_spinner=False, max_entries=8, ttl=600)
def _export_parquet(db_: str, sheet: str, f: CallFilter) -> bytes:
    with cursor() as cur:
        return export.export_parquet(cur, f, sheet=sheet)


def export_parquet(sheet: str, f: CallFilter) -> bytes:
    return _export_parquet(db(), sheet, f)


# ------------------------------------------------------------------ money display


def spend_kpis(t: dict[str, Any], run: spend.RunRate) -> None:
    """Headline money numbers; unpriced calls are counted, never summed as $0."""
    c = st.columns(5)
    priced = (
        f"{fmt.count(t['priced_calls'])} of {fmt.count(t['calls'])} calls have a cost "
        f"({fmt.count(t['reported_only_calls'])} of them a reported one)"
    )
    c[0].metric(
        "Spend in period",
        fmt.usd(t["cost_usd"]) if t["priced_calls"] else "unpriced",
        help=f"Actual cost: {priced}; {fmt.count(t['unpriced_calls'])} unpriced calls are "
        "left out (listed under Unknown prices), never counted as $0.",
    )
    c[1].metric(
        f"Month to date ({run.month_start:%b %Y})",
        fmt.usd(run.mtd_cost_usd),
        help=f"{fmt.count(run.mtd_calls)} calls this month, {fmt.count(run.mtd_unpriced_calls)} unpriced.",
    )
    c[2].metric(
        "Run-rate projection" if not run.complete else "Month total",
        fmt.usd(run.projected_cost_usd) if run.projected_cost_usd is not None else fmt.DASH,
        help=run.method,
    )
    c[3].metric(
        "Cost per successful call",
        fmt.usd(t["cost_per_ok_call"]),
        help="Cost of successful priced calls ÷ their number. Failed calls' cost stays in the total.",
    )
    c[4].metric(
        "Unpriced calls",
        fmt.count(t["unpriced_calls"]),
        help="Calls with no known cost: the sheet cannot price them (no price for their model, "
        "or no token usage) and they reported no cost.",
    )


_n = widgets.number_column


def breakdown_columns(group_label: str) -> dict:
    return {
        "grp": st.column_config.TextColumn(group_label),
        "cost_usd": widgets.money_column("Cost", help="Actual cost: computed, else reported; unpriced calls left out"),
        "share": st.column_config.ProgressColumn("Share of spend", format="percent", min_value=0, max_value=1),
        "calls": _n("Calls"),
        "ok_calls": _n("Successful"),
        "priced_calls": _n("With a cost"),
        "reported_only_calls": _n("At reported cost", help="Calls the sheet cannot price, at their reported cost"),
        "unpriced_calls": _n("Unpriced", help="No known cost: left out, never $0"),
        "cost_per_ok_call": st.column_config.NumberColumn("Cost / successful call", format="$%.6f"),
        "tokens": _n("Tokens", "compact"),
    }


CALL_COLUMNS = {
    "start_time": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "trace_id": st.column_config.TextColumn("Trace", width="small"),
    "span_id": st.column_config.TextColumn("Span", width="small"),
    "model": st.column_config.TextColumn("Model"),
    "provider": st.column_config.TextColumn("Provider"),
    "feature": st.column_config.TextColumn("Feature"),
    "team": st.column_config.TextColumn("Team"),
    "user_id": st.column_config.TextColumn("User"),
    "status": st.column_config.TextColumn("Status"),
    "cost_usd": st.column_config.NumberColumn("Cost", format="$%.6f"),
    "cost_basis": st.column_config.TextColumn("Basis", help="computed from the sheet, or reported"),
    "reported_cost_usd": st.column_config.NumberColumn("Reported cost", format="$%.6f"),
    "input_tokens": _n("Input tokens"),
    "output_tokens": _n("Output tokens"),
    "usage_source": st.column_config.TextColumn("Usage", help="reported | estimated (counted from text) | missing"),
}

TRACE_COLUMNS = dict(widgets.TRACE_COLUMNS, unpriced_calls=_n("Unpriced", help="Calls left out of the cost"))
TRACE_ORDER = [
    "trace_id",
    "root_name",
    "started",
    "calls",
    "tokens",
    "cost_usd",
    "unpriced_calls",
    "feature",
    "service",
    "errors",
]

REPORTED_COLUMNS = {
    "model": st.column_config.TextColumn("Model"),
    "calls": _n("Calls compared"),
    "reported_usd": widgets.money_column("Reported"),
    "computed_usd": widgets.money_column("Computed (sheet)"),
    "difference_usd": widgets.money_column("Difference", help="computed − reported"),
    "difference_pct": st.column_config.NumberColumn("Difference %", format="percent"),
}

UNPRICED_COLUMNS = {
    "request_model": st.column_config.TextColumn("Requested model"),
    "response_model": st.column_config.TextColumn("Response model"),
    "provider": st.column_config.TextColumn("Provider"),
    "reason": st.column_config.TextColumn("Why unpriced"),
    "calls": _n("Calls"),
    "input_tokens": _n("Input tokens"),
    "output_tokens": _n("Output tokens"),
    "first_seen": st.column_config.DatetimeColumn("First seen", format="YYYY-MM-DD"),
    "last_seen": st.column_config.DatetimeColumn("Last seen", format="YYYY-MM-DD"),
}
