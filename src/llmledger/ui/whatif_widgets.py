"""What-if page glue for your own traffic: apply a router or cascade to a feature, save it as a
scenario, list scenarios, and the Plan page's scenario candidates (`plan_scenarios_section`).
Streamlit only: the maths is in simulate/traffic.py and simulate/scenarios.py, the reads in
reads/whatif.py, the charts in ui/whatif_charts.py. The dataset lab is ui/whatif_lab.py.
"""

from __future__ import annotations

import streamlit as st

from llmledger import config
from llmledger.errors import LedgerError
from llmledger.ui import format as fmt
from llmledger.ui import sheet_widgets
from llmledger.ui import whatif_charts as charts
from llmledger.ui.common import connection
from llmledger.ui.whatif_lab import CASCADE_FROM_LAB, ROUTER_FROM_LAB, error

TYPED, FROM_LAB = "Type them in", "From the dataset lab"
RESULT_KEY = "wi_traffic_result"


@st.cache_data(show_spinner=False, ttl=60, max_entries=8)
def _features(db: str) -> list[str]:
    from llmledger.reads import whatif

    return whatif.known_features(connection(), limit=None)


@st.cache_data(show_spinner=False, ttl=60, max_entries=64)
def _feature_models(db: str, feature: str) -> list[str]:
    from llmledger.reads import whatif

    return whatif.feature_models(connection(), feature)


@st.cache_data(show_spinner="Repricing the feature's calls under the policy…", ttl=300, max_entries=32)
def _apply(db: str, feature: str, _policy, policy_key: str, days: int, sheet: str):
    from llmledger.simulate import traffic

    return traffic.apply_to_traffic(connection(), feature, _policy, days=days, sheet=sheet)


def _default(options: list[str], wanted: list[str], fallback: int = 0) -> int:
    for w in wanted:
        if w in options:
            return options.index(w)
    return min(fallback, len(options) - 1)


def _policy_inputs(models: list[str], used: list[str]):
    """The policy widgets; returns a simulate.traffic policy (raises SimulationError on bad input)."""
    from llmledger.simulate import traffic

    weak0 = "gpt-4o-mini" if "gpt-4o-mini" in models else (used[-1] if used else models[0])
    strong0 = next((m for m in [*used, "gpt-4o", "claude-sonnet-4-20250514"] if m != weak0 and m in models), None)
    strong0 = strong0 or next(m for m in models if m != weak0)
    kind = st.radio("Policy", ["Router", "Cascade"], horizontal=True, key="wi_t_kind")
    source = st.radio(
        "Rates",
        [TYPED, FROM_LAB],
        horizontal=True,
        key="wi_t_rates",
        help="Typed in: assumed by you, with the ± you give. From the dataset lab: the operating point you "
        "picked there, with its interval from the dataset's counts.",
    )
    if kind == "Router":
        c = st.columns(4)
        strong = c[0].selectbox("Strong model", models, index=models.index(strong0), key="wi_t_strong")
        weak = c[1].selectbox("Weak model", models, index=models.index(weak0), key="wi_t_weak")
        lab = st.session_state.get(ROUTER_FROM_LAB)
        if source == FROM_LAB and not lab:
            st.info("No router point picked in the dataset lab yet: type the share in, or pick one there.")
        if source == FROM_LAB and lab:
            st.caption(
                f"Share from the lab: {lab['share_pct']:.1f}% to the strong model, {fmt.plain_markdown(lab['source'])}."
            )
            return traffic.router(strong, weak, lab["share_pct"], 0, source=lab["source"])
        share = c[2].number_input("% of calls to the strong model", 0.0, 100.0, 30.0, step=5.0, key="wi_t_share")
        pm = c[3].number_input("± percentage points", 0.0, 100.0, 10.0, step=1.0, key="wi_t_share_pm")
        return traffic.router(strong, weak, share, pm)
    lab = st.session_state.get(CASCADE_FROM_LAB)
    n_default = len(lab["tiers"]) if source == FROM_LAB and lab else 2
    defaults = [models.index(weak0), models.index(strong0)]
    c = st.columns(4)
    n = int(c[0].number_input("Tiers", 2, 4, n_default, key="wi_t_ntiers"))
    tiers = []
    for i in range(n):
        idx = defaults[i] if i < len(defaults) else _default(models, [], i)
        tiers.append(c[(i + 1) % 4].selectbox(f"Tier {i + 1} model", models, index=idx, key=f"wi_t_tier{i}"))
    if source == FROM_LAB:
        if not lab:
            st.info("No cascade point picked in the dataset lab yet: type the rates in, or pick one there.")
        elif len(lab["tiers"]) != n:
            st.warning(
                f"The lab's cascade has {len(lab['tiers'])} tiers; set Tiers to {len(lab['tiers'])} to use its rates."
            )
        else:
            rates = traffic.rates_from_shares(lab["tiers"], lab["shares"], lab["queries"], lab["dataset"])
            st.caption(
                "Rates from the lab: "
                + "; ".join(
                    f"tier {i + 1} ({fmt.plain_markdown(m)}) accepts {r.value:.1%}"
                    for i, (m, r) in enumerate(zip(lab["tiers"], rates))
                )
                + f", measured on {fmt.plain_markdown(lab['dataset'])} and applied to your tiers in the same order."
            )
            return traffic.cascade(tiers, rates)
    r = st.columns(4)
    pm = r[-1].number_input("± on each rate", 0.0, 1.0, 0.1, step=0.05, key="wi_t_accept_pm")
    rates = [
        traffic.Rate.assumed(
            r[i % 3].number_input(f"Tier {i + 1} accepts (0..1)", 0.0, 1.0, 0.7, step=0.05, key=f"wi_t_acc{i}"),
            pm,
            what=f"tier {i + 1} acceptance rate",
        )
        for i in range(n - 1)
    ]
    return traffic.cascade(tiers, rates)


def traffic_section() -> None:
    """Pick a feature and a policy; show the repriced cost, the saving band, latency and break-even."""
    from llmledger.simulate import traffic

    db = str(config.db_path())
    feats = _features(db)
    if not feats:
        st.info("No feature has calls yet: ingest telemetry (or demo data on the Ingest page) to apply a policy to it.")
        return
    c = st.columns([3, 1, 2])
    feature = c[0].selectbox("Feature", feats, key="wi_t_feature")
    days = int(
        c[1].number_input("Days", 1, 3660, 30, key="wi_t_days", help="the feature's last N days, up to its latest call")
    )
    with c[2]:
        sheet = sheet_widgets.sheet_picker("wi_t_sheet")
    models = sheet_widgets.model_options(sheet)
    if not models:
        st.error(f"Price sheet {fmt.plain_markdown(sheet)} prices no models.")
        return
    try:
        policy = _policy_inputs(models, _feature_models(db, feature))
        result = _apply(db, feature, policy, repr(policy), days, sheet)
    except LedgerError as exc:
        error(exc)
        return
    st.session_state[RESULT_KEY] = result
    show_result(result, policy, traffic.sensitivity(result, policy))
    save_form(result)


def _delta_usd(x) -> str:
    """A metric delta Streamlit reads the sign of (an ASCII minus)."""
    return ("-" if x < 0 else "+") + fmt.usd(abs(x))


def show_result(r, policy, sens) -> None:
    st.markdown(f"**{fmt.plain_markdown(r.feature)}**: {fmt.plain_markdown(r.policy)}")
    m = st.columns(4)
    m[0].metric("Monthly cost today", fmt.usd(r.monthly_baseline_usd), help=r.rests_on["baseline"])
    m[1].metric(
        "Monthly cost under the policy",
        fmt.usd(r.monthly_policy_usd),
        delta=_delta_usd(r.monthly_policy_usd - r.monthly_baseline_usd),
        delta_color="inverse",
        help=r.rests_on["policy cost"],
    )
    m[2].metric(
        "Monthly saving",
        fmt.signed_usd(r.monthly_saving_usd),
        help=f"Band {fmt.signed_usd(r.monthly_saving_low_usd)} to {fmt.signed_usd(r.monthly_saving_high_usd)}: {r.rests_on['saving band']}",
    )
    be = r.break_even
    m[3].metric(
        "Break-even " + (be["what"] if be else "rate"),
        fmt.pct(be["rate"]) if be else "—",
        help=be["meaning"] if be else "the two models cost the same",
    )
    meaning = (be["meaning"][:1].upper() + be["meaning"][1:] + ".") if be else ""
    band = (
        f"Saving band: **{fmt.signed_usd(r.monthly_saving_low_usd)}** to **{fmt.signed_usd(r.monthly_saving_high_usd)}** "
        "a month over the rates' intervals. "
    )
    st.markdown(band.replace("$", "\\$") + fmt.plain_markdown(meaning))  # two $ would open a LaTeX span
    left, right = st.columns(2)
    left.plotly_chart(charts.traffic_costs(r), key="wi_t_costs")
    right.plotly_chart(charts.sensitivity_chart(sens, r), key="wi_t_sens")
    lat = r.latency
    la = st.columns(3)
    la[0].metric(
        "Mean latency today",
        fmt.ms(lat.baseline_ms),
        help="measured in your traffic: this feature's calls in the window",
    )
    la[1].metric(
        "Mean latency under the policy",
        fmt.ms(lat.policy_ms),
        delta=(
            f"{lat.policy_ms - lat.baseline_ms:+,.0f} ms"
            if lat.policy_ms is not None and lat.baseline_ms is not None
            else None
        ),
        delta_color="inverse",
        help="expected: each model's measured mean latency, weighted like the cost (a cascade adds the tiers tried)",
    )
    la[2].metric("Calls repriced", fmt.count(r.calls), help=r.rests_on["baseline"])
    st.dataframe(
        [
            {"model": m, "mean latency": fmt.ms(v["mean_ms"]), "median": fmt.ms(v["p50_ms"]), "rests on": v["source"]}
            for m, v in lat.per_model.items()
        ],
        hide_index=True,
        key="wi_t_latency",
    )
    with st.expander("What these figures rest on", expanded=False):
        for k, v in r.rests_on.items():
            st.markdown(f"- **{fmt.plain_markdown(k)}**: {fmt.plain_markdown(v)}")
        for k, v in r.rates.items():
            st.markdown(
                f"- **{fmt.plain_markdown(k)}** {v['value']:.1%} ({v['low']:.1%}–{v['high']:.1%}): {fmt.plain_markdown(v['source'])}"
            )
    for n in r.notes:
        st.info(fmt.plain_markdown(n))


def save_form(result) -> None:
    from llmledger.simulate import scenarios

    c = st.columns([3, 1])
    name = c[0].text_input(
        "Scenario name", value=f"{result.feature}: {result.kind}", key="wi_t_name", max_chars=scenarios.MAX_NAME
    )
    if c[1].button(
        "Save as scenario", key="wi_t_save", icon=":material/bookmark_add:", type="primary", use_container_width=True
    ):
        try:
            scenarios.save(connection(), name, result)
        except LedgerError as exc:
            error(exc)
            return
        st.toast(f"Saved scenario {fmt.plain_markdown(name)}: the Plan page shows it as a candidate.")


def scenarios_section() -> None:
    from llmledger.simulate import scenarios

    df = scenarios.list_scenarios(connection())
    if df.empty:
        st.info("No saved scenarios yet: apply a policy (Apply to traffic) or a lever (Levers) and save it.")
        return
    st.caption(
        "Each scenario: a policy or a lever applied to a feature's traffic (or to every feature), its monthly "
        "figures measured in your traffic with the rates and assumptions as given. The Plan page applies its cost "
        "ratio to the use cases tagged with its feature (every use case for a lever over all features)."
    )
    st.dataframe(
        df.drop(columns=["cost_ratio_low", "cost_ratio_high"]).assign(feature=df["feature"].fillna("(all features)")),
        hide_index=True,
        key="wi_scenarios",
        column_config={c: st.column_config.NumberColumn(format="$%.2f") for c in df.columns if c.endswith("_usd")}
        | {"cost_ratio": st.column_config.NumberColumn(format="%.3f")},
    )
    c = st.columns([3, 1])
    gone = c[0].selectbox("Scenario", list(df["name"]), key="wi_s_pick")
    if c[1].button("Delete", key="wi_s_delete", icon=":material/delete:", use_container_width=True):
        scenarios.delete(connection(), gone)
        st.rerun()


def plan_scenarios_section(rs, proj) -> None:
    """On the Plan page: saved what-if scenarios as candidates in the projection (the scenario's
    cost ratio applied to the projected cost of the use cases tagged with its feature)."""
    from llmledger.simulate import scenarios

    try:
        df = scenarios.list_scenarios(connection())
    except LedgerError as exc:
        error(exc)
        return
    st.subheader("What-if scenarios as candidates")
    if df.empty:
        st.caption(
            "No saved what-if scenarios: save one on the What-if page (Apply to traffic, Levers) to see it here."
        )
        return
    s = proj.scenario_index("Plan")
    lines, notes = scenarios.candidate_lines(proj.months, proj.cost[s], [u.feature_tag for u in rs.use_cases], df)
    for n in notes:
        st.caption(fmt.plain_markdown(n))
    if lines.empty:
        return
    st.plotly_chart(charts.plan_candidates(proj.months, proj.total("Plan"), lines), key="pf_whatif_chart")
    horizon = (
        lines.groupby("scenario", sort=False)[["total_usd", "low_usd", "high_usd", "saving_usd"]].sum().reset_index()
    )
    st.dataframe(
        horizon.rename(columns={"total_usd": "horizon_total_usd", "saving_usd": "horizon_saving_usd"}),
        hide_index=True,
        key="pf_whatif_table",
        column_config={
            c: st.column_config.NumberColumn(format="$%.0f")
            for c in ("horizon_total_usd", "low_usd", "high_usd", "horizon_saving_usd")
        },
    )
    st.caption(
        "A scenario's cost ratio (policy or lever / today) was measured in your traffic under its sheet; a policy's "
        "band comes from the rates' intervals (a lever has none: its assumptions are stated on the What-if page). "
        "Applied to the projected cost of the tagged use cases (all of them for a lever over every feature); the "
        "rest of the plan is unchanged."
    )
