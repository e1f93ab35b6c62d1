"""Shared Streamlit widgets for the Calls and Ingest pages: filters, banners,
demo-data controls and table column settings. Streamlit glue only; logic lives below ui/."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from llmledger import config
from llmledger.reads import rules
from llmledger.reads.filters import CUSTOM, PRESETS, QUERY_KEYS, CallFilter, FilterChoice, parse_query
from llmledger.telemetry import demo
from llmledger.ui import common
from llmledger.ui import format as fmt

DIM_TITLES = {
    "feature": "Feature",
    "team": "Team",
    "user": "User",
    "service": "Service",
    "environment": "Environment",
    "model": "Model",
    "provider": "Provider",
    "convention": "Convention",
}


def data_changed() -> None:
    """New rows landed or rules changed: every cached result is stale."""
    st.cache_data.clear()


def flash(message: str, kind: str = "success") -> None:
    """Show `message` on the next run (survives st.rerun). It is plain text, shown as written
    (names in it cannot turn into Markdown links or images)."""
    st.session_state["_llmledger_flash"] = (kind, message)


def show_flash() -> None:
    kind, message = st.session_state.pop("_llmledger_flash", (None, None))
    if message:
        getattr(st, kind)(fmt.plain_markdown(message))


# ------------------------------------------------------------------ filters

#: The session's one filter choice (reads.filters.FilterChoice), shared by Calls, Spend and Reprice.
FILTER_CHOICE = "llmledger_filter_choice"
_FILTER_NOTES = "_llmledger_filter_notes"


def _picked_dates(value: Any) -> tuple[date, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _read_link(choice: FilterChoice) -> tuple[FilterChoice, list[str]]:
    """The URL's filters, when they differ from the session's (a shared link, a Budgets alert
    link, the browser's back button); notes say what in it was ignored."""
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    linked, notes = parse_query(params)
    return (choice if linked is None else linked), notes


def _read_widgets(
    choice: FilterChoice, bounds, key: str, options: dict[str, list[str]], dimensions: bool
) -> tuple[FilterChoice, bool]:
    """What this page's widgets say that differs from what they were last given: the viewer's
    edit, or values another page put there before switching here. (True when the date range is
    half picked: its widget is then left alone.)"""
    ss = st.session_state
    seen = ss.get(f"_{key}_filters_seen")
    dim_keys = [f"{key}_f_{d}" for d, v in options.items() if v]
    if f"{key}_dates" in ss and not all(k in ss for k in dim_keys):
        # Another page wrote the dates and the dimensions it wants before switching here (the
        # page's own widgets always hold every key): its dimensions replace the session's.
        choice = choice.with_values({})
    preset = ss.get(f"{key}_preset")
    if preset in PRESETS and (seen is None or preset != seen["preset"]):
        if preset == CUSTOM:
            choice = FilterChoice.custom(*choice.dates(bounds), choice.values)
        else:
            choice = FilterChoice(preset, values=choice.values)
    else:
        picked = _picked_dates(ss.get(f"{key}_dates"))
        if picked and (seen is None or picked != seen["dates"]):
            if len(picked) == 1:
                return FilterChoice.custom(picked[0], None, choice.values), True
            choice = FilterChoice.custom(picked[0], picked[1], choice.values)
    if dimensions:
        values = dict(choice.values)
        for dim in DIM_TITLES:
            v = ss.get(f"{key}_f_{dim}")
            if v is not None and (seen is None or tuple(v) != seen["values"].get(dim, ())):
                values[dim] = list(v)
        choice = choice.with_values(values)
    return choice, False


def _write_link(choice: FilterChoice) -> None:
    """Put the whole choice in the URL (only its own keys; others are left alone), so a copied
    link opens the same view; on Reprice too, so its links keep the Calls filters."""
    want = choice.to_query()
    for k in QUERY_KEYS:
        if k in want:
            if st.query_params.get_all(k) != want[k]:
                st.query_params[k] = want[k]
        elif k in st.query_params:
            del st.query_params[k]


def call_filters(
    options: dict[str, list[str]], bounds: tuple[date, date] | None, key: str = "calls", dimensions: bool = True
) -> CallFilter:
    """Sidebar: a date preset or range (UTC) and one multiselect per dimension (empty = all).

    One choice per browser session serves Calls, Spend and Reprice (a filter set on one page holds
    on the others) and lives in the URL, so a link restores it. Each run takes, in order: the
    session's choice, a URL that differs from it, then what this page's widgets changed; bad URL
    values are shown as notes, never raised. With `dimensions=False` (Reprice) only the dates
    apply. Widget keys (`{key}_dates`, `{key}_f_{dim}`) stay as before: a page may set them and
    switch here."""
    ss = st.session_state
    if not bounds:
        return CallFilter.build()
    before = ss.get(FILTER_CHOICE) or FilterChoice()
    choice, link_notes = _read_link(before)
    choice, partial = _read_widgets(choice, bounds, key, options, dimensions)
    notes = link_notes
    if dimensions:
        choice, dropped = choice.known(options)
        notes = notes + dropped
    if notes:
        ss[_FILTER_NOTES] = notes
    elif choice != before:
        ss.pop(_FILTER_NOTES, None)
    ss[FILTER_CHOICE] = choice
    dates = choice.dates(bounds)
    shown = {
        "preset": choice.preset,
        "dates": dates,
        "values": {d: v for d, v in choice.values},
    }
    ss[f"{key}_preset"] = choice.preset
    if not partial:
        ss[f"{key}_dates"] = dates
    if dimensions:
        for dim, values in options.items():
            if values:
                ss[f"{key}_f_{dim}"] = [v for v in choice.selected(dim) if v in values]
    ss[f"_{key}_filters_seen"] = shown
    _write_link(choice)

    with st.sidebar:
        st.subheader("Filters" if dimensions else "Period")
        st.selectbox("Period", list(PRESETS), format_func=PRESETS.get, key=f"{key}_preset")
        st.date_input("Dates (UTC)", key=f"{key}_dates", format="YYYY-MM-DD")
        if choice.exact:
            st.caption(fmt.plain_markdown(exact_window_text(choice)))
        st.caption(
            f"Calls from {bounds[0]:%Y-%m-%d} to {bounds[1]:%Y-%m-%d}. Presets end at the latest call. "
            "The URL keeps these filters: copy it to share this view."
        )
        if dimensions:
            for dim, values in options.items():
                if values:
                    st.multiselect(DIM_TITLES[dim], values, key=f"{key}_f_{dim}", placeholder="All")
        elif choice.values:
            picked = ", ".join(DIM_TITLES[d].lower() for d, _ in choice.values)
            st.caption(f"Your {picked} filter from Calls and Spend does not apply here: all calls are repriced.")
    for note in ss.get(_FILTER_NOTES, []):
        st.warning(fmt.plain_markdown("Filter link: " + note), icon="🔗")
    return choice.call_filter(bounds, dimensions)


def exact_window_text(choice: FilterChoice) -> str:
    """What the sidebar says under the dates when a link gave exact times."""
    lo = f"{choice.start_at:%Y-%m-%d %H:%M:%S}".removesuffix(":00") if choice.start_at else "the first call"
    hi = f"{choice.end_at:%Y-%m-%d %H:%M:%S}".removesuffix(":00") if choice.end_at else "the latest call"
    return (
        f"Exact window from the link: from {lo} to before {hi} UTC. Picking dates or a period filters whole days again."
    )


def open_filtered(page: str, key: str, choice: FilterChoice) -> None:
    """Switch to a page using call_filters(key=...) with `choice` as the session's filters (the
    Budgets page's alert links: exact times and the alert's scope). The page's own filter widgets
    are cleared so they take the choice instead of overriding it."""
    ss = st.session_state
    ss[FILTER_CHOICE] = choice
    ss.pop(_FILTER_NOTES, None)
    for k in [f"{key}_preset", f"{key}_dates", f"_{key}_filters_seen", *(f"{key}_f_{d}" for d in DIM_TITLES)]:
        ss.pop(k, None)
    st.switch_page(page, query_params=choice.to_query())  # the URL carries it too: a link to share


#: Above this many calls, cost (priced per call by the pricing view at query time) starts off.
COST_BY_DEFAULT_UP_TO = 250_000


def cost_toggle(n_calls: int, key: str) -> bool:
    """Sidebar switch for cost columns; on by default unless the ledger is large."""
    return st.sidebar.toggle(
        "Include cost",
        value=n_calls <= COST_BY_DEFAULT_UP_TO,
        key=key,
        help="Cost is computed per call under the active price sheet each time it is shown, which "
        "takes seconds over millions of calls. Everything else on this page reads the calls directly.",
    )


def demo_banner(n_demo: int, where: str = "on the Ingest page") -> None:
    if n_demo:
        st.warning(
            f"**DEMO DATA** · {n_demo:,} calls here are generated demo traffic (services, features, "
            f"teams and users named `demo-…`). Remove them {where}.",
            icon="🧪",
        )


# ------------------------------------------------------------------ demo data


def demo_generate(key: str) -> dict | None:
    """Size input + button; generates demo traffic with a progress bar. Returns the load summary."""
    cols = st.columns([1, 1, 2], vertical_alignment="bottom")
    n = cols[0].number_input(
        "Demo calls to generate",
        min_value=100,
        max_value=200_000,
        value=demo.DEFAULT_CALLS,
        step=1000,
        key=f"{key}_demo_n",
    )
    if not cols[1].button("Generate demo data", key=f"{key}_demo_generate", type="primary"):
        return None
    bar = st.progress(0.0, text="Generating ~90 days of demo traffic…")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=message)

    result = demo.generate(common.resources()["con"], n_calls=int(n), progress=progress).as_dict()
    data_changed()
    flash(f"Demo data generated: {fmt.load_summary(result)}")
    return result


def demo_remove(key: str, n_demo: int) -> int | None:
    if not st.button(f"Remove demo data ({n_demo:,} calls)", key=f"{key}_demo_remove", disabled=not n_demo):
        return None
    removed = demo.remove(common.resources()["con"])
    data_changed()
    flash(f"Removed {removed:,} demo calls.")
    return removed


# ------------------------------------------------------------------ summaries and tables


def kpis(s: dict[str, Any]) -> None:
    """The headline numbers of `reads.calls.summary`."""
    c = st.columns(7)
    c[0].metric("Calls", fmt.compact(s["calls"]), help=f"{fmt.count(s['calls'])} model calls")
    c[1].metric("Input tokens", fmt.compact(s["input_tokens"]), help=fmt.count(s["input_tokens"]))
    c[2].metric("Output tokens", fmt.compact(s["output_tokens"]), help=fmt.count(s["output_tokens"]))
    if s["priced_calls"] is None:
        c[3].metric("Cost", fmt.DASH, help="Turn on “Include cost” in the sidebar")
    else:
        priced = f"{fmt.count(s['priced_calls'])} of {fmt.count(s['calls'])} calls priced"
        c[3].metric(
            "Cost",
            fmt.usd(s["cost_usd"]) if s["priced_calls"] else fmt.DASH,
            help=priced + ("" if s["priced_calls"] else ": no price sheet covers these models yet"),
        )
    c[4].metric("Median latency", fmt.ms(s["p50_ms"]))
    c[5].metric("p95 latency", fmt.ms(s["p95_ms"]))
    c[6].metric(
        "Errors",
        fmt.share(s["errors"], s["calls"]),
        help=f"{fmt.count(s['errors'])} error calls; {fmt.count(s['missing_usage'])} calls without usage",
    )


def number_column(title: str, format: str = "localized", **kw) -> Any:
    return st.column_config.NumberColumn(title, format=format, **kw)


def money_column(title: str, **kw) -> Any:
    return st.column_config.NumberColumn(title, format="dollar", **kw)


def breakdown_columns(group_label: str) -> dict:
    return {
        "grp": st.column_config.TextColumn(group_label),
        "calls": number_column("Calls"),
        "share": st.column_config.ProgressColumn("Share of calls", format="percent", min_value=0, max_value=1),
        "input_tokens": number_column("Input tokens", "compact"),
        "output_tokens": number_column("Output tokens", "compact"),
        "cost_usd": number_column("Cost", "dollar"),
        "p50_ms": number_column("p50 ms", "%.0f"),
        "p95_ms": number_column("p95 ms", "%.0f"),
        "error_rate": number_column("Errors", "percent"),
        "missing_usage": number_column("No usage"),
    }


TRACE_COLUMNS = {
    "trace_id": st.column_config.TextColumn("Trace", width="small"),
    "root_name": st.column_config.TextColumn("Root span"),
    "started": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "calls": number_column("Calls"),
    "tokens": number_column("Tokens"),
    "cost_usd": number_column("Cost", "dollar"),
    "llm_window_ms": number_column("LLM ms", "%.0f", help="First call start to last call end"),
    "trace_ms": number_column("Trace ms", "%.0f", help="Whole trace, from its spans"),
    "feature": st.column_config.TextColumn("Feature"),
    "service": st.column_config.TextColumn("Service"),
    "errors": number_column("Errors"),
}

UNPRICED_COLUMNS = {
    "model": st.column_config.TextColumn("Model"),
    "provider": st.column_config.TextColumn("Provider"),
    "calls": number_column("Calls"),
    "input_tokens": number_column("Input tokens"),
    "output_tokens": number_column("Output tokens"),
}

QUALITY_COLUMNS = {
    "convention": st.column_config.TextColumn("Convention"),
    "service": st.column_config.TextColumn("Service"),
    "calls": number_column("Calls"),
    "missing_usage": number_column("Missing usage", help="No token counts reported"),
    "unpriced": number_column("Unknown model", help="Tokens reported but no price: cost_usd is empty"),
    "unattributed_feature": number_column(
        "No feature", help="No feature attribute on the span, its ancestors or resource"
    ),
    "errors": number_column("Errors"),
}


def rules_changed(editor_key: str, message: str) -> None:
    """After saving rules: drop the editor's pending edits (now saved) and show the fresh table."""
    st.session_state.pop(editor_key, None)
    data_changed()
    flash(message)
    st.rerun()


def rule_columns() -> dict:
    return {
        "dim": st.column_config.SelectboxColumn("Dimension", options=list(rules.RULE_DIMENSIONS), required=True),
        "key": st.column_config.TextColumn("Attribute key", required=True, width="large"),
        "json_field": st.column_config.TextColumn("JSON field", default=""),
        "level": st.column_config.SelectboxColumn(
            "Where", options=list(rules.RULE_LEVELS), default="any", required=True
        ),
        "priority": st.column_config.NumberColumn("Priority", min_value=0, max_value=10_000, step=1, default=100),
        "enabled": st.column_config.CheckboxColumn("On", default=True),
    }


def trace_column_order(by: str) -> list[str]:
    """Cost is computed only when ranking by it (it needs the pricing view), so show it only then."""
    cols = list(TRACE_COLUMNS)
    return cols if by == "cost" else [c for c in cols if c != "cost_usd"]


def trace_label(row: pd.Series) -> str:
    started = row["started"].strftime("%b %d %H:%M") if not pd.isna(row["started"]) else ""
    return (
        f"{row['root_name'] or row['trace_id'][:12]} · {fmt.label(row['feature'])} · {started} · "
        f"{fmt.compact(row['tokens'])} tokens · {fmt.ms(row['llm_window_ms'])}"
    )


def quality_metrics(dq: pd.DataFrame) -> None:
    calls = int(dq["calls"].sum()) if not dq.empty else 0
    c = st.columns(3)
    for col, name, title in (
        (c[0], "missing_usage", "Missing usage"),
        (c[1], "unpriced", "Unknown model (no price)"),
        (c[2], "unattributed_feature", "No feature"),
    ):
        if dq[name].isna().all() and not dq.empty:
            col.metric(title, fmt.DASH, help="Turn on “Include cost” in the sidebar")
            continue
        n = int(dq[name].sum()) if not dq.empty else 0
        col.metric(title, fmt.count(n), help=f"{fmt.share(n, calls)} of {fmt.count(calls)} calls")


def receiver_status(service: Any) -> None:
    """The embedded OTLP receiver: disabled, unavailable (with its reason) or its live stats."""
    if service is None:
        st.info(
            f"The embedded OTLP receiver is off ({config.ENV_RECEIVER}=0). "
            "Import files below, or run `python -m llmledger serve-otlp` against another database."
        )
        return
    stats = service.stats()
    if not stats.get("running"):
        # The last error quotes client input (headers, paths, payload fields): literal text only.
        st.warning(
            "The OTLP receiver is not running: " + fmt.plain_markdown(stats.get("last_error") or "unknown reason")
        )
    rows = dict(fmt.receiver_rows(stats))
    c = st.columns(4)
    for col, name in zip(c, ("Requests received", "Spans accepted", "Spans/s received", "Batches waiting to load")):
        col.metric(name, rows.get(name, fmt.DASH))
    if "Endpoint" in rows:
        st.markdown(f"Endpoint: `{rows['Endpoint']}` · last error: {fmt.plain_markdown(rows['Last error'])}")
    with st.expander("All receiver counters"):
        st.dataframe(
            pd.DataFrame(list(rows.items()), columns=["Counter", "Value"]),
            hide_index=True,
            width="stretch",
            key="ingest_receiver_table",
        )
