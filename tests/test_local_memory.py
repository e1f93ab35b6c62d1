"""Memory estimator: published Llama 3.3 70B sizes, and llama.cpp's per-tensor recipe as written
by llama.cpp itself on SmolLM2 variants."""

import pytest

from llmledger.errors import LocalModelError
from llmledger.local import memory, models, quantize
from llmledger.local.gguf import block_bits, read_gguf

LLAMA_70B = memory.ARCHITECTURES["Llama 3.3 70B"]
PUBLISHED_GB = {"F16": 141.1, "Q8_0": 75.0, "Q2_K": 26.4}


@pytest.mark.parametrize("file_type", sorted(PUBLISHED_GB))
def test_reproduces_published_llama_3_3_70b_sizes(file_type):
    est = memory.estimate_weights(70.6e9, file_type, LLAMA_70B)
    assert est.bytes / memory.GB == pytest.approx(PUBLISHED_GB[file_type], rel=0.05)


@pytest.mark.parametrize("file_type", sorted(PUBLISHED_GB))
def test_reproduces_70b_sizes_from_parameter_count_alone(file_type):
    est = memory.estimate_weights(70.6e9, file_type)  # no architecture given: nearest published layout
    assert est.layout == "Llama 3.3 70B"
    assert est.bytes / memory.GB == pytest.approx(PUBLISHED_GB[file_type], rel=0.05)


def test_q2_k_effective_bits_exceed_its_block_type():
    est = memory.estimate_weights(70.6e9, "Q2_K", LLAMA_70B)
    assert est.block_bpw == pytest.approx(2.625)
    assert est.effective_bpw > est.block_bpw + 0.3  # attn_v, ffn_down, output kept at more bits
    assert est.naive_bytes / memory.GB < 0.9 * PUBLISHED_GB["Q2_K"]  # block bits alone would be wrong
    assert {"Q2_K", "Q3_K", "Q5_K", "Q6_K"} <= set(est.type_mix)


def test_architecture_parameter_counts_match_published():
    assert LLAMA_70B.n_params == pytest.approx(70.6e9, rel=0.002)
    assert memory.ARCHITECTURES["Llama 3.1 8B"].n_params == pytest.approx(8.03e9, rel=0.002)


def test_kv_cache_of_llama_70b():
    # 80 layers x 8 KV heads x 128 dims x (K+V) x 2 bytes = 320 KiB per token
    assert memory.kv_cache_bytes(LLAMA_70B, 1) == 327_680
    assert memory.kv_cache_bytes(LLAMA_70B, 8192) / 2**30 == pytest.approx(2.5)
    assert memory.kv_cache_bytes(LLAMA_70B, 8192, "Q8_0") < memory.kv_cache_bytes(LLAMA_70B, 8192)


def test_bad_inputs_are_refused():
    with pytest.raises(LocalModelError):
        memory.estimate_weights(0, "Q8_0")
    with pytest.raises(LocalModelError):
        memory.estimate_weights(1e9, "Q9_X")
    with pytest.raises(LocalModelError):
        memory.kv_cache_bytes(LLAMA_70B, 0)


def test_block_bits():
    assert block_bits("Q8_0") == 8.5 and block_bits("Q4_K") == 4.5 and block_bits("Q6_K") == 6.5625


@pytest.fixture(scope="module")
def smollm2():
    return models.resolve_model("smollm2")


def test_architecture_read_from_the_shipped_gguf(smollm2):
    arch = memory.architecture_from_gguf(read_gguf(smollm2))
    assert (arch.n_layer, arch.n_embd, arch.n_head, arch.n_head_kv, arch.head_size) == (30, 576, 9, 3, 64)
    assert arch.tied_embeddings
    assert arch.n_params == read_gguf(smollm2).n_params


@pytest.mark.llama
@pytest.mark.parametrize("file_type", ["Q2_K", "Q3_K_M", "Q4_K_M", "Q6_K"])
def test_recipe_port_matches_llama_cpp_tensor_by_tensor(smollm2, file_type):
    """Our port of llama.cpp's type choice predicts every tensor of a file llama.cpp really wrote
    (SmolLM2's 576-wide rows exercise the fallbacks; its tied embedding the output rule)."""
    written = read_gguf(quantize.quantize(smollm2, file_type).path)
    arch = memory.architecture_from_gguf(written)
    predicted = {t.name: t.type_name for t in memory.tensor_types(arch, file_type, written.tensors)}
    actual = {t.name: t.type_name for t in written.tensors}
    assert predicted == actual
    est = memory.estimate_weights(written.n_params, file_type, arch)
    assert est.effective_bpw == pytest.approx(written.bits_per_weight, rel=1e-6)
