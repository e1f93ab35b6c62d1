"""Shared Streamlit widgets for the Estimate, Spend and Reprice pages: the price-sheet picker,
cached spend queries, money metrics and table column settings. Streamlit glue only."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from llmledger import config
from llmledger.store import spend_queries
from llmledger.ui import common
from llmledger.ui import format as fmt
from llmledger.ui import widgets
from llmledger.ui.sheet_widgets import active_sheet, sheet_names, view_sheet  # noqa: F401 (pages use them)

#: Spend queries the pages may run through st.cache_data.
CACHED = frozenset({"spend_totals", "spend_series", "spend_breakdown", "month_to_date", "default_as_of",
                    "top_calls", "reported_vs_computed", "unpriced_calls", "export_count",
                    "swap_mapping_counts", "top_traces"})


#: Spend queries whose result does not depend on prices (called without a sheet).
SHEETLESS = frozenset({"swap_mapping_counts"})


@st.cache_data(show_spinner=False, max_entries=256)
def _cached(db: str, sheet: str, name: str, args: tuple) -> Any:
    cur = common.connection()
    try:
        fn = getattr(spend_queries, name)
        return fn(cur, *args) if name in SHEETLESS else fn(cur, *args, sheet=sheet)
    finally:
        cur.close()


def spend(name: str, *args: Any) -> Any:
    """`spend_queries.<name>(cursor, *args, sheet=this session's sheet)`, cached per database,
    sheet and arguments (cost depends on the sheet, so a switch never serves a stale total)."""
    if name not in CACHED:
        raise ValueError(f"{name} is not a cached spend query")
    return _cached(str(config.db_path()), view_sheet(), name, args)


def ensure_priced() -> None:
    """Bring this session's sheet's Spend memo up to date, with a spinner when that means pricing
    many calls (a sheet's first use: seconds per million calls; otherwise a few milliseconds)."""
    from llmledger.store import spend_cache

    sheet = view_sheet()
    with st.spinner(f"Pricing calls under {sheet}…", show_time=True):
        spend_cache.refresh(common.resources()["con"], sheet)


@st.cache_data(show_spinner=False, max_entries=8, ttl=600)
def _export(db: str, sheet: str, kind: str, f) -> bytes:
    cur = common.connection()
    try:
        export = spend_queries.export_csv if kind == "csv" else spend_queries.export_parquet
        return export(cur, f, sheet=sheet)
    finally:
        cur.close()


def export_bytes(kind: str, f) -> bytes:
    return _export(str(config.db_path()), view_sheet(), kind, f)


# ------------------------------------------------------------------ money display

def spend_kpis(t: dict[str, Any], run: spend_queries.RunRate) -> None:
    """Headline money numbers; unpriced calls are counted, never summed as $0."""
    c = st.columns(5)
    priced = (f"{fmt.count(t['priced_calls'])} of {fmt.count(t['calls'])} calls have a cost "
              f"({fmt.count(t['reported_only_calls'])} of them a reported one)")
    c[0].metric("Spend in period", fmt.usd(t["cost_usd"]) if t["priced_calls"] else "unpriced",
                help=f"Actual cost: {priced}; {fmt.count(t['unpriced_calls'])} unpriced calls are "
                     "left out (listed under Unknown prices), never counted as $0.")
    c[1].metric(f"Month to date ({run.month_start:%b %Y})", fmt.usd(run.mtd_cost_usd),
                help=f"{fmt.count(run.mtd_calls)} calls this month, {fmt.count(run.mtd_unpriced_calls)} unpriced.")
    c[2].metric("Run-rate projection" if not run.complete else "Month total",
                fmt.usd(run.projected_cost_usd) if run.projected_cost_usd is not None else fmt.DASH,
                help=run.method)
    c[3].metric("Cost per successful call", fmt.usd(t["cost_per_ok_call"]),
                help="Cost of successful priced calls ÷ their number. Failed calls' cost stays in the total.")
    c[4].metric("Unpriced calls", fmt.count(t["unpriced_calls"]),
                help="Calls with no known cost: the sheet cannot price them (no price for their model, "
                     "or no token usage) and they reported no cost.")


def signed_usd(x: Any) -> str:
    """+$1.23 / −$1.23 for deltas."""
    text = fmt.usd(abs(x)) if x is not None else fmt.DASH
    return text if x is None or text == fmt.DASH else ("+" if x > 0 else "−" if x < 0 else "") + text


def money(title: str, **kw) -> Any:
    return st.column_config.NumberColumn(title, format="dollar", **kw)


def _n(title: str, fmt_: str = "localized", **kw) -> Any:
    return st.column_config.NumberColumn(title, format=fmt_, **kw)


def breakdown_columns(group_label: str) -> dict:
    return {
        "grp": st.column_config.TextColumn(group_label),
        "cost_usd": money("Cost", help="Actual cost: computed, else reported; unpriced calls left out"),
        "share": st.column_config.ProgressColumn("Share of spend", format="percent", min_value=0, max_value=1),
        "calls": _n("Calls"),
        "ok_calls": _n("Successful"),
        "priced_calls": _n("With a cost"),
        "reported_only_calls": _n("At reported cost", help="Calls the sheet cannot price, at their reported cost"),
        "unpriced_calls": _n("Unpriced", help="No known cost: left out, never $0"),
        "cost_per_ok_call": st.column_config.NumberColumn("Cost / successful call", format="$%.6f"),
        "tokens": _n("Tokens", "compact"),
    }


CALL_COLUMNS = {
    "start_time": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "trace_id": st.column_config.TextColumn("Trace", width="small"),
    "span_id": st.column_config.TextColumn("Span", width="small"),
    "cost_usd": st.column_config.NumberColumn("Cost", format="$%.6f"),
    "cost_basis": st.column_config.TextColumn("Basis", help="computed from the sheet, or reported"),
    "reported_cost_usd": st.column_config.NumberColumn("Reported cost", format="$%.6f"),
    "input_tokens": _n("Input tokens"),
    "output_tokens": _n("Output tokens"),
    "usage_source": st.column_config.TextColumn("Usage", help="reported | estimated (counted from text) | missing"),
}

TRACE_COLUMNS = dict(widgets.TRACE_COLUMNS, unpriced_calls=_n("Unpriced", help="Calls left out of the cost"))

REPORTED_COLUMNS = {
    "model": st.column_config.TextColumn("Model"),
    "calls": _n("Calls compared"),
    "reported_usd": st.column_config.NumberColumn("Reported", format="$%.6f"),
    "computed_usd": st.column_config.NumberColumn("Computed (sheet)", format="$%.6f"),
    "difference_usd": st.column_config.NumberColumn("Difference", format="$%+.6f",
                                                    help="computed − reported"),
    "difference_pct": st.column_config.NumberColumn("Difference %", format="percent"),
}

UNPRICED_COLUMNS = {
    "request_model": st.column_config.TextColumn("Requested model"),
    "response_model": st.column_config.TextColumn("Response model"),
    "provider": st.column_config.TextColumn("Provider"),
    "reason": st.column_config.TextColumn("Why unpriced"),
    "calls": _n("Calls"),
    "input_tokens": _n("Input tokens"),
    "output_tokens": _n("Output tokens"),
    "first_seen": st.column_config.DatetimeColumn("First seen", format="YYYY-MM-DD"),
    "last_seen": st.column_config.DatetimeColumn("Last seen", format="YYYY-MM-DD"),
}


# ------------------------------------------------------------------ Estimate page

#: The largest monthly volume the calculator accepts: past a trillion requests a month the input
#: is a typo, not a plan.
MAX_REQUESTS = 1e12
MAX_TOKENS = 1e9  # per request; no model reads or writes more


def check_plan(requests: float, input_tokens: float, output_tokens: float, growth_pct: float,
               months: int) -> None:
    """Reject absurd calculator inputs with one clear sentence (shown by show_errors)."""
    from llmledger.errors import PricingError

    if requests is None or requests < 0:
        raise PricingError("Requests per month cannot be negative.", "Check the inputs")
    if requests > MAX_REQUESTS:
        raise PricingError(f"{requests:,.0f} requests a month is more than a trillion: check the number.",
                           "Check the inputs")
    for what, v in (("Input tokens per request", input_tokens), ("Output tokens per request", output_tokens)):
        if v is None or v < 0:
            raise PricingError(f"{what} cannot be negative.", "Check the inputs")
        if v > MAX_TOKENS:
            raise PricingError(f"{what} above {MAX_TOKENS:,.0f} is beyond any model's context.", "Check the inputs")
    if growth_pct is None or growth_pct <= -100 or growth_pct > 1000:
        raise PricingError("Monthly growth must be above −100% and at most 1000%.", "Check the inputs")
    if not 1 <= int(months) <= 120:
        raise PricingError("Project between 1 and 120 months.", "Check the inputs")


@st.cache_resource(show_spinner=False, max_entries=8)
def _sheet_obj(db: str, sheet: str, versions_marker: str):
    """A stored sheet read into memory once per process (read-only data, not a figure)."""
    from llmledger.pricing import sheets

    return sheets.load_sheet(common.resources()["con"], sheet)


def sheet_obj(sheet: str):
    marker = common.connection().execute(
        "SELECT count(*)::VARCHAR || '/' || coalesce(max(imported_at)::VARCHAR, '') FROM price_versions WHERE sheet = ?",
        [sheet]).fetchone()[0]
    return _sheet_obj(str(config.db_path()), sheet, marker)


@st.cache_data(show_spinner=False, max_entries=64)
def model_options(db: str, sheet: str) -> list[str]:
    from llmledger.pricing import sheets

    return [str(m) for m in sheets.model_catalog(common.resources()["con"], sheet)["model_id"]]


def bill(model: str, sheet: str, input_tokens: float, output_tokens: float, requests: float,
         cached_share: float = 0.0, batch_share: float = 0.0, growth_pct: float = 0.0, months: int = 1):
    from llmledger.pricing.estimate import monthly_bill

    return monthly_bill(model, input_tokens, output_tokens, requests, sheet=sheet_obj(sheet),
                        cached_input_share=cached_share, batch_share=batch_share, growth_pct=growth_pct,
                        months=int(months))


def bill_frame(b) -> pd.DataFrame:
    """One row per month of a MonthlyBill, money as float for charts and tables."""
    rows = [{"month": f"Month {m.month}", "requests": float(m.requests), "input_usd": float(m.input_usd),
             "cached_input_usd": float(m.cache_usd), "output_usd": float(m.output_usd),
             "request_usd": float(m.request_fee_usd), "cost_usd": float(m.total_usd)} for m in b.months]
    df = pd.DataFrame(rows)
    if not df.empty:
        df["cumulative_usd"] = df["cost_usd"].cumsum()
        df = df.drop(columns=[c for c in ("request_usd",) if not df[c].any()])
    return df


def cost_table(rows: list[tuple[str, float, int, str, bool]], output_per_request: float,
               sheets_: list[str]) -> pd.DataFrame:
    """Cost of the counted input under each model × sheet.

    `rows` = (model, input tokens in total, requests, tokenizer, tokenizer is the model's own).
    Output tokens are the user's assumption per request. A model a sheet cannot price gets
    cost_usd None and the reason, never $0."""
    from llmledger.errors import LedgerError

    out = []
    for model, n_in, requests, tokenizer, own in rows:
        for sheet in sheets_:
            rec = {"model": model, "sheet": sheet, "input_tokens": int(n_in), "requests": int(requests),
                   "output_tokens": int(round(output_per_request * requests)), "tokenizer": tokenizer,
                   "estimate": "counted with the model's tokenizer" if own else
                               f"approximate: {tokenizer} stands in for {model}'s tokenizer",
                   "priced_as": None, "cost_usd": None, "per_request_usd": None, "note": ""}
            try:
                b = bill(model, sheet, n_in / max(requests, 1), output_per_request, requests)
            except LedgerError as exc:
                rec["note"] = f"no price: {exc.msg}"
            else:
                rec["priced_as"] = b.priced_model
                rec["cost_usd"] = float(b.total_usd)
                rec["per_request_usd"] = float(b.total_usd) / max(requests, 1)
                rec["note"] = "; ".join(b.notes)
            out.append(rec)
    return pd.DataFrame(out, columns=["model", "sheet", "cost_usd", "per_request_usd", "input_tokens",
                                      "output_tokens", "requests", "tokenizer", "estimate", "priced_as", "note"])


@st.cache_data(show_spinner=False, max_entries=64)
def count_tokenizers(text: str, names: tuple[str, ...]) -> pd.DataFrame:
    """Tokens of `text` under each named tokenizer."""
    from llmledger import tokens

    info = {i.name: i for i in tokens.list_tokenizers()}
    rows = []
    for n in names:
        tok = tokens.get(n)
        rows.append({"tokenizer": tok.name, "tokens": tok.count(text), "kind": info[tok.name].kind,
                     "exact for": info[tok.name].exact_for})
    return pd.DataFrame(rows, columns=["tokenizer", "tokens", "kind", "exact for"])


@st.cache_data(show_spinner=False, max_entries=64)
def count_for_models(text: str, models: tuple[str, ...], messages: bool = False) -> pd.DataFrame:
    """Per model: the tokenizer that counted, whether it is the model's own, and the count.

    With `messages`, `text` is a chat messages JSON and counts include the chat framing."""
    from llmledger import tokens

    parsed = parse_messages(text) if messages else None
    rows = []
    for m in models:
        tc = tokens.count_messages(parsed, m) if messages else tokens.count_text(text, model=m)
        rows.append({"model": m, "tokens": tc.tokens, "tokenizer": tc.tokenizer,
                     "tokenizer_is": OWN if tc.exact else APPROX, "note": tc.note})
    return pd.DataFrame(rows, columns=MODEL_COUNT_COLUMNS)


OWN, APPROX = "the model's own", "an approximation"
MODEL_COUNT_COLUMNS = ["model", "tokens", "tokenizer", "tokenizer_is", "note"]


def corpus_tokenizer_frame(totals: dict[str, int], names: list[str]) -> pd.DataFrame:
    from llmledger import tokens

    info = {i.name: i for i in tokens.list_tokenizers()}
    return pd.DataFrame([{"tokenizer": n, "tokens": totals[n], "kind": info[n].kind, "exact for": info[n].exact_for}
                         for n in names if n in totals], columns=["tokenizer", "tokens", "kind", "exact for"])


def corpus_model_frame(totals: dict[str, int], choices: dict) -> pd.DataFrame:
    """Per model: the corpus total under the model's tokenizer (`choices`: model -> TokenizerChoice)."""
    return pd.DataFrame([{"model": m, "tokens": totals[c.name], "tokenizer": c.name,
                          "tokenizer_is": OWN if c.exact else APPROX, "note": c.note}
                         for m, c in choices.items()], columns=MODEL_COUNT_COLUMNS)


def parse_messages(text: str) -> list:
    """A chat messages JSON (a list, or an object with "messages") or a TokenizerError."""
    import json

    from llmledger.errors import TokenizerError

    if not text.strip():
        raise TokenizerError("Paste a messages JSON first.", "Nothing to count")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TokenizerError(f"The messages JSON is broken at line {exc.lineno}, column {exc.colno}: {exc.msg}.",
                             "Broken JSON") from None
    if isinstance(doc, dict) and "messages" in doc:
        doc = doc["messages"]
    if not isinstance(doc, list) or not doc:
        raise TokenizerError('Expected a non-empty list of messages like [{"role": "user", "content": "…"}].',
                             "Not a messages list")
    return doc


def messages_text(messages: list) -> str:
    """The text contents of messages joined, for per-tokenizer counts (no chat framing)."""
    parts = []
    for m in messages:
        c = m.get("content") if isinstance(m, dict) else m
        if isinstance(c, list):
            c = "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in c)
        if c:
            parts.append(str(c))
    return "\n".join(parts)


def count_corpus(docs: list[str], names: list[str], progress_text: str = "Counting") -> dict[str, int]:
    """Total tokens of `docs` under each tokenizer, with a progress bar per tokenizer."""
    from llmledger import tokens

    totals = {}
    bar = st.progress(0.0, text=progress_text)
    for i, name in enumerate(names):
        def progress(done: int, total: int, i=i, name=name) -> None:
            frac = (i + (done / total if total else 1)) / len(names)
            bar.progress(min(1.0, frac), text=f"{progress_text}: {name} {done:,} / {total:,} documents")

        totals[name] = int(sum(tokens.count_many(docs, name, progress=progress)))
    bar.empty()
    return totals


@st.cache_data(show_spinner=False, max_entries=16)
def token_tax_table(names: tuple[str, ...]) -> pd.DataFrame:
    from llmledger import tokens

    df = tokens.token_tax(tokens.load_samples(), list(names))
    df["extra_vs_english"] = df["ratio_vs_english"] - 1
    return df


# ------------------------------------------------------------------ Reprice page

@st.cache_data(show_spinner="Repricing…", max_entries=32)
def _reprice(db: str, baseline: str, sheet: str, swap: tuple, discount: float, period: tuple, group: str):
    from llmledger.pricing.reprice import reprice

    return reprice(common.connection(), sheet=sheet, model_swap=dict(swap) or None, discount_pct=discount or None,
                   period=period, group_by=(group,), baseline_sheet=baseline)


def reprice(sheet: str, swap: tuple, discount: float, period: tuple, group: str) -> pd.DataFrame:
    """pricing.reprice with this session's sheet as the actual (baseline), cached per database,
    baseline and scenario."""
    return _reprice(str(config.db_path()), view_sheet(), sheet, swap, discount, period, group)


def reprice_frame(df: pd.DataFrame, group: str) -> pd.DataFrame:
    """pricing.reprice's summary as plain floats with `grp` labels, most expensive first."""
    out = pd.DataFrame({
        "grp": [fmt.label(v) for v in df[group]],
        "calls": df["calls"].astype("int64"),
        "actual_usd": pd.to_numeric(df["baseline_usd"], errors="coerce").astype(float),
        "repriced_usd": pd.to_numeric(df["scenario_usd"], errors="coerce").astype(float),
        "delta_usd": pd.to_numeric(df["delta_usd"], errors="coerce").astype(float),
        "unpriced_actual": df["unpriced_baseline"].astype("int64"),
        "reported_only_actual": df["reported_only_baseline"].astype("int64"),
        "unpriced_repriced": df["unpriced_scenario"].astype("int64"),
        "swapped_to": df["swapped_to"], "token_mapping": df["token_mapping"],
    })
    out["delta_pct"] = out["delta_usd"] / out["actual_usd"].where(out["actual_usd"] != 0)
    return out.sort_values("actual_usd", ascending=False, na_position="last").reset_index(drop=True)


REPRICE_COLUMNS = {
    "grp": st.column_config.TextColumn("Group"),
    "calls": _n("Calls"),
    "actual_usd": st.column_config.NumberColumn("Actual", format="$%.4f"),
    "repriced_usd": st.column_config.NumberColumn("Repriced", format="$%.4f"),
    "delta_usd": st.column_config.NumberColumn("Delta", format="$%+.4f"),
    "delta_pct": st.column_config.NumberColumn("Delta %", format="percent"),
    "unpriced_actual": _n("Unpriced (actual)", help="Calls with no known cost under your sheet"),
    "reported_only_actual": _n("At reported cost (actual)", help="Calls your sheet cannot price, at their reported cost"),
    "unpriced_repriced": _n("Unpriced (repriced)", help="Calls the scenario cannot price"),
    "swapped_to": st.column_config.TextColumn("Swapped to"),
    "token_mapping": st.column_config.TextColumn("Token mapping"),
}


BILL_COLUMNS = {
    "month": st.column_config.TextColumn("Month"),
    "requests": _n("Requests", "%.0f"),
    "input_usd": money("Uncached input"),
    "cached_input_usd": money("Cached input"),
    "output_usd": money("Output"),
    "request_usd": money("Request fees"),
    "cost_usd": money("Month total"),
    "cumulative_usd": money("Cumulative"),
}
