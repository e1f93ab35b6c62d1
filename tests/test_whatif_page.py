"""The What-if page under AppTest: the dataset lab on a built-in example and on uploaded CSVs (bad
ones get a named error, never a traceback), apply to traffic on a real ledger, save a scenario,
and the Plan page showing it as a candidate."""

from __future__ import annotations

import json

import pytest
from apptest_helpers import frame, metrics, ok, page, vega_charts
from ledgers import build_ledger

from llmledger.simulate import load_builtin
from llmledger.simulate import metrics as sim_metrics

GOOD_CSV = b"""query_id,model,correct,cost_usd,query
q1,big,1,0.010,what is two plus two
q1,small,1,0.001,what is two plus two
q2,big,1,0.010,prove the theorem
q2,small,0,0.001,prove the theorem
q3,big,0,0.010,name a colour
q3,small,1,0.001,name a colour
q4,big,1,0.010,integrate x squared
q4,small,0,0.001,integrate x squared
"""


@pytest.fixture
def ledger(db_path):
    build_ledger(db_path)
    return db_path


def lab(at, dataset: str | None = None):
    at.session_state["wi_tab"] = "Dataset lab"
    if dataset:
        at.session_state["wi_dataset"] = dataset
    return at


def upload(at, data: bytes, name: str = "outcomes.csv"):
    lab(at, "Upload a CSV").run()
    at.get("file_uploader")[0].set_value((name, data, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_lab_on_a_builtin_dataset_shows_router_and_cascade():
    at = lab(page("whatif"), "routellm-gsm8k")
    ok(at.run())
    ds = load_builtin("routellm-gsm8k")
    table = frame(at, "model", "accuracy", "cost_usd")
    points = sim_metrics.model_points(ds)
    for m, v in points.items():
        row = table[table["model"] == m].iloc[0]
        assert row["accuracy"] == pytest.approx(v["accuracy"]) and row["cost_usd"] == pytest.approx(v["cost_usd"])
    assert {"Quality at the chosen point", "Cost at the chosen point", "Strong calls"} <= set(metrics(at))
    # The dataset lab's charts are Vega-Lite (no Plotly bundle on the page's first tab).
    assert not at.get("plotly_chart")
    charts = vega_charts(at)
    assert set(charts) == {"Quality against % of strong calls", "Quality against cost", "Cascade: quality against cost"}
    share, share_spec = charts["Quality against % of strong calls"]
    assert list(dict.fromkeys(share["series"])) == [
        "oracle (upper bound)",
        "random router",
        "this router",
        "chosen point",
    ]
    assert share_spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == list(dict.fromkeys(share["series"]))
    assert share["share"].between(0, 100).all()
    chosen = share[share["series"] == "chosen point"].iloc[0]
    m = metrics(at)
    assert f"{chosen['quality']:.4f}" == m["Quality at the chosen point"]
    assert abs(chosen["share"] - float(m["Strong calls"].rstrip("%"))) < 0.1
    for title, policy in (
        ("Quality against cost", "this router"),
        ("Cascade: quality against cost", "cascade thresholds"),
    ):
        data, spec = charts[title]
        alone = data[data["series"] == "each model alone"].set_index("label")
        assert set(alone.index) == set(points)
        for model, v in points.items():
            assert alone.loc[model, "cost"] == pytest.approx(v["cost_usd"])
            assert alone.loc[model, "quality"] == pytest.approx(v["accuracy"])
        assert (data["series"] == "oracle").sum() == 1 and (data["series"] == "chosen point").sum() == 1
        front = data[data["series"] == "Pareto frontier"]
        assert list(front["cost"]) == sorted(front["cost"]) and len(front) >= 1
        assert list(front["quality"]) == sorted(front["quality"])  # dearer points on the frontier are better
        assert (data["series"] == policy).sum() >= len(front)
        assert spec["layer"][0]["encoding"]["color"]["scale"]["domain"][0] == policy
    assert frame(at, "metric", "value", "meaning")["metric"].tolist()[:2] == ["CPT(50%)", "CPT(80%)"]
    # moving the operating point moves the chosen share, and the chart's chosen point with it
    at.slider(key="wi_share_routellm-gsm8k").set_value(20).run()
    assert abs(float(metrics(at)["Strong calls"].rstrip("%")) - 20) < 1  # the sweep's nearest point
    share = vega_charts(at)["Quality against % of strong calls"][0]
    assert abs(share.loc[share["series"] == "chosen point", "share"].iloc[0] - 20) < 1


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"query_id,model,cost_usd\nq1,a,0.1\nq1,b,0.2\n", "correct"),  # neither correct nor score
        (b"query_id,model,score,cost_usd\nq1,a,1.7,0.1\nq1,b,0.5,0.2\n", "outside 0..1"),
        (b"query_id,model,correct,cost_usd\nq1,a,1,0.1\nq2,a,0,0.1\n", "only one model"),
        (b"", "empty"),
    ],
)
def test_a_bad_csv_gets_a_named_error(data, problem):
    at = upload(page("whatif"), data)
    errors = [e.value for e in at.error]
    assert errors and problem in errors[0], errors
    assert not at.get("plotly_chart") and not at.get("vega_lite_chart")


def test_a_good_csv_runs_the_lab():
    at = upload(page("whatif"), GOOD_CSV)
    ok(at)
    table = frame(at, "model", "accuracy", "cost_usd")
    assert table.set_index("model").loc["big", "accuracy"] == pytest.approx(0.75)
    assert table.set_index("model").loc["small", "cost_usd"] == pytest.approx(0.004)
    charts = vega_charts(at)
    assert "Quality against cost" in charts
    alone = charts["Quality against cost"][0].query("series == 'each model alone'").set_index("label")
    assert alone["cost"].to_dict() == pytest.approx({"big": 0.04, "small": 0.004})
    assert alone["quality"].to_dict() == pytest.approx({"big": 0.75, "small": 0.5})


def test_apply_to_traffic_then_save_a_scenario_that_plan_shows(ledger):
    at = page("whatif")
    at.session_state["wi_tab"] = "Apply to traffic"
    at.session_state["wi_t_feature"] = "demo-support-chat"  # a feature the example plan's use cases are tagged with
    ok(at.run())
    m = metrics(at)
    for label in ("Monthly cost today", "Monthly cost under the policy", "Monthly saving", "Mean latency today"):
        assert label in m
    assert m["Break-even strong share"].endswith("%")
    assert any(
        "measured in your traffic" in str(d.value.get("rests on", [""])[0])
        for d in at.dataframe
        if "rests on" in d.value
    )
    # bad input: the same model twice
    at.selectbox(key="wi_t_weak").set_value(at.selectbox(key="wi_t_strong").value).run()
    assert any("a router needs two models" in e.value for e in at.error)
    assert not at.exception
    # a cascade, saved as a scenario
    at.radio(key="wi_t_kind").set_value("Cascade").run()
    ok(at)
    assert "Break-even escalation rate" in metrics(at)
    at.text_input(key="wi_t_name").set_value("support: mini first").run()
    at.button(key="wi_t_save").click().run()
    ok(at)
    assert any("Saved scenario" in t.value for t in at.toast)
    at.session_state["wi_tab"] = "Scenarios"
    ok(at.run())
    assert "support: mini first" in frame(at, "name", "cost_ratio")["name"].tolist()

    plan = page("plan")
    plan.session_state["pf_tab"] = "Projection"
    ok(plan.run())
    assert "What-if scenarios as candidates" in [s.value for s in plan.subheader]
    table = frame(plan, "scenario", "horizon_total_usd", "horizon_saving_usd")
    assert table["scenario"].tolist() == ["support: mini first"]


def test_rates_from_the_lab_are_used_in_apply_to_traffic(ledger):
    at = lab(page("whatif"), "routellm-gsm8k")
    ok(at.run())
    at.button(key="wi_use_cascade_routellm-gsm8k").click().run()
    at.session_state["wi_tab"] = "Apply to traffic"
    at.session_state["wi_t_kind"] = "Cascade"
    at.session_state["wi_t_rates"] = "From the dataset lab"
    ok(at.run())
    captions = " ".join(c.value for c in at.caption)
    assert "Rates from the lab" in captions and "GSM8K" in captions


def test_apply_to_traffic_on_an_empty_ledger_says_what_to_do():
    at = page("whatif")
    at.session_state["wi_tab"] = "Apply to traffic"
    ok(at.run())
    assert any("No feature has calls yet" in i.value for i in at.info)


def test_reproductions_set_published_figures_beside_ours():
    at = page("whatif", timeout=600)
    at.session_state["wi_tab"] = "Reproductions"
    ok(at.run())
    text = " ".join(m.value for m in at.markdown)
    for name in ("Unify router on MT-Bench", "RouteLLM headline on MMLU", "FrugalGPT cascade on OVERRULING"):
        assert name in text
    unify = frame(at, "figure", "published", "ours")
    assert {"figure", "published", "ours"} <= set(unify.columns)
    assert not at.get("plotly_chart")
    bars, spec = vega_charts(at)["RouteLLM's headlines next to this lab's"]  # the headline bars
    assert {"MMLU"} <= set(bars["category"])
    assert list(dict.fromkeys(bars["series"])) == spec["layer"][0]["encoding"]["xOffset"]["sort"]
    assert spec["layer"][0]["encoding"]["xOffset"]["sort"][:2] == ["published (RouteLLM)", "this lab's router"]
    assert list(bars["text"]) == [f"{v:.0%}" for v in bars["value"]] and bars["value"].notna().all()


def test_lab_charts_carry_model_names_as_written():
    """Vega draws text literally: model names reach the chart unescaped (escaping is Plotly's)."""
    import pandas as pd

    from llmledger.ui import whatif_charts

    curve = pd.DataFrame({"cost_usd": [1.0, 2.0, 1.5], "accuracy": [0.5, 0.9, 0.6], "strong_share": [0.0, 1.0, 0.5]})
    models = {"<b>big</b>": {"cost_usd": 2.0, "accuracy": 0.9}, "[small](http://x)": {"cost_usd": 1.0, "accuracy": 0.5}}
    data, spec = whatif_charts.quality_vs_cost(
        curve, models, {"cost_usd": 1.2, "accuracy": 0.95}, {"cost_usd": 1.5, "accuracy": 0.6}, "accuracy", "<i>t</i>"
    )
    assert spec["title"]["text"] == "<i>t</i>"
    alone = data[data["series"] == "each model alone"]
    assert list(alone["label"]) == ["<b>big</b>", "[small](http://x)"]
    front = data[data["series"] == "Pareto frontier"]
    assert list(zip(front["cost"], front["quality"])) == [(1.0, 0.5), (1.5, 0.6), (2.0, 0.9)]
    assert "&lt;" not in json.dumps(spec) and "&lt;" not in "".join(data["label"])
