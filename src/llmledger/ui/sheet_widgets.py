"""Price-sheet widgets: this browser session's sheet, the deliberate "make it active" control,
and the caption that says what actual cost is. Streamlit glue only.

A viewer's sheet lives in st.session_state, so two browsers can look at different sheets at
once; the active sheet (pricing.sheets) changes only through make_active_control or the CLI.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from llmledger import config
from llmledger.ui import common, widgets
from llmledger.ui import format as fmt

#: This browser session's sheet for viewing (session state, never the shared settings row).
VIEW_SHEET_KEY = "ledger_view_sheet"


def active_sheet() -> str:
    """The active sheet: what `llm_calls`, the CLI, budgets and alerts price with."""
    from llmledger.pricing import sheets

    return sheets.get_active_sheet(common.connection())


def view_sheet(active: str | None = None) -> str:
    """The sheet this browser session prices with: its own choice, else the active sheet (pass
    `active` when the caller has it: that saves a query)."""
    picked = st.session_state.get(VIEW_SHEET_KEY)
    if picked and picked in sheet_names():
        return picked
    return active if active is not None else active_sheet()


@st.cache_data(show_spinner=False, max_entries=16)
def _sheet_names(db: str) -> list[str]:
    from llmledger.pricing import sheets

    con = common.resources()["con"]
    sheets.ensure_default_sheet(con)
    return sheets.sheet_names(con)


def sheet_names() -> list[str]:
    """Stored price sheets (the default one imported on first use)."""
    return list(_sheet_names(str(config.db_path())))


def sheet_picker(key: str, label: str = "Price sheet (this browser session)", active: str | None = None) -> str:
    """Choose the sheet this browser session prices with (Spend, Plan vs actual, Reprice's
    actual). It changes nobody else's figures, nor the active sheet. Returns its name. Pass
    `active` (active_sheet()) when the page has it already."""
    names = sheet_names()
    active = active if active is not None else active_sheet()
    current = view_sheet(active)
    if current not in names:
        names.append(current)

    def keep() -> None:
        st.session_state[VIEW_SHEET_KEY] = st.session_state[key]

    return st.selectbox(
        label,
        names,
        index=names.index(current),
        key=key,
        on_change=keep,
        format_func=lambda n: f"{n} (active)" if n == active else n,
        help="Cost is computed at query time from this sheet, so switching reprices all "
        "history, for this browser session only. Import more sheets on the Prices page.",
    )


def make_active_control(sheet: str, key: str, active: str | None = None) -> None:
    """Say which sheet is active, and offer to make `sheet` the active one: a deliberate act,
    since the CLI, budgets, alerts and `llm_calls.cost_usd` all follow it."""
    from llmledger.pricing import sheets

    active = active if active is not None else active_sheet()
    if sheet == active:
        st.caption(f"`{sheet}` is the active sheet: the CLI, budgets, alerts and `llm_calls` price with it.")
        return
    st.caption(
        f"Only this browser session prices with `{sheet}`. The active sheet (CLI, budgets, alerts, "
        f"`llm_calls`) stays `{active}`."
    )
    if st.button(
        "Make this the active sheet",
        key=key,
        icon=":material/published_with_changes:",
        help=f"Make `{sheet}` the sheet the CLI, budgets, alerts and `llm_calls.cost_usd` use, for everyone.",
    ):
        sheets.set_active_sheet(common.resources()["con"], sheet)
        widgets.data_changed()
        widgets.flash(f"`{sheet}` is now the active sheet.")
        st.rerun()


def cost_rule_text(
    sheet: str,
    computed: int,
    reported_only: int,
    reported_only_usd: Any,
    unpriced: int,
    where_unpriced: str = "listed under Unknown prices",
) -> str:
    """One caption for every page: what actual cost is, and how many calls took each basis."""
    from llmledger.pricing.engine import ACTUAL_COST_RULE

    text = (
        f"{ACTUAL_COST_RULE} Under `{sheet}`: **{fmt.count(computed)}** calls computed, "
        f"**{fmt.count(reported_only)}** at their reported cost ({fmt.usd(reported_only_usd or 0)}), "
        f"**{fmt.count(unpriced)}** unpriced ({where_unpriced})."
    )
    return text.replace("$", "\\$")  # two dollar signs would open a LaTeX span in markdown


@st.cache_data(show_spinner=False, max_entries=64)
def _model_options(db: str, sheet: str) -> list[str]:
    from llmledger.pricing import sheets

    return [str(m) for m in sheets.model_catalog(common.resources()["con"], sheet)["model_id"]]


def model_options(sheet: str) -> list[str]:
    """The models `sheet` prices (for model pickers)."""
    return _model_options(str(config.db_path()), sheet)
