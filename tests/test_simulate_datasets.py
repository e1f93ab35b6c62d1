"""Outcome datasets: the long CSV importer (hand-written cases and a property test), the shipped
RouteLLM and FrugalGPT files, and what every number rests on."""

from __future__ import annotations

import csv
import gzip
import io
import json
import statistics

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.errors import SimulationError
from llmledger.simulate.datasets import (
    DATA_DIR,
    builtin_datasets,
    load_builtin,
    load_dataset,
    parse_long_csv,
)
from llmledger.simulate.metrics import model_points, oracle_point

SMALL = """query_id,model,correct,cost_usd,query
q1,cheap,1,0.001,what is 2+2
q1,mid,1,0.01,what is 2+2
q1,big,1,0.1,what is 2+2
q2,cheap,0,0.001,prove the theorem
q2,mid,1,0.01,prove the theorem
q2,big,1,0.1,prove the theorem
q3,cheap,0,0.002,translate this poem
q3,mid,0,0.02,translate this poem
q3,big,1,0.2,translate this poem
q4,cheap,0,0.001,a riddle nobody solves
q4,mid,0,0.01,a riddle nobody solves
q4,big,0,0.1,a riddle nobody solves
"""


def test_small_csv_model_and_oracle_points_by_hand():
    ds = parse_long_csv(SMALL, name="small.csv")
    assert ds.models == ["cheap", "mid", "big"] and ds.query_ids == ["q1", "q2", "q3", "q4"]
    pts = model_points(ds)
    assert pts["cheap"] == {"queries": 4, "accuracy": 0.25, "cost_usd": pytest.approx(0.005)}
    assert pts["mid"] == {"queries": 4, "accuracy": 0.5, "cost_usd": pytest.approx(0.05)}
    assert pts["big"] == {"queries": 4, "accuracy": 0.75, "cost_usd": pytest.approx(0.5)}
    # Oracle: q1 cheap (all right, cheapest), q2 mid, q3 big, q4 nobody right -> the cheapest (cheap).
    o = oracle_point(ds)
    assert o["accuracy"] == 0.75
    assert o["cost_usd"] == pytest.approx(0.001 + 0.01 + 0.2 + 0.001)
    assert o["picks"] == {"cheap": 2, "mid": 1, "big": 1}
    assert ds.default_pair() == ("big", "cheap")
    assert ds.cost_measured and "cost_usd" in ds.cost_basis


def test_graded_scores_and_router_columns():
    text = "query_id,model,score,cost_usd,router_mine,latency_ms\na,x,0.5,1,0.9,100\na,y,0.75,2,0.9,300\nb,x,1,1,0.1,120\nb,y,0,2,0.1,280\n"
    ds = parse_long_csv(text)
    assert ds.scores.tolist() == [[0.5, 0.75], [1.0, 0.0]]
    assert ds.router_scores["mine"].tolist() == [0.9, 0.1]
    assert ds.latency_ms.tolist() == [[100, 300], [120, 280]]
    assert oracle_point(ds) == {"accuracy": 0.875, "cost_usd": 3.0, "picks": {"x": 1, "y": 1}, "latency_ms": 210.0}


def test_true_false_words_are_correctness():
    ds = parse_long_csv("query_id,model,correct,cost_usd\n1,a,True,1\n1,b,no,2\n")
    assert ds.scores.tolist() == [[1.0, 0.0]]


def test_token_columns_priced_with_the_default_sheet():
    text = "query_id,model,correct,input_tokens,output_tokens\n1,gpt-4o,1,1000000,0\n1,gpt-4o-mini,0,1000000,0\n"
    ds = parse_long_csv(text)
    assert not ds.cost_measured and "litellm" in ds.cost_basis
    # gpt-4o costs more per input token than gpt-4o-mini under any sheet that knows both
    assert ds.costs[0, 0] > ds.costs[0, 1] > 0


def test_token_columns_priced_with_a_sheet_in_the_ledger(con):
    from llmledger.pricing import sheets

    sheets.import_sheet_bytes(
        con, b"model,provider,input_per_mtok,output_per_mtok\nalpha,acme,2,8\nbeta,acme,1,4\n", "s.csv", "mine"
    )
    text = "query_id,model,correct,input_tokens,output_tokens\n1,alpha,1,500000,250000\n1,beta,0,1000000,0\n"
    ds = parse_long_csv(text, sheet="mine", con=con)
    assert ds.costs.tolist() == [[pytest.approx(1.0 + 2.0), pytest.approx(1.0)]]
    assert "'mine'" in ds.cost_basis


@pytest.mark.parametrize(
    "text, words",
    [
        ("", ["empty"]),
        ("query_id,model,correct,cost_usd\n", ["no rows"]),
        ("query_id,correct,cost_usd\n1,1,1\n", ["missing column", "model"]),
        ("query_id,model,cost_usd\n1,a,1\n", ["missing column", "correct"]),
        ("query_id,model,correct\n1,a,1\n", ["missing column", "cost_usd"]),
        ("query_id,model,score,cost_usd\n1,a,1.5,1\n1,b,0,1\n", ["1.5", "outside 0..1", "'a'"]),
        ("query_id,model,score,cost_usd\n1,a,-0.1,1\n1,b,0,1\n", ["outside 0..1"]),
        ("query_id,model,correct,cost_usd\n1,a,0.5,1\n1,b,0,1\n", ["correct must be 0/1"]),
        ("query_id,model,correct,cost_usd\n1,a,1,1\n2,a,0,1\n", ["only one model", "a"]),
        ("query_id,model,correct,cost_usd\n1,a,1,1\n1,a,0,1\n1,b,1,1\n", ["more than one row", "'a'"]),
        ("query_id,model,correct,cost_usd\n1,a,1,1\n1,b,1,1\n2,a,1,1\n", ["query '2'", "no row for model", "b"]),
        ("query_id,model,correct,cost_usd\n1,a,1,abc\n1,b,1,1\n", ["cost_usd", "'abc'", "not a number"]),
        ("query_id,model,correct,cost_usd\n1,a,1,-1\n1,b,1,1\n", ["negative cost"]),
        (
            "query_id,model,correct,input_tokens,output_tokens\n1,no-such-model-xyz,1,10,10\n1,gpt-4o,1,10,10\n",
            ["no-such-model-xyz", "no price"],
        ),
        ("query_id,model,correct,cost_usd,router_r\n1,a,1,1,0.1\n1,b,1,1,0.9\n", ["router_r", "one number per query"]),
    ],
)
def test_bad_input_is_named(text, words):
    with pytest.raises(SimulationError) as e:
        parse_long_csv(text, name="bad.csv")
    for w in words:
        assert w in e.value.msg, e.value.msg


def test_unknown_strong_model_names_the_models(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text(SMALL)
    with pytest.raises(SimulationError, match="no model 'gpt-9'.*cheap, mid, big"):
        load_dataset(p, strong="gpt-9")


def test_gzip_and_auto_format(tmp_path):
    p = tmp_path / "s.csv.gz"
    p.write_bytes(gzip.compress(SMALL.encode()))
    assert load_dataset(p).n_queries == 4
    with pytest.raises(SimulationError, match="no such file"):
        load_dataset(tmp_path / "missing.csv")
    with pytest.raises(SimulationError, match="unknown format"):
        load_dataset(p, fmt="xlsx")


# ---------------------------------------------------------------------- property test
cell = st.one_of(
    st.floats(min_value=-2, max_value=3),
    st.sampled_from(["", "true", "no", "x", "1e400", "nan"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_q=st.integers(1, 4),
    models=st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=4, unique=True),
    scores=st.lists(cell, min_size=16, max_size=16),
    costs=st.lists(cell, min_size=16, max_size=16),
    drop=st.one_of(st.none(), st.integers(0, 15)),
    dup=st.one_of(st.none(), st.integers(0, 15)),
)
def test_long_csv_accepts_exactly_the_good_tables(n_q, models, scores, costs, drop, dup):
    rows = [(f"q{i}", m) for i in range(n_q) for m in models]
    if drop is not None and drop < len(rows):
        rows.pop(drop)
    if dup is not None and dup < len(rows):
        rows.append(rows[dup])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["query_id", "model", "score", "cost_usd"])
    written = {}
    for k, (q, m) in enumerate(rows):
        s, c = scores[k % 16], costs[k % 16]
        w.writerow([q, m, s, c])
        written[(q, m)] = (s, c)
    try:
        ds = parse_long_csv(buf.getvalue(), name="gen.csv")
    except SimulationError as e:
        assert e.msg.startswith("gen.csv") and len(e.msg) < 400
        return
    # Accepted: every (query, model) once, at least two models, numbers in range, as written.
    assert len(models) >= 2 and len(rows) == n_q * len(models) == len(set(rows))
    for i, q in enumerate(ds.query_ids):
        for j, m in enumerate(ds.models):
            s, c = written[(q, m)]
            s = {"true": 1.0, "no": 0.0}.get(s, s) if isinstance(s, str) else s
            assert ds.scores[i, j] == pytest.approx(float(s)) and 0 <= ds.scores[i, j] <= 1
            assert ds.costs[i, j] == pytest.approx(float(c)) and ds.costs[i, j] >= 0


# ---------------------------------------------------------------------- shipped data
def _raw_csv(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_builtins_list_existing_files():
    keys = [b.key for b in builtin_datasets()]
    assert keys == ["routellm-mmlu", "routellm-gsm8k", "routellm-mtbench", "frugalgpt-overruling"]
    for b in builtin_datasets():
        assert b.path.exists(), b.path
    assert (DATA_DIR / "routellm" / "LICENSE").is_file() and (DATA_DIR / "frugalgpt" / "LICENSE").is_file()


def test_frugalgpt_costs_and_correctness_are_the_files():
    ds = load_builtin("frugalgpt-overruling")
    raw = _raw_csv(DATA_DIR / "frugalgpt" / "overruling_per_query.csv.gz")
    assert ds.n_queries == len(raw) == 2160 and len(ds.models) == 12
    for m in ("gpt-4", "gptj_6B", "medium"):
        j = ds.index(m)
        assert ds.costs[:, j].sum() == pytest.approx(sum(float(r[f"{m}_cost"]) for r in raw))
        assert ds.scores[:, j].sum() == sum(int(r[m]) for r in raw)
    assert ds.cost_measured and ds.answers["gpt-4"][0] == raw[0]["gpt-4_answer"]


def test_routellm_mmlu_and_gsm8k_correctness_are_the_files():
    mmlu = load_builtin("routellm-mmlu")
    assert mmlu.n_queries == 14042 and mmlu.models[1] == "gpt-4-1106-preview"
    assert not mmlu.cost_measured and "assumed" in mmlu.cost_basis and "24.7" in mmlu.cost_basis
    gsm = load_builtin("routellm-gsm8k")
    raw = _raw_csv(DATA_DIR / "routellm" / "gsm8k" / "gsm8k_responses.csv.gz")
    assert gsm.n_queries == len(raw) == 1319
    assert gsm.scores[:, 1].sum() == sum(r["gpt-4-1106-preview"] == "True" for r in raw)
    # priced per token at RouteLLM's prices: GPT-4 dearer per token by 24.7 / 0.24
    assert (gsm.costs[:, 1] > gsm.costs[:, 0]).all()
    assert gsm.flags["contaminated"].sum() > 0


def test_routellm_mtbench_is_the_mean_of_both_turns():
    ds = load_builtin("routellm-mtbench")
    with gzip.open(DATA_DIR / "routellm" / "mt_bench" / "judgements.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    q = ds.query_ids[0]
    for j, m in enumerate(ds.models):
        turns = [r["score"] for r in rows if str(r["question_id"]) == q and r["model"] == m]
        assert len(turns) == 2
        assert ds.scores[0, j] == pytest.approx(statistics.mean(turns) / 10)
    assert ds.n_queries == 80 and ds.score_scale == 10
    assert ds.queries[0] and np.isfinite(ds.costs).all()


def test_routellm_style_file_with_other_models(tmp_path):
    p = tmp_path / "my_responses.csv"
    p.write_text('prompt,gpt-4o-mini,gpt-4o\n"What is 2+2?",True,True\n"Hard one",False,True\n')
    ds = load_dataset(p)  # auto: a prompt column and one True/False column per model
    assert ds.models == ["gpt-4o-mini", "gpt-4o"] and ds.scores.tolist() == [[1, 1], [0, 1]]
    assert "sheet 'litellm' for gpt-4o-mini, gpt-4o" in ds.cost_basis
    assert (ds.costs[:, 1] > ds.costs[:, 0]).all()
    p.write_text('prompt,gpt-4o-mini,gpt-4o\n"q",maybe,True\n')
    with pytest.raises(SimulationError, match="'gpt-4o-mini' row 2 is 'maybe'"):
        load_dataset(p)
    p.write_text('prompt,no-such-model-xyz,gpt-4o\n"q",True,True\n')
    with pytest.raises(SimulationError, match="no-such-model-xyz.*no price"):
        load_dataset(p)


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 12),
    m=st.integers(2, 5),
    seed=st.integers(0, 10_000),
)
def test_oracle_point_is_the_cheapest_best_model_per_query(n, m, seed):
    from llmledger.simulate.datasets import OutcomeDataset

    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 3, (n, m)) / 2  # 0, 0.5, 1: ties on purpose
    costs = rng.integers(1, 4, (n, m)) / 10  # ties in cost too
    ds = OutcomeDataset("gen", "test", [str(i) for i in range(n)], [f"m{j}" for j in range(m)], scores, costs, "g", "g")
    acc = cost = 0.0
    for i in range(n):
        best = max(scores[i])
        cheapest = min(costs[i][j] for j in range(m) if scores[i][j] == best)
        acc += best
        cost += cheapest
    o = oracle_point(ds)
    assert o["accuracy"] == pytest.approx(acc / n) and o["cost_usd"] == pytest.approx(cost)
    assert sum(o["picks"].values()) == n
    pts = model_points(ds)
    for j in range(m):
        assert pts[f"m{j}"]["accuracy"] == pytest.approx(scores[:, j].mean())
        assert pts[f"m{j}"]["cost_usd"] == pytest.approx(costs[:, j].sum())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(alphabet='prompt,query_id,model,correct,True,False,_cost,ref_answer,"\n 01.x{}:', max_size=300),
    ),
    fmt=st.sampled_from(["auto", "long", "routellm-gsm8k", "routellm-mtbench", "frugalgpt", "routellm-mmlu"]),
)
def test_any_file_is_read_or_rejected_with_a_reason(tmp_path_factory, body, fmt):
    p = tmp_path_factory.mktemp("fuzz") / (
        "judgements.jsonl" if fmt == "routellm-mtbench" else "mmlu_x.csv" if fmt == "routellm-mmlu" else "data.csv"
    )
    p.write_bytes(body if isinstance(body, bytes) else body.encode())
    try:
        ds = load_dataset(p, fmt=fmt)
    except SimulationError as e:
        assert e.msg and "\n" not in e.msg.strip()
        return
    assert ds.n_queries >= 1 and len(ds.models) >= 2
    assert ((ds.scores >= 0) & (ds.scores <= 1)).all() and (ds.costs >= 0).all()
