"""Plan page glue: cached price maps, form widgets per requirement field, table formats."""

from __future__ import annotations

from types import MappingProxyType

import streamlit as st

from llmledger.planning import prices
from llmledger.planning.requirements import LOCK_IN, MODALITIES, PRIVACY, UseCase, to_form
from llmledger.ui.common import connection


@st.cache_resource(show_spinner="Loading price sheet…", ttl=300)
def sheet_prices(db: str, sheet: str):
    # A resource, not data: an immutable map of frozen prices, shared without re-unpickling
    # 3,000 entries on every rerun (the page must redraw in well under 200 ms).
    return MappingProxyType(prices.sheet_models(connection(), sheet))


@st.cache_data(show_spinner=False, ttl=30)
def sheet_list(db: str) -> list[str]:
    return prices.sheet_names(connection())


def open_plan(rs, uc_index: int = 0) -> None:
    """Make `rs` the working plan on the next run (widget state is reset before widgets exist)."""
    st.session_state.plan_pending = (rs, uc_index)
    st.rerun()


def apply_pending() -> None:
    rs, uc_index = st.session_state.pop("plan_pending")
    for k in [k for k in st.session_state if str(k).startswith("pf_")]:
        del st.session_state[k]
    st.session_state.plan_rs = rs
    st.session_state.pf_uc = uc_index


def field_widget(f, uc: UseCase, i: int, models: list[str]):
    key = f"pf_{i}_{f.name}"
    if key not in st.session_state:
        st.session_state[key] = to_form(uc, f.name)
    m = f.metadata
    label = m["label"] + (f" ({m['unit']})" if m["unit"] and m["kind"] not in ("samples",) else "")
    kind, help_ = m["kind"], m["help"] or None
    if kind == "textarea":
        return st.text_area(label, key=key, help=help_, height=68)
    if kind in ("text", "samples", "seasonality", "list"):
        return st.text_input(label, key=key, help=help_)
    if kind.startswith("choice:"):
        opts = {"privacy": PRIVACY, "lock_in": LOCK_IN}[kind.split(":")[1]]
        return st.selectbox(label, list(opts), key=key, format_func=opts.get, help=help_)
    if kind == "modalities":
        return st.multiselect(label, list(MODALITIES), key=key, help=help_)
    if kind == "model":
        if st.session_state[key] not in models:
            models = [st.session_state[key]] + models
        return st.selectbox(
            label,
            [""] + [x for x in models if x],
            key=key,
            help=help_,
            format_func=lambda x: x or "— first candidate —",
        )
    return st.number_input(label, key=key, help=help_, min_value=None, step=None, format="%g")


MONEY = {
    c: st.column_config.NumberColumn(format="$%.2f")
    for c in (
        "first_month_usd",
        "last_month_usd",
        "horizon_total_usd",
        "horizon_p90_usd",
        "monthly_budget_usd",
        "cost_usd",
        "p50_usd",
        "p90_usd",
        "budget_usd",
        "actual_cost_usd",
        "planned_cost_usd",
    )
}
MONEY |= {
    c: st.column_config.NumberColumn(format="$%.5f") for c in ("cost_per_request_usd", "cost_per_call_at_plan_prices")
}
NUM = {c: st.column_config.NumberColumn(format="%.5g") for c in ("planned", "actual", "variance", "variance_pct")}
