"""`python -m llmledger plan ...` on a real DuckDB file."""

from __future__ import annotations

import json

from llmledger.cli import main
from llmledger.planning import store
from llmledger.planning.requirements import RequirementSet, UseCase
from llmledger.pricing import sheets

SHEET = "model,provider,input_per_mtok,output_per_mtok\ncheap,acme,1,2\n"


def _seed(con):
    sheets.import_sheet_bytes(con, SHEET.encode(), "s.csv", "mine")
    rs = RequirementSet(
        name="Bot",
        start_month="2026-01",
        horizon_months=12,
        sheet="mine",
        use_cases=[
            UseCase(
                name="chat",
                requests_per_day=1000,
                input_tokens=1000,
                output_tokens=500,
                growth_pct_per_month=10,
                monthly_budget_usd=70,
                model="cheap",
            )
        ],
    )
    store.save(con, rs, note="first")


def test_project_prints_the_bill_and_json(con, db_path, capsys):
    _seed(con)
    con.close()
    assert main(["plan", "project", "Bot", "--db", str(db_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # Jan 31,000 requests × $0.002 = $62; Feb 30,800 × $0.002 = $61.60; Mar 37,510 × $0.002 = $75.02
    assert data["scenarios"]["Plan"][:3] == [62.0, 61.6, 75.02]
    assert data["budget_exceeded_in"] == "2026-03"
    assert data["use_cases"][0]["budget_exceeded_in"] == "2026-03"
    assert main(["plan", "project", "Bot", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "2026-01" in out and "$62.00" in out and "budget exceeded in: 2026-03" in out


def test_list_export_import_round_trip(con, db_path, tmp_path, capsys):
    _seed(con)
    con.close()
    assert main(["plan", "export", "Bot", "--format", "json", "--db", str(db_path)]) == 0
    exported = capsys.readouterr().out
    f = tmp_path / "bot.json"
    f.write_text(exported)
    assert main(["plan", "import", str(f), "--db", str(db_path)]) == 0
    assert capsys.readouterr().out.strip() == "saved Bot v2"
    assert main(["plan", "list", "--db", str(db_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["versions"] == 2
    assert main(["plan", "export", "Bot", "--version", "1", "--db", str(db_path)]) == 0
    assert capsys.readouterr().out.startswith("# Bot (v1)")


def test_bad_input_exits_non_zero_with_one_line(db_path, tmp_path, capsys):
    assert main(["plan", "export", "Nope", "--db", str(db_path)]) == 1
    assert capsys.readouterr().err.strip() == "error: plan 'Nope' does not exist"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "use_cases": [{"name": "u", "requests_per_day": -1}]}))
    assert main(["plan", "import", str(bad), "--db", str(db_path)]) == 1
    assert "Requests per day cannot be negative" in capsys.readouterr().err
