"""The Calls and Ingest pages' reads (llmledger.reads), cached with st.cache_data.

One cached function per read, keyed by the database path and the read's plain arguments; the
cache is cleared when data lands (widgets.data_changed, and the loader's on_loaded hook).
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from typing import Any, Iterator

import pandas as pd
import streamlit as st

from llmledger import config
from llmledger.reads import calls, ingest, rules
from llmledger.reads.filters import CallFilter
from llmledger.ui import common


def db() -> str:
    """The database path, the first key of every cached read."""
    return str(config.db_path())


@contextmanager
def cursor() -> Iterator[Any]:
    cur = common.connection()
    try:
        yield cur
    finally:
        cur.close()


@st.cache_data(show_spinner=False, max_entries=16)
def _call_count(db_: str, demo_only: bool) -> int:
    with cursor() as cur:
        return calls.call_count(cur, demo_only)


def call_count(demo_only: bool = False) -> int:
    return _call_count(db(), demo_only)


@st.cache_data(show_spinner=False, max_entries=16)
def _date_bounds(db_: str) -> tuple[date, date] | None:
    with cursor() as cur:
        return calls.date_bounds(cur)


def date_bounds() -> tuple[date, date] | None:
    return _date_bounds(db())


@st.cache_data(show_spinner=False, max_entries=16)
def _dimension_values(db_: str) -> dict[str, list[str]]:
    with cursor() as cur:
        return calls.dimension_values(cur)


def dimension_values() -> dict[str, list[str]]:
    return _dimension_values(db())


@st.cache_data(show_spinner=False, max_entries=64)
def _summary(db_: str, f: CallFilter, with_cost: bool) -> dict[str, Any]:
    with cursor() as cur:
        return calls.summary(cur, f, with_cost)


def summary(f: CallFilter, with_cost: bool = False) -> dict[str, Any]:
    return _summary(db(), f, with_cost)


@st.cache_data(show_spinner=False, max_entries=64)
def _timeseries(db_: str, f: CallFilter, group_by: str, bucket: str, top_n: int, with_cost: bool) -> pd.DataFrame:
    with cursor() as cur:
        return calls.timeseries(cur, f, group_by, bucket, top_n, with_cost)


def timeseries(
    f: CallFilter, group_by: str, bucket: str = "day", top_n: int = 8, with_cost: bool = False
) -> pd.DataFrame:
    return _timeseries(db(), f, group_by, bucket, int(top_n), with_cost)


@st.cache_data(show_spinner=False, max_entries=64)
def _breakdown(db_: str, f: CallFilter, group_by: str, limit: int, with_cost: bool) -> pd.DataFrame:
    with cursor() as cur:
        return calls.breakdown(cur, f, group_by, limit, with_cost)


def breakdown(f: CallFilter, group_by: str, limit: int = 200, with_cost: bool = False) -> pd.DataFrame:
    return _breakdown(db(), f, group_by, int(limit), with_cost)


@st.cache_data(show_spinner=False, max_entries=64)
def _top_traces(db_: str, f: CallFilter, by: str, limit: int, sheet: str | None) -> pd.DataFrame:
    with cursor() as cur:
        return calls.top_traces(cur, f, by, limit, sheet=sheet)


def top_traces(f: CallFilter, by: str = "tokens", limit: int = 20, sheet: str | None = None) -> pd.DataFrame:
    """Ranked by cost, under `sheet` (None = the active sheet)."""
    return _top_traces(db(), f, by, int(limit), sheet)


@st.cache_data(show_spinner=False, max_entries=64)
def _trace_spans(db_: str, trace_id: str) -> pd.DataFrame:
    with cursor() as cur:
        return calls.trace_spans(cur, trace_id)


def trace_spans(trace_id: str) -> pd.DataFrame:
    return _trace_spans(db(), trace_id)


@st.cache_data(show_spinner=False, max_entries=64)
def _data_quality(db_: str, f: CallFilter, with_cost: bool) -> pd.DataFrame:
    with cursor() as cur:
        return calls.data_quality(cur, f, with_cost)


def data_quality(f: CallFilter, with_cost: bool = True) -> pd.DataFrame:
    return _data_quality(db(), f, with_cost)


@st.cache_data(show_spinner=False, max_entries=64)
def _unpriced_models(db_: str, f: CallFilter) -> pd.DataFrame:
    with cursor() as cur:
        return calls.unpriced_models(cur, f)


def unpriced_models(f: CallFilter) -> pd.DataFrame:
    return _unpriced_models(db(), f)


@st.cache_data(show_spinner=False, max_entries=16)
def _recent_ingests(db_: str) -> pd.DataFrame:
    with cursor() as cur:
        return ingest.recent_ingests(cur)


def recent_ingests() -> pd.DataFrame:
    return _recent_ingests(db())


@st.cache_data(show_spinner=False, max_entries=16)
def _attribution_rules(db_: str) -> pd.DataFrame:
    with cursor() as cur:
        return rules.attribution_rules(cur)


def attribution_rules() -> pd.DataFrame:
    return _attribution_rules(db())
