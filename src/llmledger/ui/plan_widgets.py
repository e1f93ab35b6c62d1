"""Plan page glue: cached price maps, form widgets per requirement field, table formats."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import numpy as np
import streamlit as st

from llmledger.planning import actuals, prices, store
from llmledger.planning.projection import PLAN
from llmledger.planning.requirements import LOCK_IN, MODALITIES, PRIVACY, UseCase, to_form
from llmledger.reads import actuals as recorded
from llmledger.ui import format as fmt
from llmledger.ui import plan_charts as charts
from llmledger.ui import sheet_widgets
from llmledger.ui.common import connection, show_errors


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


def use_case_picker(container, label: str, names: list[str], key: str) -> int | None:
    """A selectbox over use cases, by position, that survives renames.

    The browser keeps a selectbox's value as the shown text. After a rename it would send back the
    old name, which matches no option, and the box would fall back to the first use case, dropping
    the edit in flight. So the position read at the start of each run is written back to the
    widget before it is drawn: the browser then shows the new name."""
    if not names:
        return None
    shown = st.session_state.get(key)
    if not isinstance(shown, int) or not 0 <= shown < len(names):
        last = st.session_state.get(f"_{key}_last", 0)
        shown = last if isinstance(last, int) and 0 <= last < len(names) else 0
    st.session_state[key] = shown
    idx = container.selectbox(label, range(len(names)), format_func=lambda i: names[i], key=key)
    st.session_state[f"_{key}_last"] = idx
    return idx


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
    # An optional figure (a budget, an SLO) starts blank-able: without value=None, clearing the box
    # would put 0 back, and a $0 budget is exceeded from the first month.
    optional = "None" in str(f.type)
    return st.number_input(
        label, key=key, help=help_, min_value=None, step=None, format="%g", **({"value": None} if optional else {})
    )


def _money(label: str, fmt_: str = "dollar", **kw):
    return st.column_config.NumberColumn(label, format=fmt_, **kw)


#: Every Plan table's columns with a human header; money in dollars (-$27.52, $266,421.73), per
#: request or per call with five decimals (a fraction of a cent).
MONEY = {
    "use_case": st.column_config.TextColumn("Use case"),
    "model": st.column_config.TextColumn("Model"),
    "scenario": st.column_config.TextColumn("Scenario"),
    "provider": st.column_config.TextColumn("Provider"),
    "month": st.column_config.TextColumn("Month"),
    "first_month_usd": _money("First month"),
    "last_month_usd": _money("Last month"),
    "horizon_total_usd": _money("Horizon total"),
    "horizon_p90_usd": _money("Horizon total (P90)"),
    "monthly_budget_usd": _money("Monthly budget"),
    "cost_usd": _money("Cost"),
    "p50_usd": _money("P50"),
    "p90_usd": _money("P90"),
    "budget_usd": _money("Budget"),
    "actual_cost_usd": _money("Actual cost"),
    "planned_cost_usd": _money("Planned cost"),
    "cost_per_request_usd": _money("Cost per request", "$%.5f"),
    "cost_per_call_at_plan_prices": _money("Cost per call (plan prices)", "$%.5f"),
    "budget_exceeded_in": st.column_config.TextColumn("Over budget from"),
    "peak_requests_per_s": st.column_config.NumberColumn("Peak requests/s", format="%.3g"),
    "use_cases_priced": st.column_config.TextColumn("Use cases priced"),
    "reasons": st.column_config.TextColumn("Why excluded"),
    "rank": st.column_config.NumberColumn("Rank"),
    "note": st.column_config.TextColumn("Note"),
}
NUM = {
    "metric": st.column_config.TextColumn("Measure"),
    "planned": st.column_config.NumberColumn("Planned", format="%.5g"),
    "actual": st.column_config.NumberColumn("Actual", format="%.5g"),
    "variance": st.column_config.NumberColumn("Variance", format="%.5g"),
    "variance_pct": st.column_config.NumberColumn("Variance %", format="%.1f%%"),
    "calls": st.column_config.NumberColumn("Calls", format="localized"),
    "requests": st.column_config.NumberColumn("Requests", format="localized"),
    "share": st.column_config.NumberColumn("Share", format="%.2f"),
}


def readable(df, has_budget):
    """Empty "over budget from" cells said in words: "never" where there is a budget (a Series of
    bools per row, or one bool), "no budget" where there is none."""
    if "budget_exceeded_in" not in df:
        return df
    out = df.copy()
    never = out["budget_exceeded_in"].isna()
    out["budget_exceeded_in"] = out["budget_exceeded_in"].astype(object)
    out.loc[never & has_budget, "budget_exceeded_in"] = "never"
    out.loc[
        never & ~has_budget if not isinstance(has_budget, bool) else never & (not has_budget), "budget_exceeded_in"
    ] = "no budget"
    return out


def headline(rs, proj, scen: str = PLAN) -> None:
    tot, tag = proj.total(scen), "" if scen == PLAN else f" · {fmt.plain_markdown(scen)}"
    m = st.columns(4)
    m[0].metric("First month" + tag, f"${tot[0]:,.0f}")
    m[1].metric("Last month" + tag, f"${tot[-1]:,.0f}")
    m[2].metric(
        f"{rs.horizon_months}-month total" + tag, f"${tot.sum():,.0f}", help=f"P90 ${proj.total_p90(scen).sum():,.0f}"
    )
    over = proj.budget_breaches(scen)
    budgeted = int((~np.isnan(proj.budget)).sum())
    m[3].metric(
        "Budget exceeded in" + tag,
        next(iter(over.values()), None) or ("never" if budgeted else "no budgets set"),
        help="First month a use case costs more than its own monthly budget"
        + (": " + "; ".join(f"{fmt.plain_markdown(u)} from {mo}" for u, mo in over.items()) if over else "."),
    )


def versions_tab(rs, con) -> None:
    saved = store.list_plans(con)
    left, right = st.columns(2)
    with left:
        st.subheader("Saved plans")
        st.dataframe(saved, hide_index=True, key="pf_saved")
        if len(saved):
            pick = st.selectbox("Plan", list(saved["plan"]), key="pf_pick")
            vers = store.list_versions(con, pick)
            st.dataframe(vers, hide_index=True, key="pf_versions")
            ver = st.selectbox("Version", list(vers["version"]), key="pf_ver")
            b = st.columns(2)
            if b[0].button("Open this version", key="pf_open"):
                open_plan(store.load(con, pick, int(ver)))
            new = b[1].text_input("Duplicate as", key="pf_dup_name", placeholder="new plan name")
            if b[1].button("Duplicate", key="pf_dup_go") and new:
                open_plan(store.duplicate(con, pick, new, int(ver)))
            if len(vers) > 1:
                va, vb = st.columns(2)
                a = va.selectbox("Compare version", list(vers["version"]), index=1, key="pf_cmp_a")
                z = vb.selectbox("with version", list(vers["version"]), index=0, key="pf_cmp_b")
                st.dataframe(
                    store.compare(store.load(con, pick, int(a)), store.load(con, pick, int(z))),
                    hide_index=True,
                    key="pf_diff",
                )
    with right:
        st.subheader("Export / import")
        st.download_button(
            "Markdown", store.to_markdown(rs), f"{rs.name}.md", icon=":material/download:", key="pf_dl_md"
        )
        st.download_button("JSON", store.to_json(rs), f"{rs.name}.json", icon=":material/download:", key="pf_dl_json")
        up = st.file_uploader("Import a JSON export", type=["json"], key="pf_upload")
        if up is not None and st.button("Open imported plan", key="pf_import"):
            with show_errors():  # refused: say why and keep the working plan
                open_plan(store.from_json_bytes(up.getvalue()))
        with st.expander("Markdown preview"):
            st.markdown(store.to_markdown(rs))


def plan_vs_actual_tab(rs, sheet: dict, con) -> None:
    """Plan vs actual for one use case tagged with a telemetry feature: the variance waterfall."""
    tagged = [u.name for u in rs.use_cases if u.feature_tag]
    feats = recorded.features(con)
    if not tagged:
        st.info("Give a use case a telemetry feature tag (Technical column) to compare it with actual calls.")
    else:
        which = st.selectbox("Use case", tagged, key="pf_pva_uc")
        tag = rs.use_case(which).feature_tag
        span = recorded.feature_span(con, tag)
        if span is None:
            seen = ", ".join(feats["feature"].head(12)) or "none — ingest telemetry or load demo data"
            st.info(fmt.plain_markdown(f"No calls carry feature '{tag}' yet. Features seen: {seen}"))
        else:
            lo, hi, _ = span
            left, right = st.columns(2)
            period = left.date_input("Period", value=(lo, hi - dt.timedelta(days=1)), key="pf_pva_period")
            with right:
                actual_sheet = sheet_widgets.sheet_picker("pf_pva_sheet", "Actual cost under (this browser session)")
            if len(period) == 2:
                pva = actuals.plan_vs_actual(
                    con, rs, which, sheet, period[0], period[1] + dt.timedelta(days=1), actual_sheet=actual_sheet
                )
                st.caption(
                    sheet_widgets.cost_rule_text(
                        pva.actual_sheet,
                        pva.computed_calls,
                        pva.reported_only_calls,
                        pva.reported_only_usd,
                        pva.unpriced_calls,
                        "see the notes",
                    )
                )
                for n in pva.notes:
                    st.info(fmt.plain_markdown(n))
                st.dataframe(pva.comparison, hide_index=True, key="pf_pva_cmp", column_config=NUM)
                st.plotly_chart(
                    charts.variance_waterfall(pva.planned_cost, pva.effects, pva.actual_cost), key="pf_pva_waterfall"
                )
                st.markdown(actuals.EXPLANATION)
                st.plotly_chart(charts.daily_chart(pva.by_day), key="pf_pva_daily")
                st.dataframe(pva.by_model, hide_index=True, key="pf_pva_models", column_config=MONEY | NUM)
