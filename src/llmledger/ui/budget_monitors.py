"""Streamlit glue for anomaly monitors on the Budgets page: the list, one form to create or edit a
monitor (with the calls it watches: a scope, as budgets have), and delete. Validation lives in
llmledger.alerts.monitors (Monitor.build); a bad input shows its reason and saves nothing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from llmledger.alerts import monitors
from llmledger.reads.filters import UNATTRIBUTED
from llmledger.ui import call_reads, common, widgets
from llmledger.ui.budget_widgets import FORM_DIMS

NEW = "➕ New monitor"
KIND_LABELS = {
    "cost_spike": "cost spike vs same weekday",
    "unpriced_model": "a model with no price appears",
    "missing_usage": "missing usage rises",
    "error_rate": "error rate rises",
}


def scope_inputs(k: str, chosen: dict[str, list[str]]) -> dict[str, list[str]]:
    """One multiselect per scope dimension (values seen in the calls, plus those already chosen)."""
    options = call_reads.dimension_values()
    cols = st.columns(4)
    scope: dict[str, list[str]] = {}
    for i, (dim, label) in enumerate(FORM_DIMS.items()):
        opts = [v for v in options.get(label, []) if v != UNATTRIBUTED]
        picked = chosen.get(dim, [])
        opts = list(dict.fromkeys([*picked, *opts]))
        scope[dim] = cols[i % 4].multiselect(
            widgets.DIM_TITLES[label], opts, default=picked, key=f"{k}_scope_{dim}", placeholder="All"
        )
    return {dim: v for dim, v in scope.items() if v}


def monitors_editor(key: str = "budgets_monitors") -> None:
    """The monitors, a form to create or edit one, and delete."""
    con = common.resources()["con"]
    stored = monitors.load_all(con)
    if stored:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "name": s.monitor.name,
                        "watches": s.monitor.describe(),
                        "scope": s.monitor.scope_text(),
                        "severity": s.monitor.severity,
                        "cool-down (h)": s.monitor.cooldown_hours,
                        "notify": len(s.monitor.notify),
                    }
                    for s in stored
                ]
            ),
            hide_index=True,
            key=f"{key}_table",
        )
    names = [s.monitor.name for s in stored]
    pick = st.selectbox("Monitor", [NEW, *names], key=f"{key}_pick", persist_state="page")
    current = next((s.monitor for s in stored if s.monitor.name == pick), None)
    k = f"{key}_{abs(hash(pick)) % 10**8}"  # fresh widgets per monitor, pre-filled with its values
    d = current.to_dict() if current else monitors.Monitor.build("new", "cost_spike").to_dict() | {"name": ""}
    with st.form(f"{k}_form"):
        c1, c2, c3 = st.columns(3)
        name = c1.text_input("Monitor name", value=d["name"], key=f"{k}_name")
        kinds = list(monitors.KINDS)
        kind = c2.selectbox(
            "Watches", kinds, index=kinds.index(d["kind"]), key=f"{k}_kind", format_func=KIND_LABELS.get
        )
        dims = list(monitors.SPIKE_DIMS)
        dim = c3.selectbox(
            "Per (cost spike)", dims, index=dims.index(d["dim"]) if d["dim"] in dims else 0, key=f"{k}_dim"
        )
        c4, c5, c6, c7 = st.columns(4)
        window = c4.number_input("Window (hours)", 1, 24 * 7, int(d["window_hours"]), key=f"{k}_window")
        threshold = c5.text_input(
            "Threshold (MADs, or points)",
            value=f"{d['threshold']:g}" if current else "",
            key=f"{k}_threshold",
            help="empty: 4 MADs for spikes, 10 points for missing usage, 5 for errors",
        )
        severities = list(monitors.SEVERITIES)
        severity = c6.selectbox("Severity", severities, index=severities.index(d["severity"]), key=f"{k}_severity")
        cooldown = c7.number_input("Cool-down (hours)", 1, 24 * 31, int(d["cooldown_hours"]), key=f"{k}_cooldown")
        st.markdown("**Watches the calls of** (empty = every call)")
        scope = scope_inputs(k, d.get("scope") or {})
        urls = st.text_area("Notify (apprise URLs, one per line)", value="\n".join(d["notify"]), key=f"{k}_notify")
        saved = st.form_submit_button("Save monitor" if current else "Add monitor", type="primary", key=f"{k}_save")
    if saved:
        with common.show_errors():
            m = monitors.Monitor.build(
                name,
                kind,
                dim=dim,
                window_hours=window,
                threshold=threshold or None,
                severity=severity,
                cooldown_hours=cooldown,
                notify=[u for u in urls.splitlines() if u.strip()],
                where=scope,
                weeks=d.get("weeks", 4),
                min_usd=d.get("min_usd", 1.0),
                min_calls=d.get("min_calls", 20),
            )
            monitors.save(con, m, replace=current.name if current else None)
            widgets.flash(f"Monitor {m.name} saved.")
            st.rerun()
    if current is not None and st.button(f"Delete {current.name}", key=f"{k}_delete"):
        with common.show_errors():
            monitors.remove(con, current.name)
            widgets.flash(f"Monitor {current.name} deleted; its past alerts stay.")
            st.rerun()
