"""Real llama.cpp on the shipped SmolLM2: quantize, run a small matrix, stream, cancel, record."""

import math
import threading

import pytest

from llmledger.errors import LocalModelError
from llmledger.local import lab, models, quantize, runner

pytestmark = pytest.mark.llama

SETTINGS = runner.Settings(n_threads=2, n_ctx=256)
PROMPTS = [("capital", "What is the capital of France?"), ("haiku", "Write a haiku about the sea.")]


@pytest.fixture(scope="module")
def source():
    return models.resolve_model("smollm2")


@pytest.fixture(scope="module")
def variants(source):
    return [quantize.quantize(source, "Q4_1"), quantize.quantize(source, "Q8_0")]


@pytest.fixture(scope="module")
def host():
    h = runner.ModelHost()
    yield h
    h.close()


def test_variants_describe_size_bits_and_requantization(source, variants):
    src, q8 = variants
    assert src.is_source and src.name == "Q4_1" and src.path == str(source)
    assert q8.name == "Q8_0" and not q8.is_source
    assert q8.requantized_from == "Q4_1" and "cannot exceed" in q8.note
    assert q8.size_bytes > src.size_bytes
    assert 8.4 < q8.bits_per_weight < 8.6 and 5.5 < src.bits_per_weight < 6.0
    assert quantize.file_type_name(q8.path) == "Q8_0"


def test_matrix_measurements_are_present_and_positive(host, variants):
    progress = []
    m = lab.run_matrix(
        host,
        variants,
        PROMPTS,
        repeats=2,
        max_tokens=8,
        settings=SETTINGS,
        on_progress=lambda done, total, row, label: progress.append((done, total)),
    )
    assert len(m.runs) == m.total == 2 * 2 * 2 and not m.cancelled
    assert progress[-1] == (8, 8)
    for r in m.runs:
        assert r["input_tokens"] > 0 and 0 < r["output_tokens"] <= 8
        for key in ("load_s", "peak_rss_mb", "ttft_ms", "prompt_tps", "e2e_ms"):
            assert r[key] > 0 and math.isfinite(r[key]), key
        if r["output_tokens"] > 1:
            assert r["gen_tps"] > 0 and r["perf_gen_tps"] > 0
        assert r["e2e_ms"] >= r["ttft_ms"]
    rows = lab.summary(m, variants)
    assert [r["variant"] for r in rows] == ["Q4_1", "Q8_0"]
    for r in rows:
        assert r["runs"] == 4 and r["gen_tps"] > 0 and r["gen_tps_spread"] >= 0 and r["peak_rss_mb"] > 0
        assert r["reference"] == "Q8_0"  # the least-quantized variant in the matrix
        assert 0 <= r["agreement_prefix"] <= 1
    assert rows[1]["agreement_prefix"] == 1.0  # the reference agrees with itself


def test_streamed_text_equals_the_non_streamed_greedy_text(host, variants):
    for v in variants:
        host.load(v.path, SETTINGS)
        for _, prompt in PROMPTS:
            tokens = runner.prompt_tokens(host.llm, prompt)
            pieces = []
            res = runner.generate(host.llm, tokens, 12, on_token=pieces.append)
            assert pieces and "".join(pieces) == res.text
            assert res.text == runner.plain_completion(host.llm, tokens, 12)


def test_greedy_runs_repeat_exactly(host, variants):
    host.load(variants[0].path, SETTINGS)
    tokens = runner.prompt_tokens(host.llm, PROMPTS[1][1])
    a = runner.generate(host.llm, tokens, 10)
    b = runner.generate(host.llm, tokens, 10)
    assert a.text == b.text and a.input_tokens == b.input_tokens  # no prompt reuse between runs


def test_cancel_stops_between_tokens(host, variants):
    cancel = threading.Event()
    seen = []

    def on_token(piece):
        seen.append(piece)
        cancel.set()

    m = lab.run_matrix(
        host, variants, PROMPTS, repeats=3, max_tokens=50, settings=SETTINGS, on_token=on_token, cancel=cancel
    )
    assert m.cancelled and len(m.runs) == 1
    assert m.runs[0]["stop_reason"] == "cancelled" and m.runs[0]["output_tokens"] <= 2
    assert lab.summary(m, variants) == []  # a cancelled run is no measurement


def test_text_stream_throttles_and_flushes():
    shown = []
    stream = lab.TextStream(shown.append, interval_s=3600)
    for p in ["a", "b", "c"]:
        stream(p)
    assert shown == ["a"]  # the first piece shows at once, the rest waits for the interval
    assert stream.close() == "abc" and shown[-1] == "abc"


def test_runs_are_recorded_in_duckdb(con, host, variants):
    m = lab.run_matrix(
        host, variants[:1], PROMPTS[:1], repeats=2, max_tokens=4, settings=SETTINGS, record=lab.Recorder(con)
    )
    got = con.execute("SELECT count(*), min(gen_tps), max(batch_id), max(variant) FROM local_runs").fetchone()
    assert got[0] == 2 and got[2] == m.batch_id and got[3] == "Q4_1"
    assert not lab.recent_runs(con).empty


def test_context_overflow_is_a_clear_error(host, variants):
    host.load(variants[0].path, SETTINGS)
    with pytest.raises(LocalModelError, match="exceed the context"):
        runner.generate(host.llm, [1] * 250, 20)


def test_unknown_model_and_missing_file_are_refused(tmp_path):
    with pytest.raises(LocalModelError, match="neither a known model"):
        models.resolve_model(str(tmp_path / "nope.gguf"))
    with pytest.raises(LocalModelError):
        quantize.quantize(models.resolve_model("smollm2"), "Q7_Z")
