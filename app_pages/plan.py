"""Plan: requirements per use case → model shortlist → month-by-month bill → plan vs actual."""

import datetime as dt

import numpy as np
import streamlit as st

from llmledger import config
from llmledger.planning import store
from llmledger.planning.projection import PLAN, project
from llmledger.planning.requirements import (
    GROUPS,
    MAX_CANDIDATES,
    UseCase,
    example_set,
    from_form,
    measure_prompts,
    split_prompts,
    use_case_fields,
)
from llmledger.planning.validation import validate
from llmledger.ui import format as fmt
from llmledger.ui import plan_charts as charts
from llmledger.ui import shortlist_widgets
from llmledger.ui.common import connection, page_setup, show_errors
from llmledger.ui.plan_widgets import (
    MONEY,
    NUM,
    apply_pending,
    field_widget,
    headline,
    open_plan,
    plan_vs_actual_tab,
    readable,
    sheet_list,
    sheet_prices,
    use_case_picker,
    versions_tab,
)
from llmledger.ui.whatif_widgets import plan_scenarios_section

page_setup("Plan", "🗓️")
st.title("Plan: from requirements to a monthly bill")
st.caption(
    "Capture what each use case needs, shortlist models that meet it, project the bill for "
    "12–24 months, then compare the plan with what telemetry recorded."
)


def requirements_tab(rs, sheet: dict, models: list[str], con) -> list:
    """The form; returns the validation of the requirements as edited (the page reuses it)."""
    names = [u.name for u in rs.use_cases]
    bar = st.columns([3, 1, 1, 1])
    idx = use_case_picker(bar[0], "Use case", names, "pf_uc")
    if bar[1].button("Add", icon=":material/add:", key="pf_add", use_container_width=True):
        rs.use_cases.append(UseCase(name=f"Use case {len(names) + 1}"))
        open_plan(rs, len(names))
    if idx is not None and bar[2].button(
        "Duplicate", icon=":material/content_copy:", key="pf_dup", use_container_width=True
    ):
        rs.use_cases.append(rs.use_cases[idx].copy(name=names[idx] + " (copy)"))
        open_plan(rs, len(names))
    if idx is not None and bar[3].button("Remove", icon=":material/delete:", key="pf_del", use_container_width=True):
        del rs.use_cases[idx]
        open_plan(rs, 0)
    if idx is not None:
        uc = rs.use_cases[idx]
        before = uc.name
        cols = st.columns(4)
        for col, group in zip(cols, GROUPS):
            col.subheader(group)
            with col:
                for f in use_case_fields(group):
                    raw = field_widget(f, uc, idx, models)
                    try:
                        setattr(uc, f.name, from_form(f.name, raw))
                    except ValueError as exc:
                        st.error(f"{f.metadata['label']}: {fmt.plain_markdown(exc)}")
        if uc.name != before:
            st.rerun()  # the use case picker above shows the new name at once
        with st.expander("Measure input tokens from sample prompts (tokenizer registry)"):
            text = st.text_area("Sample prompts, separated by a line containing only ---", key=f"plan_prompts_{idx}")
            if st.button("Measure", key=f"pf_measure_{idx}"):
                counts, tok, exact = measure_prompts(split_prompts(text), model=uc.model or None)
                uc.input_token_samples = counts
                st.session_state[f"plan_measured_{idx}"] = f"{len(counts)} prompt(s) with {tok}" + (
                    "" if exact else " (approximate)"
                )
                open_plan(rs, idx)
            if f"plan_measured_{idx}" in st.session_state:
                st.caption("Measured " + st.session_state[f"plan_measured_{idx}"])
    issues = validate(rs, sheet)
    for i in issues:
        (st.error if i.level == "error" else st.warning)(fmt.plain_markdown(i))
    if not issues:
        st.success("No problems found in these requirements.")
    save = st.columns([3, 1])
    note = save[0].text_input("Version note", key="pf_note", placeholder="what changed")
    if save[1].button(
        "Save new version", icon=":material/save:", key="pf_save", type="primary", use_container_width=True
    ):
        v = store.save(con, rs, note=note, prices=sheet)
        st.toast(f"Saved {fmt.plain_markdown(rs.name)} v{v}")
    return issues


def shortlist_tab(rs, sheet: dict, con) -> None:
    if rs.use_cases:
        which = rs.use_cases[use_case_picker(st, "Use case", [u.name for u in rs.use_cases], "pf_short_uc")].name

        def use(model: str) -> None:
            i = [u.name for u in rs.use_cases].index(which)
            rs.use_cases[i].model = model
            open_plan(rs, i)

        shortlist_widgets.shortlist_panel(rs, which, sheet, rs.sheet, on_pick=use)  # kind, quality, one row per model


def projection_tab(rs, proj) -> None:
    scen = st.radio(
        "Scenario",
        proj.scenarios,
        horizontal=True,
        key="pf_scenario",
        help="Plan: each use case under its selected model; otherwise one model for all.",
    )
    if scen != PLAN:
        headline(rs, proj, scen)
    for n in proj.notes:
        st.warning(fmt.plain_markdown(n))
    st.plotly_chart(charts.projection_chart(proj, scen), key="pf_proj_chart")
    summary = proj.summary(scen)
    st.dataframe(
        readable(summary, summary["monthly_budget_usd"].notna()),
        hide_index=True,
        key="pf_proj_summary",
        column_config=MONEY,
    )
    if proj.use_cases:
        band_uc = st.selectbox("Use case detail (P50/P90 band from token samples)", proj.use_cases, key="pf_band_uc")
        st.plotly_chart(charts.use_case_band_chart(proj, band_uc, scen), key="pf_band_chart")
    st.subheader("Candidate models side by side")
    st.plotly_chart(charts.candidates_chart(proj), key="pf_cand_chart")
    budgeted = bool((~np.isnan(proj.budget)).any())
    st.dataframe(readable(proj.compare(), budgeted), hide_index=True, key="pf_cand_table", column_config=MONEY)
    with st.expander("Month-by-month table"):
        st.dataframe(proj.frame(scen), hide_index=True, key="pf_proj_frame", column_config=MONEY | NUM)
    plan_scenarios_section(rs, proj)  # saved What-if scenarios as candidates


if "plan_pending" in st.session_state:
    apply_pending()
if "plan_rs" not in st.session_state:
    st.session_state.plan_rs = example_set()
rs = st.session_state.plan_rs

with show_errors():
    con = connection()
    db = str(config.db_path())
    sheets = sheet_list(db)
    head = st.columns([2, 1, 1, 2])
    rs.name = head[0].text_input("Plan name", value=rs.name, key="pf_plan_name")
    start = head[1].date_input("Start month", value=dt.date.fromisoformat(rs.start_month + "-01"), key="pf_start")
    rs.start_month = start.strftime("%Y-%m")
    rs.horizon_months = head[2].slider("Horizon (months)", 12, 24, value=rs.horizon_months, key="pf_horizon")
    rs.sheet = head[3].selectbox(
        "Price sheet", sheets, index=sheets.index(rs.sheet) if rs.sheet in sheets else 0, key="pf_sheet"
    )
    sheet = sheet_prices(db, rs.sheet)
    models = sorted(sheet)
    rs.candidates = st.multiselect(
        f"Candidate models (up to {MAX_CANDIDATES}, compared side by side)",
        sorted(set(models) | set(rs.candidates)),
        default=rs.candidates,
        max_selections=MAX_CANDIDATES,
        key="pf_candidates",
    )

    top = st.container()  # the bill's headline, filled once the requirements are read
    tabs = st.tabs(
        ["Requirements", "Shortlist", "Projection", "Plan vs actual", "Versions & export"],
        key="pf_tab",
        on_change="rerun",
    )  # only the open tab runs: edits stay fast
    t_req, t_short, t_proj, t_pva, t_ver = tabs
    issues = None
    if t_req.open:
        with t_req:
            issues = requirements_tab(rs, sheet, models, con)
    bad = [i for i in (validate(rs, sheet) if issues is None else issues) if i.level == "error"]
    # No bill from values the form calls wrong: a figure computed from them would be taken as real.
    blocked = (
        f"{len(bad)} error(s) in the requirements, so no bill is computed until they are fixed "
        f"(Requirements tab). First: {fmt.plain_markdown(bad[0])}"
        if bad
        else ""
    )
    proj = None if bad else project(rs, sheet)
    with top:
        if bad:
            st.error(blocked)
        else:
            headline(rs, proj)
    for tab, draw, args, needs_valid in (
        (t_short, shortlist_tab, (rs, sheet, con), True),
        (t_proj, projection_tab, (rs, proj), True),
        (t_pva, plan_vs_actual_tab, (rs, sheet, con), True),
        (t_ver, versions_tab, (rs, con), False),
    ):
        if tab.open:
            with tab:
                if needs_valid and bad:
                    st.info(blocked)
                else:
                    draw(*args)
