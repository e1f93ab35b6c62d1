"""Demo data carries GenAI log events for its chat calls: shared system prompts, repeated prompts
and multi-turn history, joined to their calls; generating again adds nothing; removing the demo
removes them. On a demo ledger filled through the real receiver, every what-if lever that reads
those messages finds something to save (simulate/levers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llmledger.telemetry import demo

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_demo_events_join_repeat_and_go_with_the_demo(con):
    first = demo.generate(con, n_calls=1500, now=NOW)
    assert first.events_new > 0 and first.logs_dropped == 0
    cur = con.cursor()
    n_chat, n_calls_with_text = cur.execute(
        "SELECT count(*), count_if(EXISTS (SELECT 1 FROM call_messages m "
        "WHERE m.trace_id = c.trace_id AND m.span_id = c.span_id) AND c.input_text IS NOT NULL) "
        "FROM calls c WHERE c.operation <> 'embeddings' AND c.status = 'ok'"
    ).fetchone()
    assert n_calls_with_text >= 0.8 * n_chat > 0
    # Shared system prompts and repeated user prompts: far fewer distinct texts than messages.
    n_sys, n_sys_distinct = cur.execute(
        "SELECT count(*), count(DISTINCT content_sha256) FROM call_messages WHERE role = 'system'"
    ).fetchone()
    assert n_sys_distinct <= 12 < n_sys
    n_user, n_user_distinct = cur.execute(
        "SELECT count(*), count(DISTINCT content_sha256) FROM call_messages WHERE role = 'user'"
    ).fetchone()
    assert n_user_distinct < n_user / 2
    # Multi-turn: some calls carry an earlier assistant turn as input.
    assert cur.execute("SELECT count(*) FROM call_messages WHERE role = 'assistant' AND kind = 'input'").fetchone()[0]
    assert cur.execute("SELECT bool_and(is_demo) FROM genai_events").fetchone()[0]
    assert demo.generate(con, n_calls=1500, now=NOW).events_new == 0  # same day and seed: nothing new
    demo.remove(con)
    assert (
        cur.execute("SELECT (SELECT count(*) FROM genai_events) + (SELECT count(*) FROM call_messages)").fetchone()[0]
        == 0
    )


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    from demo_ledger import DAYS, demo_ledger

    from llmledger.store.db import connect

    path = tmp_path_factory.mktemp("demo_levers") / "ledger.duckdb"
    demo_ledger(path)
    con = connect(path)
    yield con, DAYS
    con.close()


def _saves(r) -> float:
    """The lever's share of the baseline saved, after checking the figures hang together."""
    d = r.to_dict()
    assert d["baseline_usd"] > 0 and d["calls"] > 100
    assert d["whatif_usd"] == pytest.approx(d["baseline_usd"] - d["saving_usd"], abs=1e-6)
    return d["saving_usd"] / d["baseline_usd"]


@pytest.mark.parametrize(
    "lever, params",
    [
        ("cache", {"mode": "exact", "ttl_s": 3600}),
        ("cache", {"mode": "normalised", "ttl_s": 3600}),
        ("agent-cache", {"scope": "trace"}),
        ("prompt-cache", {"lifetime": "5m"}),
        ("memory", {"strategy": "window", "k": 4}),
        ("caps", {"quantile": 0.95}),
    ],
)
def test_each_lever_finds_a_plausible_saving_on_the_demo(ledger, lever, params):
    from llmledger.simulate.levers.ledger import apply_lever

    con, days = ledger
    r = apply_lever(con, lever, days=days, **params)
    share = _saves(r.result)
    assert 0 < share < 0.6, (lever, share, r.result.metrics)
    m = r.result.metrics
    if lever == "cache":
        assert 0 < m["hit_rate"] < 0.5
    if lever == "prompt-cache":
        # the calls that report cache reads: the estimate is of the same order as what was observed
        obs = m["observed"]
        assert obs["calls"] > 0 and obs["read_tokens"] > 0
        assert 0.3 < obs["estimated_read_tokens"] / obs["read_tokens"] < 3
    if lever == "memory":
        assert m["sessions"] > 0 and m["input_tokens_saved"] > 0


def test_normalised_cache_finds_more_than_exact_and_batch_moves_the_night_job(ledger):
    from llmledger.simulate.levers.ledger import apply_lever

    con, days = ledger
    exact = apply_lever(con, "cache", days=days, mode="exact").result.metrics["hits"]
    norm = apply_lever(con, "cache", days=days, mode="normalised").result.metrics["hits"]
    assert norm > exact > 0
    # the feature that runs at night is latency-tolerant: move it to the batch prices
    night = con.execute(
        """SELECT feature FROM calls WHERE feature IS NOT NULL GROUP BY 1
           ORDER BY avg(CASE WHEN hour(start_time) < 6 THEN 1 ELSE 0 END) DESC LIMIT 1"""
    ).fetchone()[0]
    r = apply_lever(con, "batch", feature=night, days=days, features=[night])
    assert r.result.metrics["moved_calls"] > 0
    assert 0.2 < _saves(r.result) < 0.6  # batch prices are about half
