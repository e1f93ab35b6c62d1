"""What-if page, levers: what every lever's form shares. The scope (a window of calls, read and
priced once per feature, days and sheet), cached lever runs, a lever's result drawn from its
LedgerLever whatever the lever (baseline, what-if, saving, monthly, what it found, assumptions,
notes, details), and Save as scenario. Streamlit only: the work is in simulate/lever_lab.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from llmledger import config
from llmledger.errors import LedgerError
from llmledger.ui import format as fmt
from llmledger.ui.common import connection
from llmledger.ui.whatif_lab import error

#: the page's options per lever, kept across tabs (widget state is dropped when a tab is closed)
OPTIONS_KEY = "wi_lv_options"
EVERY = "All features"


@dataclass
class Ctx:
    """What a lever form needs: the filters and the scope they select."""

    db: str
    feature: str | None
    days: int
    sheet: str
    scope: object  # simulate.lever_lab.Scope

    @property
    def key(self) -> tuple:
        return (self.db, self.feature, self.days, self.sheet)


# --------------------------------------------------------------------------- cached work


@st.cache_data(show_spinner="Reading and pricing the calls…", ttl=300, max_entries=16)
def scope(db: str, feature: str | None, days: int, sheet: str, extra: tuple = ()):
    from llmledger.simulate import lever_lab

    return lever_lab.load_scope(connection(), feature, days, sheet, extra_models=extra)


def _freeze(options: dict) -> str:
    return repr(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items()))


@st.cache_data(show_spinner="Running the lever on these calls…", ttl=300, max_entries=64)
def _run(db: str, feature, days: int, sheet: str, lever: str, frozen: str, _options: dict, extra: tuple = ()):
    from llmledger.simulate import lever_lab

    sc = scope(db, feature, days, sheet, extra)
    return lever_lab.run(sc, lever, **lever_lab.engine_params(sc, lever, dict(_options)))


def run(ctx: Ctx, lever: str, options: dict, extra: tuple = ()):
    """The lever's LedgerLever for these options (cached per filters and options)."""
    return _run(*ctx.key, lever, _freeze(options), options, extra)


@st.cache_data(show_spinner="Sweeping the TTL…", ttl=300, max_entries=16)
def ttl_sweep(db: str, feature, days: int, sheet: str) -> pd.DataFrame:
    from llmledger.simulate import lever_lab

    return lever_lab.ttl_sweep(scope(db, feature, days, sheet))


@st.cache_data(show_spinner="Sweeping the cap…", ttl=300, max_entries=16)
def cap_sweep(db: str, feature, days: int, sheet: str, caps: tuple) -> pd.DataFrame:
    from llmledger.simulate import lever_lab

    return lever_lab.cap_sweep(scope(db, feature, days, sheet), list(caps))


@st.cache_data(show_spinner="Applying the levers in sequence…", ttl=300, max_entries=16)
def waterfall(db: str, feature, days: int, sheet: str, steps: tuple, frozen: str, _options: dict, top: int):
    from llmledger.simulate import lever_lab

    sc = scope(db, feature, days, sheet)
    params = {s: lever_lab.engine_params(sc, s, _options.get(s, {})) for s in steps}
    out = lever_lab.waterfall(sc, list(steps), params, top=top)
    out.pop("results")  # per-call arrays: not needed on the page
    return out


# --------------------------------------------------------------------------- options


def options(lever: str) -> dict:
    """The options last used for `lever` on this page (its defaults at first)."""
    from llmledger.simulate.lever_lab import DEFAULT_OPTIONS

    saved = st.session_state.setdefault(OPTIONS_KEY, {})
    return {**DEFAULT_OPTIONS.get(lever, {}), **saved.get(lever, {})}


def keep_options(lever: str, values: dict) -> dict:
    st.session_state.setdefault(OPTIONS_KEY, {})[lever] = dict(values)
    return values


# --------------------------------------------------------------------------- a result, any lever


def _delta(x: float) -> str:
    return ("-" if x < 0 else "+") + fmt.usd(abs(x))


def _metric_value(v, key: str = "") -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return fmt.count(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        return fmt.pct(v) if ("rate" in key or "share" in key) and 0 <= v <= 1 else f"{v:,.4g}"
    if isinstance(v, str):
        return v
    return None


def found_rows(metrics: dict) -> list[dict]:
    """A lever's scalar metrics as rows (what it found); nested ones are drawn by its form."""
    rows = []
    for k, v in metrics.items():
        text = _metric_value(v, k)
        if text is not None:
            label = k.replace("_", " ")
            if "usd" in k and isinstance(v, float):
                text = fmt.usd(v)
            rows.append({"measure": label, "value": text})
    return rows


def show_result(ll, key: str) -> None:
    """Baseline, what-if and saving (window and per month), what the lever found, what it rests
    on, its notes and its details table: drawn the same for every lever."""
    r = ll.result
    s = ll.monthly_scale
    st.markdown(f"**{fmt.plain_markdown(r.title[:1].upper() + r.title[1:])}**")
    m = st.columns(5)
    m[0].metric("Calls", fmt.count(r.calls), help=f"{ll.period_start[:10]} to {ll.period_end[:10]}, sheet {ll.sheet}")
    m[1].metric("Cost today", fmt.usd(r.baseline_usd), help="their actual cost in the window, under the sheet")
    m[2].metric(
        "What-if cost (estimate)",
        fmt.usd(r.whatif_usd),
        delta=_delta(r.whatif_usd - r.baseline_usd) if round(r.whatif_usd - r.baseline_usd, 9) else None,
        delta_color="inverse",
        help="the same calls with the lever in place; see what it rests on",
    )
    share = f" ({fmt.pct(r.saving_share)})" if r.saving_share is not None else ""
    m[3].metric("Saving", fmt.signed_usd(r.saving_usd), help=f"cost today minus what-if cost{share}")
    m[4].metric(
        "Monthly saving (estimate)",
        fmt.signed_usd(r.saving_usd * s),
        help=f"the window's saving x 30 / {ll.days_covered:.3g} days",
    )
    found = found_rows(r.metrics)
    left, right = st.columns([2, 3])
    with left:
        if found:
            st.dataframe(pd.DataFrame(found), hide_index=True, key=f"{key}_found", width="stretch")
    with right:
        st.markdown("**Rests on**")
        st.markdown(
            "\n".join(
                f"- {fmt.plain_markdown(a)}"
                for a in [*r.assumptions, f"monthly: x 30 / {ll.days_covered:.3g} days covered"]
            )
        )
    for n in [*ll.notes, *r.notes]:
        st.info(fmt.plain_markdown(n))
    if len(r.details):
        with st.expander("Details", expanded=False):
            st.dataframe(
                r.details,
                hide_index=True,
                key=f"{key}_details",
                column_config={
                    c: st.column_config.NumberColumn(format="$%.6f") for c in r.details.columns if c.endswith("_usd")
                },
            )


def save_form(ll, lever_options: dict, key: str) -> None:
    """Name the lever's result and keep it as a scenario for the Plan page."""
    from llmledger.simulate import scenarios

    scope_name = ll.feature or "all features"
    c = st.columns([3, 1])
    name = c[0].text_input(
        "Scenario name",
        value=f"{scope_name}: {ll.result.lever}",
        key=f"{key}_name",
        max_chars=scenarios.MAX_NAME,
        help="The Plan page applies the lever's cost ratio to the use cases tagged with its feature "
        "(every use case when it covers all features).",
    )
    if c[1].button("Save as scenario", key=f"{key}_save", icon=":material/bookmark_add:", width="stretch"):
        try:
            scenarios.save(connection(), name, ll, params=lever_options)
        except LedgerError as exc:
            error(exc)
            return
        st.toast(f"Saved scenario {fmt.plain_markdown(name)}: the Plan page shows it as a candidate.")


def db() -> str:
    return str(config.db_path())
