"""The What-if page under AppTest: the dataset lab on a built-in example and on uploaded CSVs (bad
ones get a named error, never a traceback), apply to traffic on a real ledger, save a scenario,
and the Plan page showing it as a candidate."""

from __future__ import annotations

import pytest
from apptest_helpers import frame, metrics, ok, page
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
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert len(keys) >= 3  # router vs share, router vs cost, cascade frontier
    assert frame(at, "metric", "value", "meaning")["metric"].tolist()[:2] == ["CPT(50%)", "CPT(80%)"]
    # moving the operating point moves the chosen share
    at.slider(key="wi_share_routellm-gsm8k").set_value(20).run()
    assert abs(float(metrics(at)["Strong calls"].rstrip("%")) - 20) < 1  # the sweep's nearest point


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
    assert not at.get("plotly_chart")


def test_a_good_csv_runs_the_lab():
    at = upload(page("whatif"), GOOD_CSV)
    ok(at)
    table = frame(at, "model", "accuracy", "cost_usd")
    assert table.set_index("model").loc["big", "accuracy"] == pytest.approx(0.75)
    assert table.set_index("model").loc["small", "cost_usd"] == pytest.approx(0.004)
    assert at.get("plotly_chart")


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
    assert at.get("plotly_chart")  # the headline bars
