"""The Local lab page under AppTest: a short real run, perplexity, memory and price tabs."""

import pytest
from apptest_helpers import page, vega_charts

pytestmark = pytest.mark.llama


def _frames(at):
    return {tuple(d.value.columns[:2]): d.value for d in at.dataframe}


def test_page_runs_a_short_matrix_and_saves_a_sheet():
    at = page("local_lab", timeout=300)
    at.run()
    assert not at.exception
    assert at.multiselect(key="ll_quants").value == ["Q4_1", "Q8_0"]
    at.number_input(key="ll_threads").set_value(2)
    at.select_slider(key="ll_ctx").set_value(256)
    at.number_input(key="ll_repeats").set_value(1)
    at.number_input(key="ll_max_tokens").set_value(6)
    at.button(key="ll_run").click().run()
    assert not at.exception and not at.error
    state = at.session_state["local_lab"]
    m = state["matrix"]
    assert len(m.runs) == 2 * 3 and not m.cancelled and not state["running"]
    summary = next(d.value for d in at.dataframe if "gen_tps" in d.value.columns)
    assert list(summary["variant"]) == ["Q4_1", "Q8_0"] and (summary["gen_tps"] > 0).all()
    assert any("requantized" in c.value for c in at.caption)

    # the charts are Vega-Lite (no Plotly bundle), carrying the tables' figures; closed tabs drew nothing
    assert not at.get("plotly_chart")
    charts = vega_charts(at)
    assert set(charts) == {"Throughput by variant (median; rules: fastest to slowest run)", "Latency by variant"}
    for title, pairs in (
        (
            "Throughput by variant (median; rules: fastest to slowest run)",
            (("prompt processing", "prompt_tps"), ("generation", "gen_tps")),
        ),
        ("Latency by variant", (("time to first token", "ttft_ms"), ("end to end", "e2e_ms"))),
    ):
        data, spec = charts[title]
        assert list(dict.fromkeys(data["category"])) == ["Q4_1", "Q8_0"]
        assert spec["layer"][0]["encoding"]["xOffset"]["sort"] == [p[0] for p in pairs]
        for series, column in pairs:
            got = data[data["series"] == series].set_index("category")
            assert got["value"].to_dict() == pytest.approx(summary.set_index("variant")[column].to_dict())
            assert (got["lo"] <= got["value"] + 1e-9).all() and (got["value"] <= got["hi"] + 1e-9).all()

    # the price tab (lazy: opening it runs it) offers the measured variant and saves it as a self-hosted sheet
    at.session_state["ll_tab"] = "Price"
    at.run()
    assert not at.exception and not at.error
    assert not any("gen_tps" in d.value.columns for d in at.dataframe)  # the runs tab is closed
    at.selectbox(key="ll_price_variant").set_value("Q8_0")
    at.run()
    at.button(key="ll_save_sheet").click().run()
    assert not at.exception
    assert any("SmolLM2-135M-Instruct-Q8_0" in s.value for s in at.success)
    price_table = next(d.value for d in at.dataframe if "blended $/1M" in d.value.columns)
    assert price_table["option"].iloc[0] == "local Q8_0" and len(price_table) >= 2
    assert not at.get("plotly_chart")
    charts = vega_charts(at)
    assert set(charts) == {"Break-even: where local gets cheaper"}
    data, spec = charts["Break-even: where local gets cheaper"]
    assert list(dict.fromkeys(data["option"]))[0] == "local (always on)"
    assert set(data["option"]) == {"local (always on)", *price_table["option"].iloc[1:]}
    labels = [v["label"] for layer in spec["layer"] if "data" in layer for v in layer["data"]["values"]]
    wins = price_table.iloc[1:].dropna(subset=["break-even (M tokens/month)"])  # the APIs local beats
    assert sorted(set(labels)) == sorted(
        f"{o}: {v:,.1f}M" for o, v in zip(wins["option"], wins["break-even (M tokens/month)"])
    )

    # memory tab: the default 70B layout shows the published sizes, and what the variants run here took
    at.session_state["ll_tab"] = "Memory"
    at.run()
    assert not at.exception and not at.error
    mem = next(d.value for d in at.dataframe if "effective_bpw" in d.value.columns).set_index("file_type")
    assert mem.loc["Q2_K", "gb"] == pytest.approx(26.4, rel=0.05)
    assert mem.loc["Q8_0", "measured_bpw_here"] == pytest.approx(8.5, abs=0.05)
    assert not at.get("plotly_chart")
    charts = vega_charts(at)
    assert set(charts) == {"Memory by file type"}
    data, spec = charts["Memory by file type"]
    effective = data[data["series"] == "effective (llama.cpp recipe)"].set_index("category")["value"]
    assert effective.to_dict() == pytest.approx(mem["gb"].to_dict())
    assert list(dict.fromkeys(data["category"])) == list(mem.index)
    assert set(data["series"]) == {"block type only", "effective (llama.cpp recipe)", "KV cache"}

    at.session_state["ll_tab"] = "Quality"
    at.run()
    assert not at.exception and not at.error
    assert at.button(key="ll_ppl") and any("Perplexity on a fixed" in m.value for m in at.markdown)

    # back on the runs tab: the run's results and the values typed before are still there
    at.session_state["ll_tab"] = "Variants & runs"
    at.run()
    assert not at.exception and not at.error
    assert at.number_input(key="ll_repeats").value == 1 and at.number_input(key="ll_max_tokens").value == 6
    again = next(d.value for d in at.dataframe if "gen_tps" in d.value.columns)
    assert again.equals(summary)
    at.session_state["ll_tab"] = "Price"
    at.run()
    assert at.selectbox(key="ll_price_variant").value == "Q8_0"


def test_busy_model_is_reported_not_crashed():
    from llmledger.ui import local_lab

    at = page("local_lab", timeout=120)
    at.run()
    lock = local_lab.lock()  # the same process-wide resource the page uses
    assert lock.acquire(blocking=False)
    try:
        at.number_input(key="ll_repeats").set_value(1)
        at.button(key="ll_run").click().run()
    finally:
        lock.release()
    assert not at.exception
    assert any("Model busy" in e.value for e in at.error)
