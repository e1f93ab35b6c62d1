"""AppTest for the Estimate, Spend and Reprice pages, on an empty ledger and on one with real
ingested data (OTLP files, calls with reported costs, the demo generator)."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
import streamlit as st
from apptest_helpers import assert_valid_vega_lite, frame, metrics, page, run, vega_charts
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


def estimate(tab: str | None = None):
    """The Estimate page run once with `tab` open (lazy tabs: only the open one runs)."""
    return run("estimate", tab=("est_tab", tab) if tab else None)


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
    assert any("Paste a prompt" in i.value for i in at.info)
    assert not at.metric  # the closed Monthly bill tab ran nothing
    at.session_state["est_tab"] = "Monthly bill"
    at.run()
    assert not at.exception and not at.error
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
    # The open tab's two charts, Vega-Lite (no Plotly bundle on a first view); closed tabs run nothing.
    assert not at.get("plotly_chart")
    charts = vega_charts(at)
    assert set(charts) == {"Spend over time by feature (priced calls)", "Spend by feature (priced calls)"}
    table = frame(at, "grp", "cost_per_ok_call")
    priced = table.dropna(subset=["cost_usd"])
    by, by_spec = charts["Spend by feature (priced calls)"]
    assert list(by["label"]) == list(priced["grp"])  # the table's order, largest on top
    assert list(by["value"]) == pytest.approx(list(priced["cost_usd"]))
    assert by["text"].iloc[0].startswith(f"${priced['cost_usd'].iloc[0]:,.2f} · ")
    assert by_spec["layer"][0]["encoding"]["y"]["sort"] is None
    series, series_spec = charts["Spend over time by feature (priced calls)"]
    assert series_spec["mark"]["type"] == "area"  # the default kind
    assert series["value"].sum() == pytest.approx(priced["cost_usd"].sum())
    order = series_spec["encoding"]["color"]["scale"]["domain"]
    grey = [g for g in order if g in ("(other)", "(unattributed)")]
    assert set(order) == set(priced["grp"]) and grey and order[-len(grey) :] == grey  # grey groups last
    colors = dict(zip(order, series_spec["encoding"]["color"]["scale"]["range"]))
    assert {colors[g] for g in grey} <= {"#a0aec0", "#cbd5e0"}
    assert not at.get("download_button")
    # Lazy tabs: each tab runs (and queries) only when open.
    at.session_state["spend_tab"] = "Unknown prices"
    at.run()
    assert not at.exception
    unpriced = set(frame(at, "request_model", "first_seen")["request_model"])
    assert "demo-acme-llama-3.1-8b-ft" in unpriced
    assert "acme-private-model-x" not in unpriced  # no price, but it reported its cost: that is its actual cost
    assert "left out of every total" in text_of(at)
    assert not at.get("vega_lite_chart") and not at.get("plotly_chart")
    at.session_state["spend_tab"] = "Reported vs computed"
    at.run()
    rep = frame(at, "reported_usd", "computed_usd")
    assert "gpt-4o-mini" in set(rep["model"])
    (data, spec), *others = vega_charts(at).values()
    assert not others and spec["title"]["text"] == "Reported vs computed cost, per model"
    shown = rep.head(12)
    assert spec["encoding"]["x"]["sort"] == list(shown["model"])
    reported = data[data["series"] == "reported by instrumentation"].set_index("category")["value"]
    computed = data[data["series"] == "computed from the sheet"].set_index("category")["value"]
    assert reported.to_dict() == pytest.approx(shown.set_index("model")["reported_usd"].to_dict())
    assert computed.to_dict() == pytest.approx(shown.set_index("model")["computed_usd"].to_dict())
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
    series, spec = vega_charts(at)["Spend over time by model (priced calls)"]
    assert spec["mark"]["type"] == "bar" and spec["encoding"]["x2"] == {"field": "t_end"}  # bars span their bucket
    assert spec["encoding"]["color"]["scale"]["domain"] == grps  # stacked largest first, "(other)" last, grey
    assert spec["encoding"]["color"]["scale"]["range"][-1] == "#a0aec0"
    assert set(series["group"]) == set(grps)
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
    charts = vega_charts(at)
    tok_data, _ = charts["Tokens per tokenizer (counted locally)"]
    counted = toks.sort_values("tokens", ascending=False, kind="stable")
    assert list(tok_data["label"]) == list(counted["tokenizer"])  # most tokens on top
    assert list(tok_data["value"]) == list(counted["tokens"])
    assert list(tok_data["text"]) == [f"{n:,}" for n in counted["tokens"]]
    (cost_title,) = [t for t in charts if t.startswith("Estimated cost per model and sheet")]
    data, spec = charts[cost_title]
    assert spec["title"]["subtitle"] == "no price: acme-private-model-x (litellm)"
    assert "acme-private-model-x" not in set(data["category"])  # never a $0 bar
    assert data.set_index("category")["value"].to_dict() == pytest.approx(
        costs.drop(index="acme-private-model-x")["cost_usd"].to_dict()
    )


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

    # Another (lazy) tab opened and closed: the uploader forgets the file, the page keeps counting it.
    at.session_state["est_tab"] = "Monthly bill"
    at.run()
    assert "**40 documents**" not in text_of(at)
    at.session_state["est_tab"] = "Count & price"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.radio(key="est_mode").value == "Corpus file"
    assert "**40 documents**" in text_of(at)
    assert any("corpus.jsonl was uploaded before another tab was opened" in c.value for c in at.caption)
    assert frame(at, "tokenizer", "exact for").set_index("tokenizer").loc["o200k_base", "tokens"] == expected
    assert (frame(at, "model", "sheet", "cost_usd")["requests"] == 40).all()
    at.button(key="est_corpus_forget").click().run()
    assert not at.exception
    assert "**40 documents**" not in text_of(at)
    assert any("upload a corpus" in i.value for i in at.info)


def test_estimate_tabs_keep_their_values_while_another_is_open(with_data):
    at = estimate()
    at.multiselect(key="est_models").set_value(["gpt-4o", "claude-haiku-4-5"]).run()
    at.number_input(key="est_output_tokens").set_value(500).run()
    prompt = "Keep this prompt while the bill is open. " * 5
    at.text_area(key="est_text").set_value(prompt).run()
    costs = frame(at, "model", "sheet", "cost_usd")
    assert set(costs["model"]) == {"gpt-4o", "claude-haiku-4-5"}
    at.session_state["est_tab"] = "Monthly bill"
    at.run()
    assert not [d for d in at.dataframe if "tokenizer" in d.value.columns]  # the closed tab ran nothing
    at.number_input(key="bill_growth").set_value(5.0).run()
    at.selectbox(key="bill_model").set_value("gpt-4o").run()
    bill = metrics(at)
    at.session_state["est_tab"] = "Token tax"
    at.run()
    assert not at.metric
    at.multiselect(key="tax_tokenizers").set_value(["o200k_base"]).run()

    at.session_state["est_tab"] = "Count & price"
    at.run()
    assert not at.exception and not at.error
    assert at.text_area(key="est_text").value == prompt
    assert at.multiselect(key="est_models").value == ["gpt-4o", "claude-haiku-4-5"]
    assert at.number_input(key="est_output_tokens").value == 500
    assert frame(at, "model", "sheet", "cost_usd").equals(costs)
    at.session_state["est_tab"] = "Monthly bill"
    at.run()
    assert at.number_input(key="bill_growth").value == 5.0 and at.selectbox(key="bill_model").value == "gpt-4o"
    assert metrics(at) == bill
    at.session_state["est_tab"] = "Token tax"
    at.run()
    assert at.multiselect(key="tax_tokenizers").value == ["o200k_base"]
    assert set(frame(at, "language", "ratio_vs_english")["tokenizer"]) == {"o200k_base"}


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
    at = estimate("Monthly bill")
    at.number_input(key=field).set_value(value).run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_monthly_bill_grows_and_discounts(with_data):
    at = estimate("Monthly bill")
    flat = _usd(metrics(at)["Total over 12 months"])
    at.number_input(key="bill_growth").set_value(10.0).run()
    grown = metrics(at)
    assert _usd(grown["Last month"]) == pytest.approx(_usd(grown["First month"]) * 1.1**11, rel=1e-3)
    assert _usd(grown["Total over 12 months"]) > flat
    at.slider(key="bill_cached").set_value(80).run()
    assert _usd(metrics(at)["Total over 12 months"]) < _usd(grown["Total over 12 months"])
    table = frame(at, "month", "cumulative_usd")
    assert len(table) == 12 and table["cached_input_usd"].gt(0).all()
    data, spec = vega_charts(at)["Projected bill: gpt-4o-mini on litellm"]
    bars, line = spec["layer"]
    assert spec["resolve"] == {"scale": {"y": "independent"}}  # the cumulative line has its own axis
    assert line["encoding"]["y"]["axis"]["orient"] == "right" and line["mark"]["type"] == "line"
    assert bars["encoding"]["x"]["sort"] == list(table["month"])
    assert bars["encoding"]["color"]["scale"]["domain"] == ["input", "cached input", "output", "cumulative"]
    stacked = data.pivot_table(index="month", columns="part", values="value").loc[list(table["month"])]
    assert list(stacked["cached input"]) == pytest.approx(list(table["cached_input_usd"]))
    assert list(stacked.sum(axis=1)) == pytest.approx(list(table["cost_usd"]))
    cumulative = data[data["first"]].set_index("month").loc[list(table["month"]), "cumulative"]
    assert list(cumulative) == pytest.approx(list(table["cumulative_usd"]))


def test_token_tax_table():
    at = estimate("Token tax")
    tax = frame(at, "language", "ratio_vs_english")
    assert set(tax["tokenizer"]) >= {"o200k_base", "cl100k_base"}
    english = tax[tax["language"] == "English"]
    assert (english["ratio_vs_english"] == 1).all()
    assert tax[tax["language"] == "Hindi"]["ratio_vs_english"].min() > 1
    data, spec = vega_charts(at)["Token tax: tokens for the same message, relative to English"]
    bars, english = spec["layer"]
    order = tax.groupby("language")["ratio_vs_english"].mean().sort_values(ascending=False).index
    assert bars["encoding"]["x"]["sort"] == list(order) and order[-1] == "English"
    assert english["mark"]["type"] == "rule" and english["mark"]["strokeDash"]  # dotted, at 1x English
    assert english["data"]["values"] == [{"english": 1.0}]
    shown = data.set_index(["category", "series"])["value"]
    assert shown.to_dict() == pytest.approx(tax.set_index(["language", "tokenizer"])["ratio_vs_english"].to_dict())


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
    charts = vega_charts(at)
    bars, spec = charts["Actual vs repriced, by feature"]
    shown = table.head(15)
    assert spec["encoding"]["x"]["sort"] == list(shown.index)
    assert bars.set_index(["category", "series"])["value"].to_dict() == pytest.approx(
        {
            **{(g, "actual"): v for g, v in shown["actual_usd"].dropna().items()},
            **{(g, "repriced"): v for g, v in shown["repriced_usd"].dropna().items()},
        }
    )
    delta, _ = charts["Change per feature (repriced − actual)"]
    changed = shown.dropna(subset=["delta_usd"])
    assert list(delta["label"]) == list(changed.index) and list(delta["value"]) == pytest.approx(
        list(changed["delta_usd"])
    )
    up = delta.set_index("label").loc["support_triage"]
    assert up["color"] == "#e53e3e" and up["text"].startswith("+$")  # costs more: red, signed
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
    data, spec = money_charts.cost_per_model(table)
    assert list(data["category"]) == ["a"] and list(data["value"]) == [0.5]  # b has no bar at all
    assert spec["title"] == {**spec["title"], "text": "Cost per model and sheet", "subtitle": "no price: b (s)"}
    data, spec = money_charts.cost_per_model(table.iloc[1:])
    assert list(data["message"]) == ["None of these models has a price on these sheets"]
    assert spec["title"]["subtitle"] == "no price: b (s)"
    series = pd.DataFrame(
        {
            "bucket": pd.to_datetime(["2026-01-01", "2026-01-02"]),
            "grp": ["x", "x"],
            "cost_usd": [0.0, 0.0],
            "calls": [1, 1],
            "priced_calls": [0, 0],
        }
    )
    data, spec = money_charts.spend_over_time(series, "feature")
    assert list(data["message"]) == ["No priced calls in this selection"] and spec["mark"]["type"] == "text"
    assert spec["title"]["text"] == "Spend over time by feature (priced calls)"
    delta = pd.DataFrame(
        {"grp": ["up", "down"], "actual_usd": [1.0, 2.0], "repriced_usd": [1.5, 1.0], "delta_usd": [0.5, -1.0]}
    )
    data, spec = money_charts.delta_bars(delta, "feature")
    assert list(data["label"]) == ["up", "down"]  # the table's order, the first on top
    assert list(data["text"]) == ["+$0.50", "−$1.00"]
    assert list(data["color"]) == [money_charts.UP_COLOR, money_charts.DOWN_COLOR]  # red costs more, green saves
    bars, up, down, zero = spec["layer"]
    assert (up["mark"]["align"], down["mark"]["align"]) == ("left", "right")  # each label past its bar's end
    assert zero["mark"]["type"] == "rule" and zero["data"]["values"] == [{"zero": 0.0}]
    lo, hi = bars["encoding"]["x"]["scale"]["domain"]
    assert lo < -1.0 and hi > 0.5  # room for the labels on both sides


def _money_charts():
    import numpy as np
    import pandas as pd

    from llmledger.ui import money_charts as mc

    series = pd.DataFrame(
        {
            "bucket": pd.to_datetime(["2026-01-01"] * 3 + ["2026-01-02"] * 2),
            "grp": ["a", "b", "(other)", "a", "b"],
            "cost_usd": [1.0, 2.0, 0.5, 3.0, None],
        }
    )
    share = pd.DataFrame({"grp": ["b", "a", "(other)"], "cost_usd": [4.0, 3.0, 1.0], "share": [0.5, 0.375, 0.125]})
    reported = pd.DataFrame({"model": ["m1", "m2"], "reported_usd": [1.0, 2.0], "computed_usd": [1.1, 1.9]})
    costs = pd.DataFrame({"model": ["a", "b", "a"], "sheet": ["s", "s", "t"], "cost_usd": [0.5, None, 0.4]})
    bill = pd.DataFrame({"month": ["Month 1", "Month 2"], "cost_usd": [1.0, 2.0], "input_usd": [0.5, 1.0]})
    bill["output_usd"] = bill["cost_usd"] - bill["input_usd"]
    bill["cumulative_usd"] = np.cumsum(bill["cost_usd"])
    tax = pd.DataFrame(
        {
            "language": ["Hindi", "English"] * 2,
            "tokenizer": ["o", "o", "c", "c"],
            "ratio_vs_english": [1.5, 1.0, 1.2, 1.0],
            "tokens": [15, 10, 12, 10],
        }
    )
    reprice = pd.DataFrame(
        {"grp": ["a", "b"], "actual_usd": [1.0, None], "repriced_usd": [1.5, 1.0], "delta_usd": [0.5, None]}
    )
    return {
        "spend area": mc.spend_over_time(series, "feature", "area", "day"),
        "spend bars": mc.spend_over_time(series, "feature", "bar", "day"),
        "spend empty": mc.spend_over_time(series.iloc[:0], "feature"),
        "spend by": mc.spend_by(share, "feature"),
        "spend by empty": mc.spend_by(share.assign(cost_usd=None), "feature"),
        "reported": mc.reported_vs_computed(reported),
        "reported empty": mc.reported_vs_computed(reported.iloc[:0]),
        "tokens": mc.tokens_by_tokenizer(pd.DataFrame({"tokenizer": ["x", "y"], "tokens": [10, 12]})),
        "tokens empty": mc.tokens_by_tokenizer(pd.DataFrame({"tokenizer": [], "tokens": []})),
        "cost": mc.cost_per_model(costs),
        "cost empty": mc.cost_per_model(costs.iloc[:0]),
        "bill": mc.monthly_bill(bill),
        "bill total only": mc.monthly_bill(bill[["month", "cost_usd"]]),
        "bill empty": mc.monthly_bill(bill.iloc[:0]),
        "tax": mc.token_tax(tax),
        "tax empty": mc.token_tax(tax.iloc[:0]),
        "repriced": mc.actual_vs_repriced(reprice, "feature"),
        "repriced empty": mc.actual_vs_repriced(reprice.iloc[:0], "feature"),
        "delta": mc.delta_bars(reprice, "feature"),
        "delta empty": mc.delta_bars(reprice.iloc[:0], "feature"),
    }


def test_every_money_chart_is_valid_vega_lite_with_its_empty_message():
    """Each builder's spec, with its data inline, passes the Vega-Lite v6 schema; each empty state
    says why (the messages the Plotly charts had)."""
    import json

    charts = _money_charts()
    for name, (data, spec) in charts.items():
        assert_valid_vega_lite(spec, {"values": json.loads(data.to_json(orient="records"))})
        assert "$" not in spec["title"]["text"] and spec["title"]["text"], name
    messages = {name: list(data["message"]) for name, (data, _) in charts.items() if name.endswith("empty")}
    assert messages == {
        "spend empty": ["No priced calls in this selection"],
        "spend by empty": ["No priced calls in this selection"],
        "reported empty": ["No call carries both a reported and a computed cost"],
        "tokens empty": ["Nothing counted yet"],
        "cost empty": ["Choose at least one model and one sheet"],
        "bill empty": ["No bill to show"],
        "tax empty": ["Choose at least one tokenizer"],
        "repriced empty": ["No priced calls in this period"],
        "delta empty": ["Nothing to compare"],
    }


def test_money_charts_keep_order_colours_and_missing_values():
    import pandas as pd

    from llmledger.ui.charts import GREY

    charts = _money_charts()
    data, spec = charts["spend bars"]
    assert spec["encoding"]["color"]["scale"] == {
        "domain": ["a", "b", "(other)"],
        "range": ["#2b6cb0", "#dd6b20", GREY["(other)"]],
    }
    assert spec["encoding"]["order"]["sort"] == "ascending" and list(data["rank"]) == [0, 1, 2, 0, 1]
    area, _ = charts["spend area"]
    assert area.set_index(["t", "group"])["value"].to_dict()[("2026-01-02T00:00:00Z", "(other)")] == 0.0  # no hole
    data, spec = charts["spend by"]
    assert list(data["text"]) == ["$4.00 · 50.0%", "$3.00 · 37.5%", "$1.00 · 12.5%"]
    # The labels are a second y axis on the right (laid out inside the chart, never running off it).
    labels = spec["layer"][1]["encoding"]["y"]
    assert labels["field"] == "tick" and labels["axis"]["orient"] == "right" and labels["sort"] is None
    assert spec["resolve"] == {"scale": {"y": "independent"}} and list(data["tick"]) == list(data["text"])
    assert list(data["color"]) == ["#2b6cb0", "#dd6b20", GREY["(other)"]]
    data, spec = charts["repriced"]
    assert ("b", "actual") not in set(zip(data["category"], data["series"]))  # no actual cost: no bar, not $0
    assert spec["encoding"]["tooltip"][-1] == {
        "field": "delta",
        "type": "quantitative",
        "title": "Delta",
        "format": "+$,.4f",
    }
    data, _ = charts["delta"]
    assert list(data["label"]) == ["a"]  # b has no delta: left out
    data, spec = charts["tokens"]
    assert list(data["label"]) == ["y", "x"] and spec["layer"][0]["encoding"]["x"]["axis"]["format"] == ",.0f"
    from llmledger.ui import money_charts as mc

    same, _ = mc.tokens_by_tokenizer(pd.DataFrame({"tokenizer": ["p", "q", "r"], "tokens": [7, 7, 7]}))
    assert list(same["text"]) == ["7"] * 3  # equal labels keep a row each on the right axis
    assert same["tick"].nunique() == 3 and [t.rstrip("\u2060") for t in same["tick"]] == ["7"] * 3
    data, spec = charts["bill total only"]
    assert set(data["part"]) == {"monthly cost"} and list(data["cumulative"]) == [1.0, 3.0]
    right = spec["layer"][1]["encoding"]["y"]["axis"]
    assert right == {"format": "$,.0f", "orient": "right", "grid": False}  # whole dollars, no second grid
