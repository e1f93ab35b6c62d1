"""How much memory a model needs: weights for a GGUF file type, and the KV cache for a context.

A file type is a *recipe*, not a single block type. Q2_K, for instance, stores most tensors as
Q2_K blocks (2.625 bits per weight) but keeps attn_v at Q4_K/Q5_K, ffn_down and attn_output at
Q3_K and the output matrix at Q6_K; tensors whose rows are not a multiple of 256 fall back to a
32-block type. So its effective bits per weight is well above 2.625, and it depends on the
architecture. We derive effective figures by applying llama.cpp's own per-tensor rules
(`llama_tensor_get_type` in llama-quant.cpp, ported below for dense llama-style models) to each
tensor of the architecture. The port is checked against files llama.cpp really wrote
(tests/test_local_memory.py compares every tensor's type with our SmolLM2 variants).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmledger.errors import LocalModelError
from llmledger.local.gguf import GGML_TYPES, TYPE_BY_NAME, GGUFInfo, Tensor, block_bits

# Default block type of each file type (llama_ftype_get_default_type).
DEFAULT_TYPE = {
    "F32": "F32",
    "F16": "F16",
    "BF16": "BF16",
    "Q4_0": "Q4_0",
    "Q4_1": "Q4_1",
    "Q5_0": "Q5_0",
    "Q5_1": "Q5_1",
    "Q8_0": "Q8_0",
    "Q2_K": "Q2_K",
    "Q3_K_S": "Q3_K",
    "Q3_K_M": "Q3_K",
    "Q3_K_L": "Q3_K",
    "Q4_K_S": "Q4_K",
    "Q4_K_M": "Q4_K",
    "Q5_K_S": "Q5_K",
    "Q5_K_M": "Q5_K",
    "Q6_K": "Q6_K",
}
FILE_TYPES = tuple(DEFAULT_TYPE)
# Where a 256-block type goes when a tensor's rows do not divide by 256 (tensor_type_fallback).
_FALLBACK = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
GB = 1e9  # published GGUF sizes are decimal gigabytes


@dataclass(frozen=True)
class Architecture:
    name: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_vocab: int
    tied_embeddings: bool
    head_dim: int | None = None
    arch: str = "llama"

    @property
    def head_size(self) -> int:
        return self.head_dim or self.n_embd // self.n_head

    @property
    def n_gqa(self) -> int:
        return self.n_head // self.n_head_kv

    def tensors(self) -> list[Tensor]:
        """Weight tensors in llama.cpp's naming, ggml shape order (row length first)."""
        d, hd, v = self.n_embd, self.head_size, self.n_vocab
        ts = [Tensor("token_embd.weight", (d, v), "F32")]
        for i in range(self.n_layer):
            b = f"blk.{i}."
            ts += [
                Tensor(b + "attn_norm.weight", (d,), "F32"),
                Tensor(b + "attn_q.weight", (d, self.n_head * hd), "F32"),
                Tensor(b + "attn_k.weight", (d, self.n_head_kv * hd), "F32"),
                Tensor(b + "attn_v.weight", (d, self.n_head_kv * hd), "F32"),
                Tensor(b + "attn_output.weight", (self.n_head * hd, d), "F32"),
                Tensor(b + "ffn_norm.weight", (d,), "F32"),
                Tensor(b + "ffn_gate.weight", (d, self.n_ff), "F32"),
                Tensor(b + "ffn_up.weight", (d, self.n_ff), "F32"),
                Tensor(b + "ffn_down.weight", (self.n_ff, d), "F32"),
            ]
        ts.append(Tensor("output_norm.weight", (d,), "F32"))
        if not self.tied_embeddings:
            ts.append(Tensor("output.weight", (d, v), "F32"))
        return ts

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors())


#: Published architectures (config.json of each model). Llama 3.3 70B is the reference the
#: estimator must reproduce: 70.6B parameters, F16 141.1 GB, Q8_0 75.0 GB, Q2_K 26.4 GB.
ARCHITECTURES = {
    a.name: a
    for a in (
        Architecture("SmolLM2-135M", 30, 576, 9, 3, 1536, 49152, True),
        Architecture("Gemma 3 270M", 18, 640, 4, 1, 2048, 262144, True, head_dim=256, arch="gemma3"),
        Architecture("Llama 3.2 1B", 16, 2048, 32, 8, 8192, 128256, True),
        Architecture("Llama 3.2 3B", 28, 3072, 24, 8, 8192, 128256, True),
        Architecture("Llama 3.1 8B", 32, 4096, 32, 8, 14336, 128256, False),
        Architecture("Qwen2.5 14B", 48, 5120, 40, 8, 13824, 152064, False),
        Architecture("Qwen2.5 32B", 64, 5120, 40, 8, 27648, 152064, False),
        Architecture("Llama 3.3 70B", 80, 8192, 64, 8, 28672, 128256, False),
        Architecture("Llama 3.1 405B", 126, 16384, 128, 8, 53248, 128256, False),
    )
}


def _block_size(type_name: str) -> int:
    return GGML_TYPES[TYPE_BY_NAME[type_name]][1]


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensor_types(arch: Architecture, file_type: str, tensors: list[Tensor] | None = None) -> list[Tensor]:
    """The type llama.cpp gives each tensor when quantizing `arch` to `file_type`."""
    ftype = file_type.upper()
    if ftype not in DEFAULT_TYPE:
        raise LocalModelError(f"unknown GGUF file type {file_type!r}; choose from {', '.join(FILE_TYPES)}")
    default = DEFAULT_TYPE[ftype]
    tensors = tensors if tensors is not None else arch.tensors()
    names = [t.name for t in tensors]
    tied = "output.weight" not in names
    n_wv = sum("attn_v.weight" in n for n in names)
    n_down = sum("ffn_down" in n for n in names)
    is_70b = arch.arch == "llama" and arch.n_layer == 80 and arch.n_head != arch.n_head_kv
    i_wv = i_down = 0
    out = []
    for t in tensors:
        quantizable = len(t.shape) >= 2 and t.name.endswith("weight")
        if not quantizable or default in ("F32", "F16", "BF16"):
            out.append(Tensor(t.name, t.shape, default if quantizable else "F32"))
            continue
        new = default
        if t.name == "output.weight" or (tied and t.name == "token_embd.weight"):
            if t.shape[0] % _block_size(new) != 0:
                new = "Q8_0"
            elif new != "Q8_0":
                new = "Q6_K"
        elif "attn_v.weight" in t.name:
            if ftype == "Q2_K":
                new = "Q4_K" if arch.n_gqa >= 4 else "Q3_K"
            elif ftype == "Q3_K_M":
                new = "Q5_K" if i_wv < 2 else "Q4_K"
            elif ftype == "Q3_K_L":
                new = "Q5_K"
            elif ftype in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i_wv, n_wv):
                new = "Q6_K"
            elif ftype == "Q4_K_S" and i_wv < 4:
                new = "Q5_K"
            if is_70b and new in ("Q3_K", "Q4_K"):  # attn_v is 8x smaller there: more bits are cheap
                new = "Q5_K"
            i_wv += 1
        elif "ffn_down" in t.name:
            i = i_down
            if ftype == "Q2_K":
                new = "Q3_K"
            elif ftype == "Q3_K_M":
                new = "Q5_K" if i < n_down // 16 else "Q4_K"
            elif ftype == "Q3_K_L":
                new = "Q5_K"
            elif ftype == "Q4_K_M" and _use_more_bits(i, n_down):
                new = "Q6_K"
            elif ftype == "Q5_K_M" and _use_more_bits(i, n_down):
                new = "Q6_K"
            elif ftype == "Q4_K_S" and i < n_down // 8:
                new = "Q5_K"
            i_down += 1
        elif "attn_output.weight" in t.name:
            new = {"Q2_K": "Q3_K", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K"}.get(ftype, new)
        if t.shape[0] % _block_size(new) != 0:  # rows that do not divide into blocks
            new = _FALLBACK.get(new, new)
            if t.shape[0] % _block_size(new) != 0:
                new = "F16"
        out.append(Tensor(t.name, t.shape, new))
    return out


@dataclass
class WeightsEstimate:
    file_type: str
    n_params: int
    block_bpw: float  # the file type's main block type alone
    effective_bpw: float  # after the recipe's per-tensor choices
    naive_bytes: float
    bytes: float
    layout: str  # which architecture the per-tensor recipe was applied to
    type_mix: dict

    def to_dict(self) -> dict:
        return dict(self.__dict__, gb=self.bytes / GB, naive_gb=self.naive_bytes / GB)


def effective_bpw(arch: Architecture, file_type: str) -> tuple[float, dict]:
    typed = tensor_types(arch, file_type)
    n = sum(t.n_elements for t in typed)
    mix: dict[str, int] = {}
    for t in typed:
        mix[t.type_name] = mix.get(t.type_name, 0) + t.n_elements
    return sum(t.n_bytes for t in typed) * 8 / n, dict(sorted(mix.items(), key=lambda kv: -kv[1]))


def nearest_architecture(n_params: float) -> Architecture:
    """The published layout closest in size (log scale), to stand in for an unknown model."""
    import math

    return min(ARCHITECTURES.values(), key=lambda a: abs(math.log(a.n_params / n_params)))


def estimate_weights(n_params: float, file_type: str, arch: Architecture | None = None) -> WeightsEstimate:
    """Weights' memory for `n_params` parameters stored as `file_type`.

    Without an architecture, the recipe is applied to the nearest published layout and its
    effective bits per weight scaled to `n_params`.
    """
    if n_params <= 0:
        raise LocalModelError("the parameter count must be positive")
    arch = arch or nearest_architecture(n_params)
    bpw, mix = effective_bpw(arch, file_type)
    block = block_bits(DEFAULT_TYPE[file_type.upper()])
    return WeightsEstimate(
        file_type=file_type.upper(),
        n_params=int(n_params),
        block_bpw=block,
        effective_bpw=bpw,
        naive_bytes=n_params * block / 8,
        bytes=n_params * bpw / 8,
        layout=arch.name,
        type_mix=mix,
    )


KV_TYPES = {"F16": 2.0, "Q8_0": 34 / 32, "Q4_0": 18 / 32, "F32": 4.0}


def kv_cache_bytes(arch: Architecture, n_ctx: int, kv_type: str = "F16", n_seq: int = 1) -> float:
    """K and V for every layer and position (full attention; sliding-window layers need less)."""
    if n_ctx <= 0:
        raise LocalModelError("the context length must be positive")
    per_token = 2 * arch.n_layer * arch.n_head_kv * arch.head_size * KV_TYPES[kv_type.upper()]
    return per_token * n_ctx * n_seq


def architecture_from_gguf(info: GGUFInfo) -> Architecture:
    """The architecture a GGUF file declares (for the KV cache of any model the user points at)."""
    a = info.architecture
    get = info.arch_value
    try:
        n_head = int(get("attention.head_count"))
        n_embd = int(get("embedding_length"))
        kv = get("attention.head_count_kv") or n_head
        vocab = get("vocab_size") or next(t.shape[1] for t in info.tensors if t.name == "token_embd.weight")
        return Architecture(
            name=info.metadata.get("general.name") or info.path.stem,
            n_layer=int(get("block_count")),
            n_embd=n_embd,
            n_head=n_head,
            n_head_kv=int(kv if not isinstance(kv, str) else n_head),
            n_ff=int(get("feed_forward_length")),
            n_vocab=int(vocab),
            tied_embeddings=not any(t.name == "output.weight" for t in info.tensors),
            head_dim=int(get("attention.key_length") or n_embd // n_head),
            arch=a,
        )
    except (TypeError, ValueError, StopIteration) as exc:
        raise LocalModelError(f"{info.path.name}: architecture '{a}' lacks the fields for a KV estimate") from exc


def estimate_table(
    n_params: float,
    file_types=("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"),
    arch: Architecture | None = None,
) -> list[dict]:
    return [estimate_weights(n_params, ft, arch).to_dict() for ft in file_types]


def memory_table(
    n_params: float, file_types, arch: Architecture, n_ctx: int, kv_type: str = "F16", measured_bpw: dict | None = None
) -> list[dict]:
    """Weights per file type plus the KV cache of `arch` at `n_ctx`. The recipe runs on `arch`
    itself when `n_params` is its own size, otherwise on the nearest published layout."""
    same = abs(n_params - arch.n_params) / arch.n_params < 0.02
    rows = estimate_table(n_params, tuple(file_types), arch if same else None)
    kv_gb = kv_cache_bytes(arch, n_ctx, kv_type) / GB
    for r in rows:
        r.update(kv_gb=kv_gb, total_gb=r["gb"] + kv_gb, measured_bpw_here=(measured_bpw or {}).get(r["file_type"]))
    return rows
