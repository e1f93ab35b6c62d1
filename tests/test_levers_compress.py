"""Input compression on the real SmolLM2 through llama.cpp: the surprisal is -log p from the
model's own logits, the kept tokens are the most surprising ones in their order, and the real
ratio is measured in the called model's tokenizer (not taken from the target)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmledger.errors import SimulationError
from llmledger.simulate.levers import ModelPrices, compress
from llmledger.simulate.levers.compression import compress_text, scorer_model, surprisal

EMAIL = (
    "Please read the following customer email carefully and then write a short, polite reply that "
    "apologises for the delay, explains that the parcel was held at customs, and offers a discount "
    "code on the next order. The customer's name is Maria and her order number is 48213."
)
PRICES = {"gpt-4o-mini": ModelPrices("gpt-4o-mini", input=0.15, output=0.6)}


def test_surprisal_is_minus_log_p_from_the_models_logits():
    llm = scorer_model()
    ids = llm.tokenize(b"The cat sat on the mat.", add_bos=False, special=False)
    s, timing = surprisal(llm, ids)
    assert len(s) == len(ids) and (s > 0).all() and timing["tokens"] == len(ids)
    # recompute one position by hand from llama.cpp's logits for the same context
    llm.reset()
    llm.eval([llm.token_bos(), *ids[:3]])
    logits = np.asarray(llm.scores[3], dtype=np.float64)
    expect = np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[ids[3]]
    assert s[3] == pytest.approx(expect, rel=1e-4)  # float32 in the lever


def test_compress_keeps_the_most_surprising_tokens_in_order():
    llm = scorer_model()
    ids = llm.tokenize(EMAIL.encode(), add_bos=False, special=False)
    out, _ = compress_text(llm, EMAIL, keep=0.5)
    s, _ = surprisal(llm, ids)
    kept = np.sort(np.argsort(-s, kind="stable")[: int(np.ceil(0.5 * len(ids)))])
    assert out == llm.detokenize([ids[i] for i in kept]).decode("utf-8", errors="ignore")
    assert "Maria" in out and len(out) < len(EMAIL)
    # the quality risk in one line: digits after the first are predictable to the model, so the
    # order number loses some of them ('48213' -> '42')
    assert "48213" not in out


def test_compress_lever_reports_the_real_ratio_and_dollars():
    df = pd.DataFrame(
        {
            "time": [0, 1, 2, 3],
            "model": ["gpt-4o-mini"] * 4,
            "input_tokens": [60, 60, 60, 500],
            "output_tokens": [20] * 4,
            "cost_usd": [(60 * 0.15 + 20 * 0.6) / 1e6] * 3 + [(500 * 0.15 + 20 * 0.6) / 1e6],
            "input_text": [EMAIL, EMAIL, EMAIL, None],
        }
    )
    r = compress(df, PRICES, keep=0.5, sample=5)
    m = r.metrics
    from llmledger import tokens

    before = tokens.get("o200k_base").count(EMAIL)
    after = tokens.get("o200k_base").count(r.examples[0]["after"])
    assert m["sampled_prompts"] == 1 and m["sample_tokens_before"] == before and m["sample_tokens_after"] == after
    assert m["real_ratio"] == pytest.approx(after / before) and m["real_ratio"] != 0.5
    cut = 3 * (60 - round(60 * m["real_ratio"]))
    assert m["input_tokens_saved"] == cut
    assert r.saving_usd == pytest.approx(cut * 0.15e-6)
    assert any("no prompt text" in n for n in r.notes)
    assert any("quality risk" in a for a in r.assumptions)
    assert m["llama_prompt_eval_tokens_per_s"] > 0 and m["scorer_tokens_per_s"] > 0


def test_compress_rejects_bad_targets():
    df = pd.DataFrame(
        {
            "time": [0],
            "model": ["gpt-4o-mini"],
            "input_tokens": [1],
            "output_tokens": [1],
            "cost_usd": [0.0],
            "input_text": ["hi"],
        }
    )
    for keep in (0, 1, 1.5, -0.1):
        with pytest.raises(SimulationError, match="share of tokens to keep"):
            compress(df, PRICES, keep=keep)
    with pytest.raises(SimulationError, match="sample"):
        compress(df, PRICES, sample=0)
