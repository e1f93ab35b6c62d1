"""Demo data carries GenAI log events for its openai-v2 calls: shared system prompts, repeated
prompts and multi-turn history, joined to their calls; generating again adds nothing; removing the
demo removes them."""

from __future__ import annotations

from datetime import UTC, datetime

from llmledger.telemetry import demo

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_demo_events_join_repeat_and_go_with_the_demo(con):
    first = demo.generate(con, n_calls=1500, now=NOW)
    assert first.events_new > 0 and first.logs_dropped == 0
    cur = con.cursor()
    n_calls_with_text = cur.execute(
        "SELECT count(*) FROM calls c WHERE EXISTS (SELECT 1 FROM call_messages m "
        "WHERE m.trace_id = c.trace_id AND m.span_id = c.span_id) AND c.input_text IS NOT NULL"
    ).fetchone()[0]
    assert n_calls_with_text > 50
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
