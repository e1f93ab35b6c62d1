"""The Reprice page's Streamlit glue: the repricing read and the swap's token-mapping counts,
cached per database, this session's sheet (the actual cost) and the scenario; the table shape
and its column settings."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from llmledger.reads import reprice as reprice_reads
from llmledger.ui import common, widgets
from llmledger.ui import format as fmt
from llmledger.ui.call_reads import cursor, db
from llmledger.ui.sheet_widgets import view_sheet


@st.cache_data(show_spinner="Repricing…", max_entries=32)
def _reprice(db_: str, baseline: str, sheet: str, swap: tuple, discount: float, period: tuple, group: str):
    return reprice_reads.reprice(
        common.connection(),
        sheet=sheet,
        model_swap=dict(swap) or None,
        discount_pct=discount or None,
        period=period,
        group_by=(group,),
        baseline_sheet=baseline,
    )


def reprice(sheet: str, swap: tuple, discount: float, period: tuple, group: str) -> pd.DataFrame:
    """reads.reprice with this session's sheet as the actual (baseline), cached per database,
    baseline and scenario."""
    return _reprice(db(), view_sheet(), sheet, swap, discount, period, group)


@st.cache_data(show_spinner=False, max_entries=32)
def _swap_mapping_counts(db_: str, kind: str, key: str, period: tuple) -> dict[str, int]:
    with cursor() as cur:
        return reprice_reads.swap_mapping_counts(cur, kind, key, period)


def swap_mapping_counts(kind: str, key: str, period: tuple) -> dict[str, int]:
    """How many swapped calls are re-counted with the target's tokenizer, and how many carry over."""
    return _swap_mapping_counts(db(), kind, key, period)


def reprice_frame(df: pd.DataFrame, group: str) -> pd.DataFrame:
    """reads.reprice's summary as plain floats with `grp` labels, most expensive first."""
    out = pd.DataFrame(
        {
            "grp": [fmt.label(v) for v in df[group]],
            "calls": df["calls"].astype("int64"),
            "actual_usd": pd.to_numeric(df["baseline_usd"], errors="coerce").astype(float),
            "repriced_usd": pd.to_numeric(df["scenario_usd"], errors="coerce").astype(float),
            "delta_usd": pd.to_numeric(df["delta_usd"], errors="coerce").astype(float),
            "unpriced_actual": df["unpriced_baseline"].astype("int64"),
            "reported_only_actual": df["reported_only_baseline"].astype("int64"),
            "unpriced_repriced": df["unpriced_scenario"].astype("int64"),
            # Not swapped: an empty cell, not "None".
            "swapped_to": df["swapped_to"].astype(object).where(df["swapped_to"].notna(), ""),
            "token_mapping": df["token_mapping"].astype(object).where(df["token_mapping"].notna(), ""),
        }
    )
    out["delta_pct"] = out["delta_usd"] / out["actual_usd"].where(out["actual_usd"] != 0)
    return out.sort_values("actual_usd", ascending=False, na_position="last").reset_index(drop=True)


_n = widgets.number_column

REPRICE_COLUMNS = {
    "grp": st.column_config.TextColumn("Group"),
    "calls": _n("Calls"),
    # "dollar": -$27.52 and $266,421.73 (printf's "$%.4f" wrote $-27.5196)
    "actual_usd": widgets.money_column("Actual"),
    "repriced_usd": widgets.money_column("Repriced"),
    "delta_usd": widgets.money_column("Delta"),
    "delta_pct": st.column_config.NumberColumn("Delta %", format="percent"),
    "unpriced_actual": _n("Unpriced (actual)", help="Calls with no known cost under your sheet"),
    "reported_only_actual": _n(
        "At reported cost (actual)", help="Calls your sheet cannot price, at their reported cost"
    ),
    "unpriced_repriced": _n("Unpriced (repriced)", help="Calls the scenario cannot price"),
    "swapped_to": st.column_config.TextColumn("Swapped to"),
    "token_mapping": st.column_config.TextColumn("Token mapping"),
}
