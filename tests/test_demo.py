"""Demo data: made by the real OpenTelemetry SDK, loaded through the real OTLP import path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from llmledger.reads import calls as rc
from llmledger.reads import filters as rf
from llmledger.telemetry import demo, otlp

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


def test_demo_batches_are_otlp_protobuf_from_the_sdk():
    batches = list(demo.generate_batches(n_calls=300, seed=3, now=NOW, traces_per_batch=100))
    assert len(batches) >= 2 and batches[-1][1] == len(batches)
    decoded = otlp.decode_protobuf(batches[0][2])
    assert decoded.rejects == [] and len(decoded.spans) > 100
    scopes = {s.scope_name for s in decoded.spans}
    assert {"traceloop.tracer", "openinference.instrumentation.llama_index", "ai", "litellm"} & scopes
    assert all(s.resource.get("llmledger.demo") is True for s in decoded.spans)
    assert all(str(s.resource["service.name"]).startswith("demo-") for s in decoded.spans)
    window = (NOW - timedelta(days=91)).timestamp() * 1e9, NOW.timestamp() * 1e9
    assert all(window[0] <= s.start_ns <= s.end_ns <= window[1] for s in decoded.spans)
    again = list(demo.generate_batches(n_calls=300, seed=3, now=NOW, traces_per_batch=100))
    assert [b[2] for b in again] == [b[2] for b in batches]  # same seed and time: same bytes


def test_generate_loads_mixed_conventions_and_remove_empties(con):
    seen = []
    result = demo.generate(con, n_calls=2000, now=NOW, progress=lambda d, t, m: seen.append((d, t, m)))
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] and "demo calls" in seen[-1][2]
    assert result.rejects == [] and 1700 <= result.calls_new <= 2300
    cur = con.cursor()
    rows = cur.execute(
        """SELECT count(*), count_if(is_demo), count(DISTINCT convention),
                  count_if(usage_source = 'missing') / count(*), count_if(status = 'error'),
                  count(DISTINCT provider), count(DISTINCT service), count(DISTINCT environment),
                  min(start_time), max(start_time)
           FROM llm_calls"""
    ).fetchone()
    total, demo_rows, conventions, missing_share, errors, providers, services, envs, first, last = rows
    assert demo_rows == total == result.calls_new
    assert conventions >= 4, "expected a mix of instrumentation conventions"
    assert 0.02 <= missing_share <= 0.10
    assert errors >= 5 and providers >= 3 and services >= 6 and envs == 3
    assert (last - first).days >= 80
    # Every call with a feature has a demo-prefixed one; the notebook traffic has none at all.
    by_feature = rc.breakdown(cur, rf.CallFilter.build(), "feature").set_index("grp")["calls"]
    assert all(f.startswith("demo-") for f in by_feature.index if f != rf.UNATTRIBUTED)
    assert by_feature.get(rf.UNATTRIBUTED, 0) > 0
    # Wrapper spans (workflows, Vercel's generateText, LiteLLM's raw request) are not calls.
    spans = cur.execute("SELECT count(*) FROM spans WHERE is_demo").fetchone()[0]
    assert spans > total
    doubles = cur.execute(
        """SELECT count(*) FROM calls c JOIN calls p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id"""
    ).fetchone()[0]
    assert doubles == 0, "a wrapper and its model call were both counted"
    # Weekdays are busier than weekends (office-hours traffic dominates).
    weekday, weekend = cur.execute(
        """SELECT count_if(isodow(start_time) <= 5) / 5, count_if(isodow(start_time) > 5) / 2 FROM calls"""
    ).fetchone()
    assert weekday > 1.5 * weekend

    assert demo.generate(con, n_calls=2000, now=NOW).calls_new == 0  # same day and seed: nothing new
    assert demo.remove(con) == total
    assert cur.execute("SELECT count(*) FROM llm_calls").fetchone()[0] == 0
    assert cur.execute("SELECT count(*) FROM spans").fetchone()[0] == 0


def test_demo_rows_are_removed_but_real_rows_stay(con):
    from pathlib import Path

    from llmledger.telemetry import loader

    real = Path(__file__).parent / "data" / "otlp" / "raw" / "in.json"
    loader.load(con, otlp.decode_json(real.read_bytes()), batch_id="real", source="tests")
    demo.generate(con, n_calls=300, now=NOW)
    cur = con.cursor()
    assert rc.call_count(cur, demo_only=True) > 0
    demo.remove(con)
    assert rc.call_count(cur) == 1 and rc.call_count(cur, demo_only=True) == 0


# ---------------------------------------------------------------- the demo ledger, through the receiver
# Properties of the traffic the what-if levers read (simulate/levers), computed from the ledger a
# real receiver filled (demo_ledger.py), never from the generator's own numbers.


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    from demo_ledger import demo_ledger

    from llmledger.store.db import connect

    path = tmp_path_factory.mktemp("demo_ledger") / "ledger.duckdb"
    posted = demo_ledger(path)
    assert posted["traces"] > 0 and posted["logs"] > 0
    con = connect(path)
    yield con.cursor()
    con.close()


def test_features_teams_users_and_models_agree(ledger):
    cur = ledger
    # one team per feature; one kind of user per feature (customers, employees, developers...)
    teams = dict(
        cur.execute("SELECT feature, count(DISTINCT team) FROM calls WHERE feature IS NOT NULL GROUP BY 1").fetchall()
    )
    assert len(teams) >= 6 and set(teams.values()) == {1}, teams
    kinds = dict(
        cur.execute(
            """SELECT feature, count(DISTINCT regexp_replace(user_id, '-[0-9]+$', ''))
               FROM calls WHERE feature IS NOT NULL AND user_id IS NOT NULL GROUP BY 1"""
        ).fetchall()
    )
    assert kinds and set(kinds.values()) == {1}, kinds
    # a feature either only embeds or only chats, and the models match the operation
    rows = cur.execute(
        """SELECT feature, count_if(operation = 'embeddings') AS emb, count(*) AS n,
                  count_if(operation = 'embeddings' AND request_model NOT LIKE '%embedding%') AS emb_chat_model,
                  count_if(operation <> 'embeddings' AND request_model LIKE '%embedding%') AS chat_emb_model
           FROM calls GROUP BY 1"""
    ).fetchall()
    assert all(emb in (0, n) for _, emb, n, _, _ in rows), rows
    assert any(emb == n > 0 for _, emb, n, _, _ in rows), "an embedding-only feature"
    assert all(a == b == 0 for *_, a, b in rows), rows
    # embedding calls carry no chat messages
    assert (
        cur.execute(
            """SELECT count(*) FROM call_messages m JOIN calls c USING (trace_id, span_id)
               WHERE c.operation = 'embeddings'"""
        ).fetchone()[0]
        == 0
    )


def test_most_chat_calls_carry_their_messages(ledger):
    cur = ledger
    n_chat, with_text, with_all_roles = cur.execute(
        """WITH roles AS (SELECT trace_id, span_id, count(DISTINCT role) FILTER (WHERE role IN ('system', 'user'))
                          AS r, count(*) FILTER (WHERE kind = 'output') AS outs
                          FROM call_messages GROUP BY 1, 2)
           SELECT count(*), count(c.input_text), count_if(r.r = 2 AND r.outs > 0)
           FROM calls c LEFT JOIN roles r USING (trace_id, span_id)
           WHERE c.operation <> 'embeddings' AND c.status = 'ok'"""
    ).fetchone()
    assert with_text >= 0.8 * n_chat, (with_text, n_chat)
    assert with_all_roles >= 0.5 * n_chat  # a system prompt, a user message and an answer
    # earlier assistant turns travel as input (history), and tool results as well
    roles = dict(cur.execute("SELECT role, count(*) FROM call_messages WHERE kind = 'input' GROUP BY 1").fetchall())
    assert roles.get("assistant", 0) > 0 and roles.get("tool", 0) > 0, roles
    assert cur.execute("SELECT count(*) FROM call_messages WHERE tool_calls IS NOT NULL").fetchone()[0] > 0


def test_sessions_carry_their_growing_history(ledger):
    cur = ledger
    n_sessions, multi, long_ = cur.execute(
        """SELECT count(*), count_if(n >= 2), count_if(n >= 8)
           FROM (SELECT session_id, count(*) AS n FROM calls WHERE session_id IS NOT NULL GROUP BY 1)"""
    ).fetchone()
    assert multi >= 20 and long_ >= 3, (n_sessions, multi, long_)
    # within a session, each call's input holds the one before it and its answer
    grows, pairs = cur.execute(
        """SELECT count_if(input_tokens >= prev_in + prev_out / 2), count(*) FROM (
               SELECT input_tokens, lag(input_tokens) OVER w AS prev_in, lag(output_tokens) OVER w AS prev_out
               FROM calls WHERE session_id IS NOT NULL AND input_tokens IS NOT NULL
               WINDOW w AS (PARTITION BY session_id ORDER BY start_time))
           WHERE prev_in IS NOT NULL"""
    ).fetchone()
    assert pairs > 50 and grows >= 0.6 * pairs, (grows, pairs)


def test_repeats_near_duplicates_and_shared_prefixes(ledger):
    from llmledger.telemetry.content import normalise

    cur = ledger
    df = cur.execute(
        """SELECT feature, coalesce(response_model, request_model) AS model, start_time, trace_id,
                  input_text, output_text, input_tokens
           FROM calls WHERE input_text IS NOT NULL AND status = 'ok' ORDER BY start_time"""
    ).df()
    # exact repeats within an hour, and repeats that differ only in case or spacing
    t = df["start_time"].astype("int64") // 10**9
    exact = norm = 0
    last_exact, last_norm = {}, {}
    for model, text, ts in zip(df["model"], df["input_text"], t):
        k, nk = (model, text), (model, normalise(text).casefold())
        if ts - last_exact.get(k, -(10**12)) <= 3600:
            exact += 1
        elif ts - last_norm.get(nk, -(10**12)) <= 3600:
            norm += 1
        last_exact[k], last_norm[nk] = ts, ts
    assert exact >= 0.02 * len(df) and norm > 0, (exact, norm, len(df))
    # near-duplicates: the same retrieved context, other questions, and not always the same answer
    rag = df[df["input_text"].str.contains("\n\nQuestion: ", regex=False)]
    ctx = rag["input_text"].str.split("\n\nQuestion: ").str[0]
    grouped = rag.assign(ctx=ctx, q=rag["input_text"].str.split("\n\nQuestion: ").str[1]).groupby("ctx")
    near = [(g["q"].nunique(), g["output_text"].nunique()) for _, g in grouped if g["q"].nunique() > 1]
    assert near and any(answers > 1 for _, answers in near), near[:5]
    # agent loops: the same call twice inside one trace
    loops = df.groupby(["trace_id", "model", "input_text"]).size()
    assert (loops > 1).sum() >= 3
    # a shared system prompt long enough for a provider's prompt cache (1,024 tokens, o200k)
    from llmledger import tokens

    enc = tokens.get("o200k_base")
    shared = cur.execute(
        "SELECT content, count(*) FROM call_messages WHERE role = 'system' GROUP BY 1 ORDER BY 2 DESC LIMIT 8"
    ).fetchall()
    assert any(enc.count(text) >= 1024 and uses >= 0.05 * len(df) for text, uses in shared)
    # long prompts for compression
    assert (df["input_tokens"] >= 2000).sum() >= 20


def test_cache_reads_batch_hours_and_output_tails(ledger):
    cur = ledger
    reads, over = cur.execute(
        "SELECT count_if(cache_read_tokens > 0), count_if(cache_read_tokens > input_tokens) FROM calls"
    ).fetchone()
    assert reads >= 20 and over == 0
    assert cur.execute("SELECT count_if(cache_write_tokens > 0) FROM calls").fetchone()[0] > 0
    # a feature that runs at night (a batch job nobody waits for)
    night = cur.execute(
        """SELECT max(share) FROM (SELECT feature, avg(CASE WHEN hour(start_time) < 6 THEN 1 ELSE 0 END) AS share
           FROM calls WHERE feature IS NOT NULL GROUP BY 1 HAVING count(*) > 50)"""
    ).fetchone()[0]
    assert night >= 0.7
    # each chat feature's output tokens have a tail above their median
    tails = cur.execute(
        """SELECT feature, quantile_cont(output_tokens, 0.99) / quantile_cont(output_tokens, 0.5)
           FROM calls WHERE operation <> 'embeddings' AND output_tokens > 0 AND feature IS NOT NULL GROUP BY 1"""
    ).fetchall()
    assert tails and all(r > 1.2 for _, r in tails), tails
