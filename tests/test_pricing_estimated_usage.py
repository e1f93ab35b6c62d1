"""Estimated usage: calls without usage but with text get token counts from the model's
tokenizer (usage_source='estimated'), and are then priced like any other call."""

from __future__ import annotations

from decimal import Decimal

from llmledger.pricing import hooks, sheets
from llmledger.tokens import count_text

PROMPT = "Summarise the quarterly report in three bullet points, keeping every figure exact. " * 5
ANSWER = "- Revenue rose 12%\n- Costs fell 3%\n- Headcount was flat"


def _insert(con, span, model, input_text, output_text, i=None, o=None, source="missing"):
    con.execute(
        """INSERT INTO calls (trace_id, span_id, request_model, input_tokens, output_tokens, usage_source,
                   convention, status, input_text, output_text) VALUES ('t', ?, ?, ?, ?, ?, 'test', 'ok', ?, ?)""",
        [span, model, i, o, source, input_text, output_text],
    )


def test_fill_estimated_usage(con):
    _insert(con, "a", "gpt-4o", PROMPT, ANSWER)
    _insert(con, "b", "claude-3-5-haiku-20241022", PROMPT, None)
    _insert(con, "c", "gpt-4o", PROMPT, ANSWER, i=7, o=3, source="reported")  # reported usage is kept
    _insert(con, "d", "gpt-4o", None, None)  # nothing to count: stays missing
    assert hooks.fill_estimated_usage(con) == 2
    rows = {
        r[0]: r[1:]
        for r in con.execute("SELECT span_id, input_tokens, output_tokens, usage_source FROM calls").fetchall()
    }
    assert rows["a"] == (
        count_text(PROMPT, model="gpt-4o").tokens,
        count_text(ANSWER, model="gpt-4o").tokens,
        "estimated",
    )
    assert rows["b"] == (count_text(PROMPT, model="claude-3-5-haiku-20241022").tokens, None, "estimated")
    assert rows["c"] == (7, 3, "reported")
    assert rows["d"] == (None, None, "missing")
    assert hooks.fill_estimated_usage(con) == 0  # idempotent
    sheets.import_sheet_bytes(con, b"model,input_per_mtok,output_per_mtok\ngpt-4o,2.5,10\n", "list.csv")
    sheets.set_active_sheet(con, "list")
    cost = con.execute("SELECT cost_usd FROM llm_calls WHERE span_id = 'a'").fetchone()[0]
    n_in, n_out = rows["a"][:2]
    assert cost == (Decimal(n_in) * Decimal("2.5") + Decimal(n_out) * 10) / 10**6
    assert con.execute("SELECT cost_usd FROM llm_calls WHERE span_id = 'd'").fetchone()[0] is None


def test_after_load_hook_in_a_transaction(con):
    _insert(con, "a", "gpt-4o", PROMPT, ANSWER)
    con.execute("BEGIN")
    hooks.after_load(con, ["t"])
    con.execute("COMMIT")
    row = con.execute("SELECT usage_source, price_missing, cost_usd > 0 FROM llm_calls").fetchone()
    assert row == ("estimated", False, True)
