"""Perplexity from llama.cpp's logits on the shipped text, and greedy agreement."""

import math

import pytest

from llmledger.errors import LocalModelError
from llmledger.local import lab, models, quality, quantize, runner

PPL = runner.Settings(n_threads=2, n_ctx=256, n_batch=256, logits_all=True)


def test_shipped_text_is_about_1500_words_and_documented():
    text = quality.shipped_text()
    assert 1400 <= len(text.split()) <= 1700
    readme = quality.text_path().with_name("README.md").read_text()
    assert "original" in readme.lower()


@pytest.mark.llama
def test_perplexity_is_finite_and_q2_k_is_not_better_than_q8_0():
    source = models.resolve_model("smollm2")
    host = runner.ModelHost()
    try:
        got = {}
        for q in ("Q8_0", "Q2_K"):
            host.load(quantize.quantize(source, q).path, PPL)
            got[q] = quality.perplexity(host.llm)  # the whole shipped text
        for p in got.values():
            assert math.isfinite(p.perplexity) and 1 < p.perplexity < 1000
            assert p.n_windows >= 5 and p.n_scored == p.n_windows * (PPL.n_ctx // 2 - 1)
            assert p.text_sha256 == got["Q8_0"].text_sha256
        assert got["Q2_K"].perplexity >= got["Q8_0"].perplexity
    finally:
        host.close()


@pytest.mark.llama
def test_perplexity_needs_all_logits():
    host = runner.ModelHost()
    try:
        host.load(models.resolve_model("smollm2"), runner.Settings(n_threads=2, n_ctx=256))
        with pytest.raises(LocalModelError, match="logits_all"):
            quality.perplexity(host.llm)
    finally:
        host.close()


@pytest.mark.llama
def test_quality_is_recorded(con):
    source = models.resolve_model("smollm2")
    v = quantize.quantize(source, "Q4_1")
    host = runner.ModelHost()
    ppl = lab.measure_quality(host, [v], runner.Settings(n_threads=2, n_ctx=256), max_windows=1)
    lab.Recorder(con).quality(v, ppl["Q4_1"])
    row = con.execute("SELECT model, variant, perplexity, n_scored FROM local_quality").fetchone()
    assert row[0] == "SmolLM2-135M-Instruct" and row[1] == "Q4_1"
    assert row[2] == pytest.approx(ppl["Q4_1"].perplexity) and row[3] == 127
    assert host.llm is None  # measuring quality leaves no logits_all model behind


def test_agreement():
    ref = ["the cat sat on the mat", "hello world"]
    assert quality.agreement(ref, ref) == {"prefix": 1.0, "exact": 1.0, "per_prompt": [1.0, 1.0]}
    got = quality.agreement(ref, ["the cat ran off", "hello world"])
    assert got["per_prompt"] == [pytest.approx(2 / 6), 1.0] and got["exact"] == 0.5
    with pytest.raises(LocalModelError):
        quality.agreement(ref, ref[:1])
