"""`python -m llmledger whatif dataset ...`: the JSON contract (models, oracle, router, cascade),
figures computed by hand on a small CSV, and one-line errors on bad input."""

from __future__ import annotations

import json

import pytest
from helpers import cli, one_line_error

from llmledger.cli import build_parser, main
from llmledger.simulate.datasets import DATA_DIR

SMALL = """query_id,model,correct,cost_usd
q1,cheap,1,0.001
q1,mid,1,0.01
q1,big,1,0.1
q2,cheap,0,0.001
q2,mid,1,0.01
q2,big,1,0.1
q3,cheap,0,0.002
q3,mid,0,0.02
q3,big,1,0.2
q4,cheap,0,0.001
q4,mid,0,0.01
q4,big,0,0.1
"""


def run_json(capsys, *args) -> dict:
    assert main(["whatif", "dataset", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_small_csv_contract_by_hand(tmp_path, capsys):
    p = tmp_path / "small.csv"
    p.write_text(SMALL)
    doc = run_json(capsys, p)
    assert doc["models"] == {
        "cheap": {"queries": 4, "accuracy": 0.25, "cost_usd": pytest.approx(0.005)},
        "mid": {"queries": 4, "accuracy": 0.5, "cost_usd": pytest.approx(0.05)},
        "big": {"queries": 4, "accuracy": 0.75, "cost_usd": pytest.approx(0.5)},
    }
    assert doc["oracle"]["accuracy"] == 0.75
    assert doc["oracle"]["cost_usd"] == pytest.approx(0.212)
    assert (doc["strong"], doc["weak"]) == ("big", "cheap")
    r = doc["router"]
    assert r["source"] == "random"  # no query text, no imported score
    assert set(r["metrics"]) >= {"cpt50", "cpt80", "apgr", "cost_saved_at_95"}
    for pt in r["points"]:
        assert set(pt) >= {"threshold", "strong_share", "accuracy", "cost_usd"}
    ends = sorted(r["points"], key=lambda p: p["strong_share"])
    assert (ends[0]["accuracy"], ends[-1]["accuracy"]) == (0.25, 0.75)
    assert set(r["baselines"]) == {"oracle"}
    c = doc["cascade"]
    assert (
        c["scorer"] == "oracle" and c["points"] and set(c["metrics"]) >= {"best_accuracy", "cost_saved_matching_strong"}
    )
    for pt in c["points"]:
        assert set(pt) >= {"threshold", "strong_share", "accuracy", "cost_usd", "order"}
    # the oracle cascade over 3 models finds the oracle's accuracy
    assert c["metrics"]["best_accuracy"] == 0.75


def test_explicit_pair_and_cascade(tmp_path, capsys):
    p = tmp_path / "small.csv"
    p.write_text(SMALL)
    doc = run_json(capsys, p, "--strong", "mid", "--weak", "cheap", "--cascade", "cheap,mid,big", "--router", "oracle")
    assert (doc["strong"], doc["weak"]) == ("mid", "cheap")
    assert doc["router"]["source"] == "oracle" and "random" in doc["router"]["baselines"]
    assert doc["cascade"]["order"] == ["cheap", "mid", "big"]
    assert {p["order"] for p in doc["cascade"]["points"]} == {"cheap > mid > big"}


def test_builtin_mtbench_text_and_json(capsys):
    folder = DATA_DIR / "routellm" / "mt_bench"
    assert main(["whatif", "dataset", str(folder), "--thresholds", "50"]) == 0
    out = capsys.readouterr().out
    assert "RouteLLM MT-Bench: 80 queries" in out and "APGR" in out and "assumed" in out
    doc = run_json(capsys, folder, "--format", "routellm-mtbench", "--thresholds", "50")
    assert doc["router"]["source"] == "learned" and doc["cascade"]["scorer"] == "learned"
    assert doc["dataset"]["cost_measured"] is False
    assert doc["models"]["gpt-4-1106-preview"]["queries"] == 80


@pytest.mark.parametrize(
    "body, args, words",
    [
        ("query_id,model,cost_usd\n1,a,1\n", [], ["missing column", "correct"]),
        ("query_id,model,correct,cost_usd\n1,a,1,1\n", [], ["only one model"]),
        (SMALL, ["--strong", "gpt-9"], ["no model 'gpt-9'"]),
        (SMALL, ["--cascade", "cheap,nope"], ["no model 'nope'"]),
        (SMALL, ["--router", "learned"], ["no query text"]),
        ("query_id,model,score,cost_usd\n1,a,7,1\n1,b,0,1\n", [], ["outside 0..1"]),
    ],
)
def test_bad_input_is_one_line(tmp_path, body, args, words):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    err = one_line_error(cli("whatif", "dataset", p, *args, db=tmp_path / "x.duckdb"))
    for w in words:
        assert w in err


def test_missing_file_and_bad_format(tmp_path):
    err = one_line_error(cli("whatif", "dataset", tmp_path / "nope.csv", db=tmp_path / "x.duckdb"))
    assert "no such file" in err
    one_line_error(cli("whatif", "dataset", tmp_path, "--format", "xlsx", db=tmp_path / "x.duckdb"), code=2)


def test_whatif_group_leaves_room_for_other_levers():
    parser = build_parser()
    whatif = parser._subparsers._group_actions[0].choices["whatif"]
    names = set(whatif._subparsers._group_actions[0].choices)
    assert "dataset" in names
    from llmledger.simulate.cli import WHATIF_HOOKS

    assert ("llmledger.simulate.traffic_cli", "register_traffic") in WHATIF_HOOKS


def test_a_few_queries_with_text_default_to_random_and_oracle(tmp_path, capsys):
    p = tmp_path / "text.csv"
    p.write_text(
        "query_id,model,correct,cost_usd,query\n"
        + "".join(f"{i},a,{i % 2},1,question {i}\n{i},b,1,3,question {i}\n" for i in range(4))
    )
    doc = run_json(capsys, p)
    assert doc["router"]["source"] == "random" and doc["cascade"]["scorer"] == "oracle"
    assert doc["oracle"] == {"accuracy": 1.0, "cost_usd": 2 * 1 + 2 * 3, "picks": {"a": 2, "b": 2}}
    err = one_line_error(cli("whatif", "dataset", p, "--router", "learned", db=tmp_path / "x.duckdb"))
    assert "too few for 5-fold" in err


def test_a_strong_model_that_is_not_better_gives_nulls_not_a_crash(tmp_path, capsys):
    p = tmp_path / "small.csv"
    p.write_text(SMALL)
    doc = run_json(capsys, p, "--strong", "cheap", "--weak", "big")
    assert doc["router"]["metrics"]["apgr"] is None and doc["router"]["metrics"]["cpt50"] is None
    assert main(["whatif", "dataset", str(p), "--strong", "cheap", "--weak", "big"]) == 0
    assert "APGR n/a" in capsys.readouterr().out


def test_runs_while_the_dashboard_holds_the_ledger(tmp_path, db_path):
    from llmledger.store.db import connect

    p = tmp_path / "small.csv"
    p.write_text(SMALL)
    con = connect(db_path)  # the dashboard holds it
    try:
        done = cli("whatif", "dataset", p, "--json", db=db_path)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["oracle"]["accuracy"] == 0.75
        err = one_line_error(cli("whatif", "dataset", p, "--sheet", "mine", db=db_path))
        assert "held by another process" in err
    finally:
        con.close()
