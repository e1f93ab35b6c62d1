"""LLMLEDGER_CONTENT=keep|hash|drop, applied at ingest to span attributes and events alike.

Under hash and drop no message text may be stored anywhere: every column of every table is
searched (spans included). Under hash each message keeps a sha256 of its normalised text and its
token count, so exact repeats are still recognisable.
"""

from __future__ import annotations

import json

import pytest
from genai_payloads import call_ids, logs_request, spans_request, tables_holding

from llmledger.store.db import connect
from llmledger.telemetry import content, loader, otlp
from llmledger.telemetry.content import ContentPolicyError


def _kv(k, v):
    return {"key": k, "value": {"intValue": v} if isinstance(v, int) else {"stringValue": v}}


def dialect_spans() -> bytes:
    """One call per dialect, each carrying its text the way that dialect does (SECRET-<n>)."""
    msgs = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "SECRET-1 current input"}]}])
    outs = json.dumps(
        [
            {
                "role": "assistant",
                "parts": [
                    {"type": "text", "content": "SECRET-2 current output"},
                    {"type": "tool_call", "name": "lookup", "arguments": {"q": "SECRET-3 tool args"}},
                ],
                "finish_reason": "tool_call",
            }
        ]
    )
    spans = [
        [
            _kv("gen_ai.operation.name", "chat"),
            _kv("gen_ai.request.model", "gpt-4o"),
            _kv("gen_ai.system_instructions", json.dumps([{"type": "text", "content": "SECRET-0 be brief"}])),
            _kv("gen_ai.input.messages", msgs),
            _kv("gen_ai.output.messages", outs),
        ],
        [
            _kv("openinference.span.kind", "LLM"),
            _kv("llm.model_name", "gpt-4o"),
            _kv("llm.input_messages.0.message.role", "user"),
            _kv("llm.input_messages.0.message.content", "SECRET-4 oi input"),
            _kv("llm.output_messages.0.message.role", "assistant"),
            _kv("llm.output_messages.0.message.content", "SECRET-5 oi output"),
            _kv("input.value", "SECRET-6 oi raw input"),
            _kv("output.value", "SECRET-7 oi raw output"),
        ],
        [
            _kv("gen_ai.operation.name", "chat"),
            _kv("gen_ai.request.model", "gpt-4o"),
            _kv("traceloop.entity.input", "SECRET-8 entity input"),
            _kv("gen_ai.prompt.0.role", "user"),
            _kv("gen_ai.prompt.0.content", "SECRET-9 flat prompt"),
            _kv("gen_ai.completion.0.content", "SECRET-10 flat completion"),
        ],
        [  # OpenLIT-style span events, no usage: estimated from text (keep) or message tokens (hash)
            _kv("gen_ai.operation.name", "chat"),
            _kv("gen_ai.system", "openai"),
            _kv("gen_ai.request.model", "gpt-4o"),
        ],
    ]
    keys = call_ids(len(spans), 99)
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [_kv("service.name", "policy")]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": tid,
                                "spanId": sid,
                                "name": "chat",
                                "kind": 3,
                                "startTimeUnixNano": str(1_700_000_000_000_000_000 + i),
                                "endTimeUnixNano": str(1_700_000_001_000_000_000 + i),
                                "attributes": attrs
                                + (
                                    [_kv("gen_ai.usage.input_tokens", 5), _kv("gen_ai.usage.output_tokens", 2)]
                                    if i < 3
                                    else []
                                ),
                                "events": [
                                    {
                                        "name": "gen_ai.content.prompt",
                                        "attributes": [_kv("gen_ai.prompt", "SECRET-11 event prompt")],
                                    },
                                    {
                                        "name": "gen_ai.content.completion",
                                        "attributes": [_kv("gen_ai.completion", "SECRET-12 event answer")],
                                    },
                                ]
                                if i == 3
                                else [],
                            }
                            for i, ((tid, sid), attrs) in enumerate(zip(keys, spans))
                        ]
                    }
                ],
            }
        ]
    }
    return json.dumps(doc).encode()


def load_all(con) -> None:
    keys = call_ids(3, 98)
    loader.load(con, otlp.decode_json(dialect_spans()), "dialects", "test")
    loader.load(con, otlp.decode_file_bytes("l.pb", logs_request(keys, usage_on_event=True)), "logs-a", "test")
    loader.load(con, otlp.decode_file_bytes("d.pb", logs_request(keys, details=True)), "logs-b", "test")
    loader.load(
        con, otlp.decode_file_bytes("s.pb", spans_request(keys, usage=False, text_on_span=True)), "spans", "test"
    )


@pytest.mark.parametrize("policy", ["hash", "drop"])
def test_no_text_anywhere_under_hash_and_drop(tmp_path, monkeypatch, policy):
    monkeypatch.setenv("LLMLEDGER_CONTENT", policy)
    con = connect(tmp_path / "p.duckdb")
    load_all(con)
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 7
    assert tables_holding(con, "SECRET") == []
    assert tables_holding(con, "quick brown fox") == []
    n_msgs, n_hashed, n_counted = con.execute(
        "SELECT count(*), count(content_sha256), count(tokens) FROM call_messages"
    ).fetchone()
    assert n_msgs > 0
    if policy == "hash":
        assert n_hashed == n_counted and n_hashed >= 20
        # The same text hashes alike, whatever its whitespace.
        assert content.digest("SECRET-9  flat\nprompt ") == content.digest("SECRET-9 flat prompt")
        sha = content.digest("SECRET-9 flat prompt")
        assert con.execute("SELECT count(*) FROM call_messages WHERE content_sha256 = ?", [sha]).fetchone()[0] == 1
        # A call with no usage anywhere is estimated from its messages' token counts.
        assert con.execute("SELECT count(*) FROM calls WHERE usage_source = 'estimated'").fetchone()[0] >= 1
        # Tool names stay (they are not content); their arguments do not.
        assert con.execute("SELECT count(*) FROM call_messages WHERE tool_calls LIKE '%lookup%'").fetchone()[0] == 1
    else:  # events keep their messages' roles; spans keep nothing of theirs
        assert n_hashed == n_counted == 0
        assert con.execute("SELECT count(*) FROM call_messages WHERE origin = 'span'").fetchone()[0] == 0
    con.close()


def test_keep_stores_the_text(tmp_path, monkeypatch):
    monkeypatch.delenv("LLMLEDGER_CONTENT", raising=False)
    con = connect(tmp_path / "k.duckdb")
    load_all(con)
    where = tables_holding(con, "SECRET-9 flat prompt")
    assert "spans.attributes" in where and "calls.input_text" in where
    assert "call_messages.content" in tables_holding(con, "quick brown fox")
    # The details event's messages and the per-message events of other calls both reach their calls.
    assert con.execute("SELECT count(*) FROM calls WHERE input_text LIKE '%quick brown fox%'").fetchone()[0] == 3
    con.close()


def test_policy_setting_and_environment(tmp_path, monkeypatch):
    con = connect(tmp_path / "s.duckdb")
    monkeypatch.delenv("LLMLEDGER_CONTENT", raising=False)
    assert content.policy(con) == "keep"
    content.save_policy(con, "hash")
    assert content.policy(con) == "hash"
    monkeypatch.setenv("LLMLEDGER_CONTENT", "drop")  # the environment wins while it is set
    assert content.policy(con) == "drop"
    monkeypatch.setenv("LLMLEDGER_CONTENT", "maybe")
    with pytest.raises(ContentPolicyError, match="LLMLEDGER_CONTENT='maybe' is not a content policy"):
        content.policy(con)
    with pytest.raises(ContentPolicyError, match="use keep, hash or drop"):
        content.save_policy(con, "shred")
    con.close()


def test_the_stored_setting_applies_to_the_next_load(tmp_path, monkeypatch):
    monkeypatch.delenv("LLMLEDGER_CONTENT", raising=False)
    con = connect(tmp_path / "n.duckdb")
    content.save_policy(con, "drop")
    loader.load(con, otlp.decode_json(dialect_spans()), "dialects", "test")
    assert tables_holding(con, "SECRET") == []
    con.close()
