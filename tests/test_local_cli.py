"""`python -m llmledger bench-local`: the lab's measurements from the command line."""

import json
import subprocess
import sys

import pytest
from helpers import ROOT, subprocess_env


def _cli(*args, **env):
    return subprocess.run(
        [sys.executable, "-m", "llmledger", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=subprocess_env(**env),
        timeout=600,
    )


@pytest.mark.llama
def test_bench_local_json(db_path, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("What is the capital of France?\n\nName a colour.\n")
    p = _cli(
        "bench-local",
        "--model",
        "smollm2",
        "--quant",
        "Q4_1,Q8_0",
        "--runs",
        "2",
        "--max-tokens",
        "4",
        "--ctx",
        "256",
        "--threads",
        "2",
        "--prompts",
        str(prompts),
        "--json",
        "--db",
        str(db_path),
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert [v["name"] for v in doc["variants"]] == ["Q4_1", "Q8_0"]
    assert doc["variants"][1]["requantized_from"] == "Q4_1"
    assert len(doc["runs"]) == 2 * 2 * 2  # variants x runs x prompts (blank lines skipped)
    assert {r["prompt_id"] for r in doc["runs"]} == {"p1", "p2"}
    for row in doc["summary"]:
        for key in ("load_s", "peak_rss_mb", "ttft_ms", "prompt_tps", "gen_tps", "e2e_ms"):
            assert row[key] > 0, key
    assert doc["recorded"] is True
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM local_runs").fetchone()[0] == 8


@pytest.mark.parametrize(
    "args, reason",
    [
        (["--model", "no-such-model"], "neither a known model"),
        (["--quant", "Q9_Z", "--no-record"], "unknown file type"),
        (["--runs", "0"], "at least 1"),
        (["--prompts", "nonexistent-set"], "prompt set"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(args, reason):
    p = _cli("bench-local", *args)
    assert p.returncode != 0
    assert len(p.stderr.strip().splitlines()) == 1 and reason in p.stderr
