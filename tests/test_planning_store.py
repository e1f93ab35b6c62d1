"""Versioning round trip on a real DuckDB file, comparison, duplication and exports."""

from __future__ import annotations

import json

import pytest

from llmledger.errors import PlanningError
from llmledger.planning import store
from llmledger.planning.requirements import RequirementSet, UseCase


def example_set() -> RequirementSet:
    return RequirementSet(
        name="Example plan",
        description="Support assistant and document summaries",
        start_month="2026-03",
        candidates=["gpt-4o-mini"],
        use_cases=[
            UseCase(
                name="Support chat",
                requests_per_day=20_000,
                input_tokens=1800,
                output_tokens=250,
                monthly_budget_usd=1500.0,
                feature_tag="support",
            ),
            UseCase(name="Nightly summaries", requests_per_day=800, batch_share=1.0),
        ],
    )


def test_migration_creates_the_versions_table(con):
    names = {r[0] for r in con.execute("SELECT name FROM _migrations").fetchall()}
    assert "n001_plan_versions" in names
    assert con.execute("SELECT count(*) FROM plan_versions").fetchone()[0] == 0


def test_save_load_round_trip_is_lossless(con, db_path):
    rs = example_set()
    rs.use_cases[0].input_token_samples = [1200, 1900, 2400]
    rs.use_cases[1].seasonality = [0.8] * 6 + [1.2] * 6
    rs.candidates = ["gpt-4o-mini", "claude-3-5-haiku"]
    assert store.save(con, rs, note="first") == 1
    con.close()
    from llmledger.store.db import connect

    con2 = connect(db_path)  # a fresh connection: it really went to disk
    back = store.load(con2, rs.name)
    assert back.version == 1
    assert back.to_dict() == rs.to_dict()
    assert back.use_cases[0].mean_input_tokens == pytest.approx(5500 / 3)
    con2.close()


def test_each_save_appends_a_version_and_old_ones_stay(con):
    rs = example_set()
    store.save(con, rs)
    rs.use_cases[0].requests_per_day = 50_000
    rs.use_cases.append(UseCase(name="Search rerank", requests_per_day=1e5, input_tokens=300, output_tokens=5))
    assert store.save(con, rs, note="bigger") == 2
    assert store.load(con, rs.name, 1).use_cases[0].requests_per_day == 20_000
    assert store.load(con, rs.name).use_cases[0].requests_per_day == 50_000
    v = store.list_versions(con, rs.name)
    assert list(v["version"]) == [2, 1]
    assert list(v["note"]) == ["bigger", ""]
    assert list(v["use_cases"]) == [3, 2]
    plans = store.list_plans(con)
    assert list(plans["plan"]) == [rs.name] and int(plans["versions"][0]) == 2


def test_compare_two_versions_lists_exactly_the_changes(con):
    rs = example_set()
    store.save(con, rs)
    rs.use_cases[0].requests_per_day = 25_000
    rs.use_cases[1].seasonality = [1.0] * 11 + [2.0]
    rs.horizon_months = 24
    del rs.use_cases[1:]
    rs.use_cases.append(UseCase(name="Agent"))
    store.save(con, rs)
    diff = store.compare(store.load(con, rs.name, 1), store.load(con, rs.name, 2))
    rows = {(r.where, r.field): (r.a, r.b) for r in diff.itertuples()}
    assert rows == {
        ("Nightly summaries", "(use case)"): ("present", "removed"),
        ("Agent", "(use case)"): ("absent", "added"),
        ("plan", "horizon_months"): ("12", "24"),
        ("Support chat", "requests_per_day"): ("20,000", "25,000"),
    }


def test_duplicate_copies_a_version_into_a_new_plan(con):
    rs = example_set()
    store.save(con, rs)
    rs.description = "changed"
    store.save(con, rs)
    copy = store.duplicate(con, rs.name, "Copy of example", version=1)
    assert copy.version == 1 and copy.description == "Support assistant and document summaries"
    assert store.load(con, "Copy of example").description == copy.description
    with pytest.raises(PlanningError, match="already exists"):
        store.duplicate(con, rs.name, "Copy of example")


def test_invalid_sets_are_not_saved(con):
    rs = RequirementSet(name="bad", use_cases=[UseCase(name="x", requests_per_day=-1)])
    with pytest.raises(PlanningError, match="Requests per day cannot be negative"):
        store.save(con, rs)
    assert store.list_plans(con).empty
    with pytest.raises(PlanningError, match="plan 'bad' does not exist"):
        store.load(con, "bad")


def test_json_export_round_trips_and_markdown_is_labelled():
    rs = example_set()
    rs.version = 3
    text = store.to_json(rs)
    assert json.loads(text)["use_cases"][0]["name"] == "Support chat"
    assert store.from_json_text(text).to_dict() == rs.to_dict()
    md = store.to_markdown(rs)
    assert md.startswith("# Example plan (v3)\n")
    assert "## Support chat" in md and "### Technical" in md
    assert "| Requests per day | 20,000 requests |" in md
    assert "| Privacy | Any provider (hosted APIs allowed) |" in md
    with pytest.raises(PlanningError, match="not a plan export"):
        store.from_json_text("[1, 2]")
