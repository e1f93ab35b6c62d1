"""AppTest for the Estimate, Spend and Reprice pages, on an empty ledger and on one with real
ingested data (OTLP files, calls with reported costs, the demo generator)."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
import streamlit as st
from apptest_helpers import frame, metrics, page, run
from helpers import ROOT
from ledgers import build_ledger


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    path = tmp_path_factory.mktemp("money_pages") / "seed.duckdb"
    build_ledger(path)
    return path


@pytest.fixture
def with_data(seeded, db_path):
    shutil.copy(seeded, db_path)
    return db_path


def text_of(at) -> str:
    parts = [
        e.value for kind in ("markdown", "caption", "info", "warning", "error", "success") for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


# ------------------------------------------------------------------ empty ledger


@pytest.mark.parametrize("name", ["spend", "reprice"])
def test_ledger_pages_on_an_empty_ledger_invite_data(name):
    at = run(name)
    assert "No LLM calls yet" in text_of(at)
    assert at.button(key=f"{name}_demo_generate")


def test_estimate_works_without_any_calls():
    at = run("estimate")
    assert not at.error
    assert "Total over 12 months" in metrics(at)


# ------------------------------------------------------------------ Spend


def test_spend_with_data_shows_money_run_rate_and_unknown_prices(with_data):
    at = run("spend")
    m = metrics(at)
    assert m["Spend in period"].startswith("$")
    assert any(k.startswith("Month to date") for k in m)
    assert "Run rate = month-to-date spend" in text_of(at)
    assert "DEMO DATA" in text_of(at)
    assert "Actual cost = the cost computed from the price sheet" in text_of(at)
    assert len(at.get("plotly_chart")) == 2  # the open tab's two; the closed tabs run nothing
    assert not at.get("download_button")
    # Lazy tabs: each tab runs (and queries) only when open.
    at.session_state["spend_tab"] = "Unknown prices"
    at.run()
    assert not at.exception
    unpriced = set(frame(at, "request_model", "first_seen")["request_model"])
    assert "demo-acme-llama-3.1-8b-ft" in unpriced
    assert "acme-private-model-x" not in unpriced  # no price, but it reported its cost: that is its actual cost
    assert "left out of every total" in text_of(at)
    assert not at.get("plotly_chart")
    at.session_state["spend_tab"] = "Reported vs computed"
    at.run()
    rep = frame(at, "reported_usd", "computed_usd")
    assert "gpt-4o-mini" in set(rep["model"])
    assert len(at.get("plotly_chart")) == 1
    at.session_state["spend_tab"] = "Export"
    at.run()
    assert at.get("download_button")  # CSV and Parquet exports are offered


def test_spend_interactions_group_top_n_period_and_sheet(with_data):
    at = run("spend")
    total = metrics(at)["Spend in period"]
    at.segmented_control(key="spend_group_by").set_value("model").run()
    assert not at.exception
    at.number_input(key="spend_top_n").set_value(2).run()
    grps = list(frame(at, "grp", "cost_per_ok_call")["grp"])
    assert len(grps) == 3 and grps[-1] == "(other)"
    at.radio(key="spend_chart_kind").set_value("bar").run()
    assert not at.exception
    # A shorter period spends less.
    last = at.date_input(key="spend_dates").value[1]
    at.date_input(key="spend_dates").set_value((last - timedelta(days=3), last)).run()
    assert at.date_input(key="spend_dates").value[0] == last - timedelta(days=3)
    assert not at.exception
    short = metrics(at)["Spend in period"]
    assert _usd(short) < _usd(total)
    # Another sheet reprices the same history, for this session only.
    from llmledger.pricing import sheets
    from llmledger.store.db import connect

    con = connect(with_data)
    sheets.import_file(con, ROOT / "data/pricing/langfuse/default-model-prices.json", name="langfuse")
    con.close()
    st.cache_data.clear()  # what an import through the UI does (widgets.data_changed)
    at = run("spend")
    assert "langfuse" in at.selectbox(key="spend_sheet").options
    at.selectbox(key="spend_sheet").set_value("langfuse").run()
    assert not at.exception
    assert "Sheet `langfuse`" in text_of(at)
    assert metrics(at)["Spend in period"] != total
    assert "stays `litellm`" in text_of(at)


def _usd(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


# ------------------------------------------------------------------ Estimate


def test_estimate_prompt_counts_per_tokenizer_and_prices_per_model_and_sheet(with_data):
    at = run("estimate")
    at.multiselect(key="est_models").set_value(["gpt-4o-mini", "claude-haiku-4-5", "acme-private-model-x"]).run()
    at.text_area(key="est_text").set_value("How much will this prompt cost across models? " * 20).run()
    assert not at.exception and not at.error
    toks = frame(at, "tokenizer", "exact for")
    assert {"o200k_base", "cl100k_base"} <= set(toks["tokenizer"]) and (toks["tokens"] > 100).all()
    per_model = frame(at, "model", "tokenizer_is").set_index("model")
    assert per_model.loc["gpt-4o-mini", "tokenizer_is"] == "the model's own"
    assert per_model.loc["claude-haiku-4-5", "tokenizer_is"] == "an approximation"
    costs = frame(at, "model", "sheet", "cost_usd").set_index("model")
    assert costs.loc["gpt-4o-mini", "cost_usd"] > 0
    assert costs.loc["acme-private-model-x", "cost_usd"] != costs.loc["acme-private-model-x", "cost_usd"]  # NaN
    assert "no price" in costs.loc["acme-private-model-x", "note"]
    assert "approximate" in costs.loc["claude-haiku-4-5", "estimate"]


def test_estimate_messages_json_and_broken_json():
    at = run("estimate")
    at.radio(key="est_mode").set_value("Messages JSON").run()
    at.text_area(key="est_messages").set_value(
        '[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Price this."}]'
    ).run()
    assert not at.exception and not at.error
    per_model = frame(at, "model", "tokenizer_is")
    content_only = frame(at, "tokenizer", "exact for").set_index("tokenizer").loc["o200k_base", "tokens"]
    assert (per_model["tokens"] > content_only).all()  # chat framing is counted
    at.text_area(key="est_messages").set_value('[{"role": "user", "content": "oops"').run()
    assert not at.exception
    assert any("broken" in e.value for e in at.error)


def test_estimate_corpus_upload_counts_with_progress(with_data):
    at = run("estimate")
    at.radio(key="est_mode").set_value("Corpus file").run()
    body = "\n".join(f'{{"text": "document number {i} about invoices and budgets"}}' for i in range(40)).encode()
    at.file_uploader(key="est_corpus").upload("corpus.jsonl", body, "application/jsonl").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "**40 documents**" in text_of(at)
    costs = frame(at, "model", "sheet", "cost_usd")
    assert (costs["requests"] == 40).all()
    from llmledger import tokens

    docs = tokens.read_corpus("corpus.jsonl", body)
    expected = sum(tokens.count_many(docs, "o200k_base"))
    toks = frame(at, "tokenizer", "exact for").set_index("tokenizer")
    assert toks.loc["o200k_base", "tokens"] == expected


def test_estimate_empty_corpus_gives_a_clear_message():
    at = run("estimate")
    at.radio(key="est_mode").set_value("Corpus file").run()
    at.file_uploader(key="est_corpus").upload("empty.txt", b"   \n\n  ", "text/plain").run()
    assert not at.exception
    assert any("empty" in e.value for e in at.error)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("bill_requests", -5.0, "cannot be negative"),
        ("bill_requests", 2e12, "more than a trillion"),
        ("bill_input", -1.0, "cannot be negative"),
        ("bill_months", 0, "between 1 and 120"),
    ],
)
def test_monthly_bill_rejects_absurd_inputs(field, value, message):
    at = run("estimate")
    at.number_input(key=field).set_value(value).run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_monthly_bill_grows_and_discounts(with_data):
    at = run("estimate")
    flat = _usd(metrics(at)["Total over 12 months"])
    at.number_input(key="bill_growth").set_value(10.0).run()
    grown = metrics(at)
    assert _usd(grown["Last month"]) == pytest.approx(_usd(grown["First month"]) * 1.1**11, rel=1e-3)
    assert _usd(grown["Total over 12 months"]) > flat
    at.slider(key="bill_cached").set_value(80).run()
    assert _usd(metrics(at)["Total over 12 months"]) < _usd(grown["Total over 12 months"])
    table = frame(at, "month", "cumulative_usd")
    assert len(table) == 12 and table["cached_input_usd"].gt(0).all()


def test_token_tax_table():
    at = run("estimate")
    tax = frame(at, "language", "ratio_vs_english")
    assert set(tax["tokenizer"]) >= {"o200k_base", "cl100k_base"}
    english = tax[tax["language"] == "English"]
    assert (english["ratio_vs_english"] == 1).all()
    assert tax[tax["language"] == "Hindi"]["ratio_vs_english"].min() > 1


# ------------------------------------------------------------------ Reprice


def test_reprice_sheet_swap_discount_and_period(with_data):
    at = page("reprice")
    at.query_params["preset"] = "all"
    at.run()
    m = metrics(at)
    assert m["Actual (litellm)"] == m["Repriced"]  # same sheet, no change
    at.number_input(key="reprice_discount").set_value(50.0).run()
    m = metrics(at)
    assert _usd(m["Repriced"]) == pytest.approx(_usd(m["Actual (litellm)"]) / 2, rel=0.01)
    at.number_input(key="reprice_discount").set_value(0.0).run()
    at.radio(key="reprice_swap_kind").set_value("a feature").run()
    at.selectbox(key="reprice_swap_key").set_value("support_triage").run()
    at.selectbox(key="reprice_swap_target").set_value("gpt-4o").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    info = " ".join(i.value for i in at.info)
    assert "**1** re-counted with gpt-4o's tokenizer" in info and "**0** token-for-token" in info
    table = frame(at, "grp", "repriced_usd").set_index("grp")
    row = table.loc["support_triage"]
    assert row["swapped_to"] == "gpt-4o" and row["token_mapping"] == "tokenizer"
    assert row["repriced_usd"] > row["actual_usd"] > 0  # gpt-4o costs more than gpt-4o-mini
    assert row["delta_usd"] == pytest.approx(row["repriced_usd"] - row["actual_usd"])
    at.segmented_control(key="reprice_group").set_value("request_model").run()
    assert not at.exception
    before = metrics(at)["Actual (litellm)"]
    last = at.date_input(key="reprice_dates").value[1]
    at.date_input(key="reprice_dates").set_value((last - timedelta(days=1), last)).run()
    assert not at.exception and not at.error
    assert _usd(metrics(at)["Actual (litellm)"]) < _usd(before)


def test_estimate_prices_side_by_side_under_two_sheets(with_data):
    from llmledger.pricing import sheets
    from llmledger.store.db import connect

    con = connect(with_data)
    sheets.import_file(con, ROOT / "data/pricing/langfuse/default-model-prices.json", name="langfuse")
    con.close()
    st.cache_data.clear()
    at = run("estimate")
    at.multiselect(key="est_sheets").set_value(["litellm", "langfuse"]).run()
    at.multiselect(key="est_models").set_value(["gpt-4o-mini", "gpt-4o"]).run()
    at.text_area(key="est_text").set_value("Compare two price sheets for this prompt.").run()
    assert not at.exception and not at.error
    costs = frame(at, "model", "sheet", "cost_usd")
    assert set(zip(costs["model"], costs["sheet"])) == {
        (m, s) for m in ("gpt-4o-mini", "gpt-4o") for s in ("litellm", "langfuse")
    }
    assert costs["cost_usd"].notna().all()


def test_money_charts_never_draw_a_missing_price_as_zero():
    import pandas as pd

    from llmledger.ui import money_charts

    table = pd.DataFrame({"model": ["a", "b"], "sheet": ["s", "s"], "cost_usd": [0.5, None]})
    fig = money_charts.cost_per_model(table)
    assert list(fig.data[0].x) == ["a"]  # b has no bar at all
    assert "no price: b (s)" in fig.layout.title.text
    series = pd.DataFrame(
        {
            "bucket": pd.to_datetime(["2026-01-01", "2026-01-02"]),
            "grp": ["x", "x"],
            "cost_usd": [0.0, 0.0],
            "calls": [1, 1],
            "priced_calls": [0, 0],
        }
    )
    assert "No priced calls" in money_charts.spend_over_time(series, "feature").layout.annotations[0].text
    delta = pd.DataFrame(
        {"grp": ["up", "down"], "actual_usd": [1.0, 2.0], "repriced_usd": [1.5, 1.0], "delta_usd": [0.5, -1.0]}
    )
    bars = money_charts.delta_bars(delta, "feature")
    assert list(bars.data[0].text) == ["−$1.00", "+$0.50"]
