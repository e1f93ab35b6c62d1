"""The Estimate page's Streamlit glue: loaded sheets and bills, token counts per tokenizer and per
model (cached), a corpus count with a progress bar, the token-tax table, column settings."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from llmledger import config, tokens
from llmledger.pricing import estimate, sheets
from llmledger.reads.sheets import versions_marker
from llmledger.ui import common, widgets
from llmledger.ui.call_reads import cursor

OWN, APPROX = "the model's own", "an approximation"
MODEL_COUNT_COLUMNS = ["model", "tokens", "tokenizer", "tokenizer_is", "note"]
TOKENIZER_COLUMNS = ["tokenizer", "tokens", "kind", "exact for"]


@st.cache_resource(show_spinner=False, max_entries=8)
def _sheet_obj(db: str, sheet: str, versions: str):
    """A stored sheet read into memory once per process (read-only data, not a figure)."""
    return sheets.load_sheet(common.resources()["con"], sheet)


def sheet_obj(sheet: str):
    """The stored sheet, re-read when one of its versions is imported."""
    with cursor() as cur:
        marker = versions_marker(cur, sheet)
    return _sheet_obj(str(config.db_path()), sheet, marker)


def bill(
    model: str,
    sheet: str,
    input_tokens: float,
    output_tokens: float,
    requests: float,
    cached_share: float = 0.0,
    batch_share: float = 0.0,
    growth_pct: float = 0.0,
    months: int = 1,
) -> estimate.MonthlyBill:
    return estimate.monthly_bill(
        model,
        input_tokens,
        output_tokens,
        requests,
        sheet=sheet_obj(sheet),
        cached_input_share=cached_share,
        batch_share=batch_share,
        growth_pct=growth_pct,
        months=int(months),
    )


def cost_table(
    rows: list[tuple[str, float, int, str, bool]], output_per_request: float, sheet_names: list[str]
) -> pd.DataFrame:
    """pricing.estimate.cost_table over the sheets loaded once per process."""
    return estimate.cost_table(rows, output_per_request, sheet_names, sheet_obj)


@st.cache_data(show_spinner=False, max_entries=64)
def count_tokenizers(text: str, names: tuple[str, ...]) -> pd.DataFrame:
    """Tokens of `text` under each named tokenizer."""
    info = {i.name: i for i in tokens.list_tokenizers()}
    rows = []
    for n in names:
        tok = tokens.get(n)
        rows.append(
            {
                "tokenizer": tok.name,
                "tokens": tok.count(text),
                "kind": info[tok.name].kind,
                "exact for": info[tok.name].exact_for,
            }
        )
    return pd.DataFrame(rows, columns=TOKENIZER_COLUMNS)


@st.cache_data(show_spinner=False, max_entries=64)
def count_for_models(text: str, models: tuple[str, ...], messages: bool = False) -> pd.DataFrame:
    """Per model: the tokenizer that counted, whether it is the model's own, and the count.

    With `messages`, `text` is a chat messages JSON and counts include the chat framing."""
    parsed = tokens.parse_messages(text) if messages else None
    rows = []
    for m in models:
        tc = tokens.count_messages(parsed, m) if messages else tokens.count_text(text, model=m)
        rows.append(
            {
                "model": m,
                "tokens": tc.tokens,
                "tokenizer": tc.tokenizer,
                "tokenizer_is": OWN if tc.exact else APPROX,
                "note": tc.note,
            }
        )
    return pd.DataFrame(rows, columns=MODEL_COUNT_COLUMNS)


def corpus_tokenizer_frame(totals: dict[str, int], names: list[str]) -> pd.DataFrame:
    info = {i.name: i for i in tokens.list_tokenizers()}
    return pd.DataFrame(
        [
            {"tokenizer": n, "tokens": totals[n], "kind": info[n].kind, "exact for": info[n].exact_for}
            for n in names
            if n in totals
        ],
        columns=TOKENIZER_COLUMNS,
    )


def corpus_model_frame(totals: dict[str, int], choices: dict) -> pd.DataFrame:
    """Per model: the corpus total under the model's tokenizer (`choices`: model -> TokenizerChoice)."""
    return pd.DataFrame(
        [
            {
                "model": m,
                "tokens": totals[c.name],
                "tokenizer": c.name,
                "tokenizer_is": OWN if c.exact else APPROX,
                "note": c.note,
            }
            for m, c in choices.items()
        ],
        columns=MODEL_COUNT_COLUMNS,
    )


def count_corpus(docs: list[str], names: list[str], progress_text: str = "Counting") -> dict[str, int]:
    """Total tokens of `docs` under each tokenizer, with a progress bar per tokenizer."""
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
    df = tokens.token_tax(tokens.load_samples(), list(names))
    df["extra_vs_english"] = df["ratio_vs_english"] - 1
    return df


_n, _money = widgets.number_column, widgets.money_column

BILL_COLUMNS = {
    "month": st.column_config.TextColumn("Month"),
    "requests": _n("Requests"),  # localized: 100,000
    "input_usd": _money("Uncached input"),
    "cached_input_usd": _money("Cached input"),
    "output_usd": _money("Output"),
    "request_usd": _money("Request fees"),
    "cost_usd": _money("Month total"),
    "cumulative_usd": _money("Cumulative"),
}
