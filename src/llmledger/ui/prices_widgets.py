"""The Prices page's widgets: import a sheet (upload or bundled), the sheets and their versions,
look a model up (which entry prices it and why), set the active sheet with a confirmation, and
the "priced through a cloud or reseller" note the data-quality sections show. Streamlit glue."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from llmledger.errors import LedgerError
from llmledger.reads import sheets as sheet_reads
from llmledger.ui import common, estimate_widgets, sheet_widgets, widgets
from llmledger.ui import format as fmt
from llmledger.ui.call_reads import cursor

SHEET_COLUMNS = {
    "sheet": st.column_config.TextColumn("Sheet"),
    "kind": st.column_config.TextColumn("Kind"),
    "source": st.column_config.TextColumn("Source", width="large"),
    "base_sheet": st.column_config.TextColumn("Based on"),
    "discount_pct": st.column_config.NumberColumn("Discount %", format="%.2f"),
    "versions": st.column_config.NumberColumn("Versions"),
    "latest_effective_from": st.column_config.TextColumn("Latest version effective from"),
    "models": st.column_config.NumberColumn("Models (latest)", format="localized"),
    "active": st.column_config.CheckboxColumn("Active"),
}
VERSION_COLUMNS = {
    "sheet": st.column_config.TextColumn("Sheet"),
    "version_id": st.column_config.NumberColumn("Version"),
    "effective_from": st.column_config.TextColumn("Effective from"),
    "imported_at": st.column_config.DatetimeColumn("Imported", format="YYYY-MM-DD HH:mm"),
    "source": st.column_config.TextColumn("Source", width="large"),
    "models": st.column_config.NumberColumn("Models", format="localized"),
}
MATCH_COLUMNS = {
    "model": st.column_config.TextColumn("Model in calls"),
    "call_provider": st.column_config.TextColumn("Provider in calls"),
    "priced_as": st.column_config.TextColumn("Priced as"),
    "match_kind": st.column_config.TextColumn("Match"),
    "route": st.column_config.TextColumn("Route"),
    "sold_by": st.column_config.TextColumn("Sold by"),
    "calls": st.column_config.NumberColumn("Calls", format="localized"),
    "note": st.column_config.TextColumn("Note", width="large"),
}
PRICE_COLUMNS = {
    "tier": st.column_config.TextColumn("Service tier"),
    "above_input_tokens": st.column_config.NumberColumn("Above input tokens", format="localized"),
    "input_mtok": st.column_config.NumberColumn("Input", format="$%.4f"),
    "output_mtok": st.column_config.NumberColumn("Output", format="$%.4f"),
    "cache_read_mtok": st.column_config.NumberColumn("Cache read", format="$%.4f"),
    "cache_write_mtok": st.column_config.NumberColumn("Cache write (5 min)", format="$%.4f"),
    "cache_write_1h_mtok": st.column_config.NumberColumn("Cache write (1 h)", format="$%.4f"),
    "reasoning_mtok": st.column_config.NumberColumn("Reasoning", format="$%.4f"),
    "request_usd": st.column_config.NumberColumn("Per request", format="$%.6f"),
}
CANDIDATE_COLUMNS = {
    "chosen": st.column_config.CheckboxColumn("Chosen"),
    "model_id": st.column_config.TextColumn("Entry"),
    "provider": st.column_config.TextColumn("Sold by"),
    "route": st.column_config.TextColumn("Route"),
    "how": st.column_config.TextColumn("Why it is a candidate", width="large"),
}
_CONFIRM = "prices_confirm_active"


def _con():
    return common.resources()["con"]


def import_section() -> None:
    """Upload a CSV / YAML / JSON sheet, or import a bundled one; bad files get a clear message."""
    st.subheader("Import a price sheet")
    left, right = st.columns([3, 2])
    with left:
        up = st.file_uploader(
            "A sheet file: your negotiated rates as .csv or .yaml, or a LiteLLM / Langfuse / genai-prices .json",
            type=["csv", "yaml", "yml", "json"],
            key="prices_upload",
        )
        c1, c2 = st.columns(2)
        name = c1.text_input(
            "Sheet name", key="prices_name", persist_state="page", placeholder="default: from the file"
        )
        when = c2.date_input(
            "Effective from", value=None, key="prices_effective", persist_state="page", help="Blank: all history."
        )
        c3, c4 = st.columns(2)
        base = c3.selectbox(
            "Over a base sheet (CSV/YAML only)", [""] + sheet_widgets.sheet_names(), key="prices_base",
            persist_state="page", format_func=lambda s: s or "— none —",
        )  # fmt: skip
        discount = c4.number_input(
            "Discount off the base (%)", 0.0, 100.0, 0.0, key="prices_discount", persist_state="page"
        )
        if st.button("Import", icon=":material/upload:", key="prices_import", disabled=up is None, type="primary"):
            try:
                got = _import_upload(up, name, when, base, discount)
            except LedgerError as exc:
                st.error(f"**{fmt.plain_markdown(up.name)}** was not imported: {fmt.plain_markdown(exc.msg)}")
            else:
                widgets.data_changed()
                widgets.flash(
                    f"Imported sheet '{got}'. Look a model up in it on the 'Look a model up' tab, "
                    "or make it the active sheet on 'Sheets & active sheet'."
                )
                st.rerun()
        st.caption(
            "CSV columns: model, provider, input_per_mtok, output_per_mtok and optionally cache_read_per_mtok, "
            "cache_write_per_mtok, service_tier, above_input_tokens, context_window, max_output_tokens "
            "(USD per 1M tokens). A new effective date adds a version; history keeps the prices it had."
        )
    with right:
        st.markdown("**Bundled sheets** (shipped in `data/pricing`)")
        have = set(sheet_widgets.sheet_names())
        for key, (path, what) in sheet_reads.BUNDLED.items():
            label = f"Re-import {key}" if key in have else f"Import {key}"
            if st.button(label, key=f"prices_bundled_{key}", help=what, use_container_width=True):
                from llmledger.pricing import sheets

                sheets.import_file(_con(), path, name=key)
                widgets.data_changed()
                widgets.flash(f"Imported the bundled sheet '{key}' ({what}).")
                st.rerun()
            st.caption(fmt.plain_markdown(what))


def _import_upload(up, name: str, when, base: str, discount: float) -> str:
    from llmledger.pricing import sheets

    return sheets.import_sheet_bytes(
        _con(),
        up.getvalue(),
        up.name,
        name.strip() or None,
        effective_from=when,
        base_sheet=base or None,
        discount_pct=discount or None,
    )


def sheets_section() -> None:
    """Every sheet with its versions and effective dates; the active one marked."""
    from llmledger.pricing import sheets

    st.subheader("Sheets and their versions")
    listed = _always(sheets.list_sheets(_con()), "latest_effective_from")
    listed = listed.drop(columns=[c for c in ("base_sheet", "discount_pct") if listed[c].isna().all()])
    st.dataframe(listed, hide_index=True, key="prices_sheets", column_config=SHEET_COLUMNS)
    with cursor() as cur:
        versions = _always(sheet_reads.sheet_versions(cur), "effective_from")
    st.dataframe(versions, hide_index=True, key="prices_versions", column_config=VERSION_COLUMNS)
    st.caption(
        "A call is priced by the version in effect at its start time; Spend, Reprice and Plan can use any "
        "sheet for your browser session only. The active sheet is what `llm_calls.cost_usd`, the CLI, "
        "budgets and alerts use."
    )


def _always(df: pd.DataFrame, col: str) -> pd.DataFrame:
    """Effective dates as text: versions imported without a date say "all history", not 1970-01-01."""
    from llmledger.pricing.model import EPOCH

    df = df.copy()
    when = pd.to_datetime(df[col], utc=True)
    df[col] = ["all history" if pd.isna(d) or d <= pd.Timestamp(EPOCH) else f"{d:%Y-%m-%d}" for d in when]
    return df


def activate_section() -> None:
    """Make a sheet the active one, after a confirmation that says what changes."""
    from llmledger.pricing import sheets

    active = sheet_widgets.active_sheet()
    names = sheet_widgets.sheet_names()
    st.subheader("Active sheet")
    st.markdown(f"The active sheet is **{fmt.plain_markdown(active)}**.")
    left, right = st.columns([2, 3])
    target = left.selectbox(
        "Make this the active sheet", names, index=names.index(active), key="prices_target", persist_state="page"
    )
    if target == active:
        right.caption("Pick another sheet to make it the active one.")
        return
    if right.button(f"Make '{target}' active…", key="prices_activate", icon=":material/published_with_changes:"):
        st.session_state[_CONFIRM] = target
    if st.session_state.get(_CONFIRM) == target:
        st.warning(
            fmt.plain_markdown(
                f"Make '{target}' the active sheet instead of '{active}'? Every consumer reprices at once: "
                "llm_calls.cost_usd, the CLI, budgets and alerts (a budget may cross its limit, or stop "
                "crossing it). Viewers who chose a sheet for their session keep it."
            )
        )
        yes, no = st.columns([1, 5])
        if yes.button("Confirm", type="primary", key="prices_confirm"):
            sheets.set_active_sheet(_con(), target)
            st.session_state.pop(_CONFIRM, None)
            widgets.data_changed()
            widgets.flash(f"'{target}' is now the active sheet.")
            st.rerun()
        if no.button("Cancel", key="prices_cancel"):
            st.session_state.pop(_CONFIRM, None)
            st.rerun()


def lookup_section() -> None:
    """Which entry prices a model name, why, through whom, and what else could have matched."""
    st.subheader("Look a model up")
    c1, c2, c3 = st.columns([3, 2, 2])
    name = c1.text_input(
        "Model name as your telemetry reports it",
        key="prices_lookup",
        persist_state="page",
        placeholder="claude-3-5-sonnet",
    )
    provider = c2.text_input(
        "Provider (optional)", key="prices_lookup_provider", persist_state="page", placeholder="e.g. aws.bedrock"
    )
    names = sheet_widgets.sheet_names()
    sheet = c3.selectbox(
        "In sheet",
        names,
        index=names.index(sheet_widgets.view_sheet()),
        key="prices_lookup_sheet",
        persist_state="page",
    )
    if not name.strip():
        st.caption("Type a model name to see which entry prices it, the kind of match, and the other candidates.")
        return
    got = sheet_reads.lookup(estimate_widgets.sheet_obj(sheet), name.strip(), provider.strip())
    hit, entry = got["match"], got["entry"]
    if hit is None:
        st.error(fmt.plain_markdown(f"'{name}' has no price in '{sheet}': calls with it stay unpriced (never $0)."))
    else:
        route = {"first-party": "the provider's own entry", "cloud": "a big cloud's entry", "reseller": "a reseller"}
        msg = (
            f"'{name}' is priced as '{hit.model_id}' ({hit.kind} match) through {route[hit.route]}"
            f"{' (' + hit.provider + ')' if hit.provider else ''}."
        )
        (st.success if hit.route == "first-party" else st.warning)(fmt.plain_markdown(msg))
        if hit.note:
            st.caption(fmt.plain_markdown(hit.note))
        m1, m2, m3 = st.columns(3)
        m1.metric("Context window (input tokens)", fmt.count(entry.context_window) if entry.context_window else "—")
        m2.metric("Max output tokens", fmt.count(entry.max_output_tokens) if entry.max_output_tokens else "—")
        m3.metric("Mode", entry.mode or "—")
        prices = got["prices"].dropna(axis=1, how="all")  # no column of blanks for fields this sheet lacks
        st.dataframe(prices, hide_index=True, key="prices_lookup_prices", column_config=PRICE_COLUMNS)
        st.caption("Prices in USD per 1M tokens (request_usd: per request).")
    if len(got["candidates"]):
        st.markdown("**Every entry that could price it** (chosen first; then the provider's own, clouds, resellers)")
        st.dataframe(
            got["candidates"],
            hide_index=True,
            key="prices_lookup_candidates",
            column_config=CANDIDATE_COLUMNS,
            column_order=list(CANDIDATE_COLUMNS),
        )


@st.cache_data(show_spinner=False, ttl=60)
def _call_matches(db: str, sheet: str) -> pd.DataFrame:
    with cursor() as cur:
        return sheet_reads.call_matches(cur, sheet)


def call_matches(sheet: str) -> pd.DataFrame:
    """How the models in your calls are priced under `sheet` (cached briefly)."""
    from llmledger import config

    return _call_matches(str(config.db_path()), sheet)


def calls_section(sheet: str) -> None:
    st.subheader("How the models in your calls are priced")
    m = call_matches(sheet)
    if m.empty:
        st.caption("No calls yet.")
        return
    st.dataframe(m, hide_index=True, key="prices_call_matches", column_config=MATCH_COLUMNS)


def route_note(sheet: str, key: str) -> None:
    """For data-quality sections: which models in calls are priced through a cloud or a reseller
    rather than the provider's own entry (nothing when all are first-party)."""
    m = sheet_reads.not_first_party(call_matches(sheet))
    if m.empty:
        return
    resold = int((m["route"] == "reseller").sum())
    st.caption(
        fmt.plain_markdown(
            f"{len(m)} model(s) in these calls are priced under '{sheet}' through a cloud's or a reseller's "
            f"entry ({resold} through a reseller) because the sheet has no entry of the provider's own. "
            "Look one up on the Prices page."
        )
    )
    st.dataframe(m, hide_index=True, key=key, column_config=MATCH_COLUMNS)
