"""The lever engines (simulate/levers) on small call tables whose hit rates, tokens and dollars
are worked out by hand in the comments; hypothesis checks the vectorised cache and prefix
simulations against plain loops, and that outside input is accepted or refused with a reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.errors import SimulationError
from llmledger.simulate.levers import (
    ModelPrices,
    agent_cache,
    batch_api,
    check_calls,
    in_sequence,
    memory,
    output_caps,
    prompt_cache,
    response_cache,
)
from llmledger.simulate.levers.prefix import window_lcp
from llmledger.simulate.levers.response import ttl_hits

M = 1e-6
GPT = ModelPrices("gpt-x", input=2.0, output=8.0, cache_read=0.5, batch_input=1.0, batch_output=4.0)
CLAUDE = ModelPrices("claude-x", input=3.0, output=15.0, cache_read=0.3)
NOBATCH = ModelPrices("plain", input=1.0, output=2.0)
PRICES = {p.model: p for p in (GPT, CLAUDE, NOBATCH)}


def calls(rows, **defaults) -> pd.DataFrame:
    """rows of dicts; cost from the price table unless given."""
    out = []
    for r in rows:
        r = {"model": "gpt-x", "input_tokens": 100, "output_tokens": 10, **defaults, **r}
        if "cost_usd" not in r:
            p = PRICES[r["model"]]
            r["cost_usd"] = (r["input_tokens"] * p.input + r["output_tokens"] * p.output) * M
        out.append(r)
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- response cache

Q = "What is 2+2?"


def qa_calls():
    # t=0 and t=100 the same text; t=4000 differs only in case/spacing; t=4100 the same again
    return calls(
        [
            {"time": 0, "input_text": Q, "input_tokens": 100},
            {"time": 100, "input_text": Q, "input_tokens": 200},
            {"time": 4000, "input_text": "what is  2+2? ", "input_tokens": 300},
            {"time": 4100, "input_text": Q, "input_tokens": 400},
            {"time": 150, "input_text": Q, "model": "plain"},  # another model: its own key
        ]
    )


def test_exact_cache_hits_by_hand():
    # exact, TTL 1 h: Q misses at 0 (entry until 3600), hits at 100, misses at 4100 (> 3600);
    # the re-spelled question is its own key (miss). One hit: the 200-token call.
    r = response_cache(qa_calls(), ttl_s=3600, mode="exact")
    assert r.metrics["hits"] == 1 and r.metrics["cacheable_calls"] == 5
    assert r.saving_usd == pytest.approx((200 * 2 + 10 * 8) * M)
    assert r.baseline_usd == pytest.approx(qa_calls()["cost_usd"].sum())
    assert list(r.removed) == [False, True, False, False, False]


def test_normalised_cache_hits_by_hand():
    # normalised: one key for the four gpt-x calls: miss 0, hit 100, miss 4000 (4000 > 3600), hit 4100
    r = response_cache(qa_calls(), ttl_s=3600, mode="normalised")
    assert r.metrics["hits"] == 2
    assert r.saving_usd == pytest.approx((200 * 2 + 10 * 8 + 400 * 2 + 10 * 8) * M)
    assert r.metrics["hit_rate"] == pytest.approx(2 / 5)


def test_ttl_is_inclusive_and_not_refreshed_by_hits():
    df = calls([{"time": t, "input_text": Q} for t in (0, 60, 120, 121)])
    # TTL 120 s from the write at 0: 60 and 120 hit, 121 misses (hits do not extend the entry)
    r = response_cache(df, ttl_s=120)
    assert list(r.removed) == [False, True, True, False]


def test_parameters_failures_and_digests():
    df = calls(
        [
            {"time": 0, "input_text": Q, "params": "t=0"},
            {"time": 1, "input_text": Q, "params": "t=1"},  # other parameters: miss
            {"time": 2, "input_text": Q, "params": "t=0", "status": "error"},  # failed: no part
            {"time": 3, "input_text": None, "input_hash": "ab12", "params": "t=0"},
            {"time": 4, "input_text": None, "input_hash": "ab12", "params": "t=0"},  # digest repeat: hit
            {"time": 5, "input_text": None, "params": "t=0"},  # nothing to key on
        ]
    )
    r = response_cache(df, ttl_s=60)
    assert list(r.removed) == [False, False, False, False, True, False]
    assert r.metrics["cacheable_calls"] == 4
    assert any("could not take part" in n for n in r.notes)
    # normalising needs the text: digests cannot take part
    assert response_cache(df, ttl_s=60, mode="normalised").metrics["cacheable_calls"] == 2


def test_agent_cache_by_trace_and_session():
    df = calls(
        [
            {"time": 0, "trace_id": "T1", "session_id": "S", "input_text": "search: flights"},
            {"time": 1, "trace_id": "T1", "session_id": "S", "input_text": "plan trip"},
            {"time": 2, "trace_id": "T1", "session_id": "S", "input_text": "search: flights", "input_tokens": 300},
            {"time": 3, "trace_id": "T1", "session_id": "S", "input_text": "search: flights", "input_tokens": 500},
            {"time": 4, "trace_id": "T2", "session_id": "S", "input_text": "search: flights"},
        ]
    )
    r = agent_cache(df, scope="trace")
    # T1 repeats 'search: flights' twice (300 and 500 input tokens); T2's first is new in its trace
    assert r.metrics["hits"] == 2 and r.metrics["traces_with_repeats"] == 1
    assert r.saving_usd == pytest.approx((300 * 2 + 10 * 8 + 500 * 2 + 10 * 8) * M)
    s = agent_cache(df, scope="session")  # one session: T2's call is a third repeat
    assert s.metrics["hits"] == 3
    with pytest.raises(SimulationError, match="scope"):
        agent_cache(df, scope="user")


# --------------------------------------------------------------------------- prompt caching


def chars(text: str) -> list[int]:
    """One token per character: prefixes can be counted by eye."""
    return [ord(c) for c in text]


def prefix_calls():
    texts = [
        (0, "ABCDEFGHIJKLMNOP-1"),
        (60, "ABCDEFGHIJKLMNOP-2"),
        (120, "ABCDEFGHIJ-zzzz"),
        (1000, "ABCDEFGHIJKLMNOP-3"),
    ]
    return calls([{"time": t, "input_text": s, "input_tokens": len(s), "model": "claude-x"} for t, s in texts])


def test_prompt_cache_5m_by_hand():
    r = prompt_cache(prefix_calls(), PRICES, lifetime="5m", min_prefix=10, block=1, encoders={"claude-x": chars})
    # reads: call 2 shares 17 with call 1; call 3 shares 10 ('ABCDEFGHIJ'); call 4 (t=1000) has
    # nobody in [700, 1000]. Writes: call 1 writes the 17 a later call reads; the others write
    # nothing new. Claude with no write price in the sheet: 1.25 x input = 3.75 per 1M.
    assert r.metrics["read_tokens"] == 27 and r.metrics["write_tokens"] == 17
    assert r.metrics["hit_calls"] == 2 and r.metrics["hit_rate"] == pytest.approx(0.5)
    assert r.saving_usd == pytest.approx((27 * (3 - 0.3) - 17 * (3.75 - 3)) * M)


def test_prompt_cache_1h_and_minimum_prefix():
    r = prompt_cache(prefix_calls(), PRICES, lifetime="1h", min_prefix=10, block=1, encoders={"claude-x": chars})
    # 1 h: call 4 now reads 17 too; writes still 17, at 2 x input = 6 per 1M
    assert r.metrics["read_tokens"] == 44 and r.metrics["write_tokens"] == 17
    assert r.saving_usd == pytest.approx((44 * 2.7 - 17 * 3) * M)
    # a minimum of 11 tokens: the 10-token share no longer counts
    r11 = prompt_cache(prefix_calls(), PRICES, lifetime="5m", min_prefix=11, block=1, encoders={"claude-x": chars})
    assert r11.metrics["read_tokens"] == 17
    # 8-token blocks: 17 -> 16, 10 -> 8 (under the minimum of 10: nothing)
    r8 = prompt_cache(prefix_calls(), PRICES, lifetime="5m", min_prefix=10, block=8, encoders={"claude-x": chars})
    assert r8.metrics["read_tokens"] == 16 and r8.metrics["write_tokens"] == 16


def test_prompt_cache_replaces_observed_reads_and_compares():
    df = prefix_calls()
    df["cache_read_tokens"] = [0, 10, 0, 5]
    r = prompt_cache(df, PRICES, lifetime="5m", min_prefix=10, block=1, encoders={"claude-x": chars})
    # call 2 already read 10 at 0.3: the what-if adds only the 7 more it reads; call 4 reads 5
    # today and nothing in the simulation: it keeps today's cost (the what-if never undoes caching)
    assert r.saving_usd == pytest.approx((27 * 2.7 - 17 * 0.75 - 10 * 2.7) * M)
    assert r.metrics["observed"] == {
        "calls": 4,
        "read_tokens": 15,
        "estimated_read_tokens": 27,
        "hit_calls": 2,
        "estimated_hit_calls": 2,
    }


def test_prompt_cache_with_the_models_own_tokenizer():
    system = "You are a support agent for Acme. Answer briefly and politely.\n" * 100
    df = calls(
        [{"time": i * 30, "input_text": system + f"Ticket {i}: cannot log in", "model": "gpt-4o"} for i in range(4)],
        input_tokens=2000,
        cost_usd=0.005,
    )
    prices = {"gpt-4o": ModelPrices("gpt-4o", 2.5, 10.0, 1.25)}
    r = prompt_cache(df, prices, lifetime="5m", min_prefix=1024)
    from llmledger import tokens

    shared = tokens.get("o200k_base").count(system)
    assert r.metrics["tokenizers"] == {"gpt-4o": "o200k_base"}
    # OpenAI: 128-token blocks; calls 2..4 read the shared system prompt (and 'Ticket ' after it)
    per_read = r.details["read_tokens"].sum() / 3
    assert per_read % 128 == 0 and shared - 128 < per_read <= shared + 4
    assert r.metrics["hit_calls"] == 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.lists(st.integers(0, 3), min_size=0, max_size=6)), min_size=1, max_size=25
    ),
    st.integers(1, 20),
)
def test_window_lcp_matches_a_plain_loop(items, ttl):
    items = sorted(items, key=lambda x: x[0])
    times = np.array([t for t, _ in items], dtype=float)
    seqs = [np.array(s, dtype=np.uint32) for _, s in items]

    def lcp(a, b):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    back, fwd = window_lcp(seqs, times, ttl)
    for i in range(len(items)):
        assert back[i] == max([lcp(seqs[i], seqs[j]) for j in range(i) if times[i] - times[j] <= ttl] or [0])
        assert fwd[i] == max(
            [lcp(seqs[i], seqs[j]) for j in range(i + 1, len(items)) if times[j] - times[i] <= ttl] or [0]
        )


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 200)), min_size=0, max_size=60), st.integers(1, 80))
def test_ttl_hits_match_a_plain_loop(pairs, ttl):
    keys = np.array([k for k, _ in pairs], dtype=np.int64)
    t = np.array([x for _, x in pairs], dtype=np.int64)
    hit = ttl_hits(keys, t, ttl)
    expect, written = 0, {}
    for i in np.lexsort((t, keys)) if len(pairs) else []:
        k = keys[i]
        if k in written and t[i] - written[k] <= ttl:
            expect += 1
        else:
            written[k] = t[i]
    assert int(hit.sum()) == expect


# --------------------------------------------------------------------------- batch and caps


def test_batch_moves_tolerant_features_at_batch_prices():
    df = calls(
        [
            {"time": 0, "feature": "nightly", "input_tokens": 1000, "output_tokens": 100},
            {"time": 1, "feature": "chat", "input_tokens": 1000, "output_tokens": 100},
            {"time": 2, "feature": "nightly", "model": "plain"},  # no batch price: stays
        ]
    )
    r = batch_api(df, PRICES, features=["nightly"])
    assert r.metrics == {"chosen_calls": 2, "moved_calls": 1, "window_hours": 24}
    assert r.saving_usd == pytest.approx((1000 * 1 + 100 * 4) * M)  # half of 1000x2 + 100x8
    assert any("no batch price" in n and "plain" in n for n in r.notes)
    with pytest.raises(SimulationError, match="no calls of feature"):
        batch_api(df, PRICES, features=["missing"])
    rule = batch_api(df, PRICES, rule=lambda d: (d["input_tokens"] > 500).to_numpy(), rule_text="long prompts")
    assert rule.metrics["moved_calls"] == 2


def test_batch_rule_by_model_and_utc_hours():
    # times in seconds: 0 h, 3 h, 5 h 59, 6 h, 23 h; all gpt-x (batch price half), one 'plain'
    hours = [0, 3 * 3600, 6 * 3600 - 1, 6 * 3600, 23 * 3600]
    df = calls([{"time": t, "feature": "f", "input_tokens": 1000, "output_tokens": 100} for t in hours])
    one = (1000 * 1 + 100 * 4) * M  # half of one call's cost
    night = batch_api(df, PRICES, where="hour=0-6")
    assert night.metrics["chosen_calls"] == 3 and night.saving_usd == pytest.approx(3 * one)
    assert "hour=0-6" in night.title
    wrapped = batch_api(df, PRICES, where=" hour = 22-3 ")  # 22:00 to 03:00 across midnight
    assert wrapped.metrics["chosen_calls"] == 2  # 0 h and 23 h
    by_model = batch_api(df, PRICES, where="model=gpt-x; hour=3-24")  # 03:00 to midnight
    assert by_model.metrics["chosen_calls"] == 4  # 3 h, 5 h 59, 6 h and 23 h
    assert batch_api(df, PRICES, where="model=nope").metrics["chosen_calls"] == 0
    both = batch_api(df, PRICES, features=["f"], where="hour=6-7")
    assert both.metrics["chosen_calls"] == 1 and "feature(s) f and calls matching hour=6-7" in both.title


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty"),
        (" ; ;", "empty"),
        ("hour=6", "range of UTC hours"),
        ("hour=25-3", "range of UTC hours"),
        ("hour=4-4", "range of UTC hours"),
        ("team=growth", "unknown"),
        ("model", "not KEY=VALUE"),
        ("model=,", "names no value"),
        ("x" * 3000, "at most 2,000"),
    ],
)
def test_batch_rule_refuses_bad_text_by_name(text, words):
    from llmledger.simulate.levers.batching import parse_where

    with pytest.raises(SimulationError, match=words):
        parse_where(text)
    if text.strip():  # through the lever too ('' there means no rule: every call in scope)
        with pytest.raises(SimulationError, match=words):
            batch_api(calls([{"time": 0}]), PRICES, where=text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_batch_rule_text_is_applied_or_refused(text):
    from llmledger.simulate.levers.batching import parse_where
    from llmledger.simulate.levers.core import check_calls

    df = check_calls(calls([{"time": i * 3600, "feature": "f"} for i in range(24)]))
    try:
        rule, canon = parse_where(text)
    except SimulationError as exc:
        assert str(exc)
        return
    mask = rule(df)
    assert mask.dtype == bool and mask.shape == (24,)
    again, same = parse_where(canon)  # the canonical form means the same rule
    assert same == canon and (again(df) == mask).all()


def test_output_caps_by_hand():
    df = calls([{"time": i, "feature": "f", "output_tokens": o} for i, o in enumerate([10, 20, 30, 100])])
    r = output_caps(df, PRICES, caps={"f": 25})
    assert r.metrics["output_tokens_cut"] == 5 + 75 and r.metrics["calls_truncated"] == 2
    assert r.saving_usd == pytest.approx(80 * 8 * M)
    assert r.details["share_truncated"].iloc[0] == pytest.approx(0.5)
    q = output_caps(df, PRICES, quantile=0.6)  # 'higher' 60th percentile of 10, 20, 30, 100: position 1.8 -> 30
    assert q.metrics["caps"] == {"f": 30} and q.metrics["output_tokens_cut"] == 70
    with pytest.raises(SimulationError, match="whole number"):
        output_caps(df, PRICES, caps={"f": 0})


# --------------------------------------------------------------------------- memory


def session_calls():
    # each turn's input = the previous input + previous answer + a 20-token message
    ins, outs = [100, 170, 250, 310, 360], [50, 60, 40, 30, 35]
    return calls(
        [
            {"time": i, "session_id": "S", "model": "plain", "input_tokens": a, "output_tokens": b}
            for i, (a, b) in enumerate(zip(ins, outs))
        ]
        + [{"time": 9, "session_id": "lonely", "model": "plain"}]
    )


def test_memory_window_by_hand():
    # u = 100, 20, 20, 20, 20; turns add 50 (first answer), 80, 60, 50, 65. Window of 2:
    # turn 4 sends 100 + 80 + 60 + 20 = 260 (not 310); turn 5 sends 100 + 60 + 50 + 20 = 230 (not 360)
    r = memory(session_calls(), PRICES, k=2, strategy="window")
    assert r.metrics["sessions"] == 1 and r.metrics["turns"] == 5
    assert r.metrics["input_tokens_saved"] == 50 + 130
    assert r.saving_usd == pytest.approx(180 * 1 * M)
    assert list(r.details["window_input_tokens"]) == [100, 170, 250, 260, 230]


def test_memory_summary_pays_for_its_summaries():
    # summary of 10 tokens added from turn 4: 270 and 240 tokens (saves 40 + 120 = 160 input tokens)
    # summary calls: turn 4 summarises the first answer (50) + 5 instruction tokens; turn 5 the
    # summary so far (10) + the turn leaving (80) + 5; each writes 10 tokens (output, 2 per 1M)
    r = memory(session_calls(), PRICES, k=2, summary_tokens=10, instruction_tokens=5)
    calls_usd = ((50 + 5) + (10 + 80 + 5)) * 1 * M + 2 * 10 * 2 * M
    assert r.metrics["summary_calls_usd"] == pytest.approx(calls_usd)
    assert r.saving_usd == pytest.approx(160 * M - calls_usd)
    assert list(r.details["summary_input_tokens"]) == [100, 170, 250, 270, 240]


def test_memory_leaves_sessions_that_already_trim():
    df = calls([{"time": i, "session_id": "S", "input_tokens": 500, "output_tokens": 50} for i in range(6)])
    r = memory(df, PRICES, k=2)
    assert r.metrics["sessions"] == 0 and r.saving_usd == 0
    assert any("already trim" in n for n in r.notes)


# --------------------------------------------------------------------------- in sequence


def test_levers_in_sequence_do_not_double_count():
    # four identical calls within an hour (cost c each): the cache answers three; batch halves
    # what is left. Alone they would claim 3c and 2c (5c); in sequence 3c + c/2.
    df = calls([{"time": i * 60, "input_text": Q, "feature": "f"} for i in range(4)])
    c = (100 * 2 + 10 * 8) * M
    s = in_sequence(
        df, [("response-cache", lambda d: response_cache(d, 3600)), ("batch", lambda d: batch_api(d, PRICES))]
    )
    assert s["waterfall"]["saving_usd"].tolist() == pytest.approx([3 * c, c / 2])
    assert s["saving_usd"] == pytest.approx(3.5 * c) and s["final_usd"] == pytest.approx(c / 2)
    assert s["waterfall"]["calls_after"].tolist() == [1, 1]
    with pytest.raises(SimulationError, match="twice"):
        in_sequence(df, [("batch", lambda d: batch_api(d, PRICES))] * 2)


# --------------------------------------------------------------------------- outside input

COLUMN = st.one_of(
    st.integers(-5, 10**10),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.none(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({c: COLUMN for c in ("time", "input_tokens", "output_tokens", "cost_usd")})))
def test_check_calls_accepts_clean_frames_or_names_the_problem(rows):
    df = pd.DataFrame(rows, columns=["time", "input_tokens", "output_tokens", "cost_usd"])
    df["model"] = "gpt-x"
    try:
        out = check_calls(df)
    except SimulationError as exc:
        assert any(w in exc.msg for w in ("time", "input_tokens", "output_tokens", "cost_usd")), exc.msg
        return
    assert (out["input_tokens"] >= 0).all() and str(out["time"].dtype).startswith("datetime64")
    r = response_cache(df.assign(input_text="x"), ttl_s=60)
    assert 0 <= r.metrics["hits"] <= len(df)


def test_bad_lever_options_are_named():
    df = qa_calls()
    with pytest.raises(SimulationError, match="TTL"):
        response_cache(df, ttl_s=0)
    with pytest.raises(SimulationError, match="mode"):
        response_cache(df, mode="fuzzy")
    with pytest.raises(SimulationError, match="lifetime"):
        prompt_cache(df, PRICES, lifetime="10m")
    with pytest.raises(SimulationError, match="minimum cacheable prefix"):
        prompt_cache(df, PRICES, min_prefix=0)
    with pytest.raises(SimulationError, match="session_id"):
        memory(df, PRICES)
    with pytest.raises(SimulationError, match="lack column"):
        response_cache(df.drop(columns=["cost_usd"]))


def test_ttl_hits_over_years_fall_back_to_seconds():
    # 3,000 keys over ten years in milliseconds do not pack into one int64 with the call index:
    # the simulation goes to the second (a 1-hour TTL is whole seconds, so nothing changes)
    rng = np.random.default_rng(7)
    n = 5000
    keys = rng.integers(0, 3000, n)
    t = rng.integers(0, 3650 * 86400, n) * 1000
    keys[:50], t[:50] = keys[50:100], t[50:100] + 3_600_000  # exactly on the TTL after a call
    hit = ttl_hits(keys, t, 3_600_000)
    expect, written = 0, {}
    for i in np.lexsort((t, keys)):
        if keys[i] in written and t[i] - written[keys[i]] <= 3_600_000:
            expect += 1
        else:
            written[keys[i]] = t[i]
    assert int(hit.sum()) == expect
