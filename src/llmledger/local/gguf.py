"""A small reader for GGUF headers: metadata and the type and shape of every tensor.

Only the header is read (no tensor data), so it is fast even for multi-GB files. The format is
documented in ggml's docs/gguf.md; we need it to show each variant's tensor-type mix and to find
the architecture (layers, KV heads) for the KV-cache estimate.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from llmledger.errors import LocalModelError

# ggml type id -> (name, elements per block, bytes per block)
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}
TYPE_BY_NAME = {v[0]: k for k, v in GGML_TYPES.items()}


def block_bits(type_name: str) -> float:
    """Bits per weight of one ggml block type (scales included), e.g. Q2_K -> 2.625."""
    _, n, size = GGML_TYPES[TYPE_BY_NAME[type_name]]
    return size * 8 / n


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]  # ggml order: shape[0] is the row length (columns)
    type_name: str

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def n_bytes(self) -> int:
        _, blk, size = GGML_TYPES[TYPE_BY_NAME[self.type_name]]
        return self.n_elements // blk * size


@dataclass
class GGUFInfo:
    path: Path
    metadata: dict = field(default_factory=dict)
    tensors: list[Tensor] = field(default_factory=list)

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")

    def arch_value(self, key: str):
        return self.metadata.get(f"{self.architecture}.{key}")

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def bits_per_weight(self) -> float:
        return self.tensor_bytes * 8 / self.n_params if self.n_params else float("nan")

    def type_mix(self) -> dict[str, int]:
        """Parameters held in each tensor type, largest first."""
        mix: dict[str, int] = {}
        for t in self.tensors:
            mix[t.type_name] = mix.get(t.type_name, 0) + t.n_elements
        return dict(sorted(mix.items(), key=lambda kv: -kv[1]))


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class _Reader:
    def __init__(self, f):
        self.f = f

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        data = self.f.read(size)
        if len(data) != size:
            raise LocalModelError("truncated GGUF header")
        return struct.unpack(fmt, data)[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        return self.f.read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep_arrays: bool):
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            itype, n = self.unpack("<I"), self.unpack("<Q")
            if itype in _SCALARS and not keep_arrays:  # skip large numeric arrays cheaply
                self.f.seek(n * struct.calcsize(_SCALARS[itype]), 1)
                return f"<array of {n}>"
            items = [self.value(itype, keep_arrays) for _ in range(n)]
            return items if keep_arrays else f"<array of {n}>"
        raise LocalModelError(f"unknown GGUF value type {vtype}")


def read_gguf(path: str | Path, keep_arrays: bool = False) -> GGUFInfo:
    """Read a GGUF header. Arrays (the vocabulary) are skipped unless `keep_arrays`."""
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise LocalModelError(f"cannot open {path}: {exc.strerror}") from exc
    with f:
        r = _Reader(f)
        if f.read(4) != b"GGUF":
            raise LocalModelError(f"{path.name} is not a GGUF file")
        version = r.unpack("<I")
        if version < 2:
            raise LocalModelError(f"{path.name}: GGUF version {version} is too old")
        n_tensors, n_kv = r.unpack("<Q"), r.unpack("<Q")
        info = GGUFInfo(path=path)
        for _ in range(n_kv):
            key = r.string()
            info.metadata[key] = r.value(r.unpack("<I"), keep_arrays)
        for _ in range(n_tensors):
            name = r.string()
            n_dims = r.unpack("<I")
            shape = tuple(r.unpack("<Q") for _ in range(n_dims))
            type_id = r.unpack("<I")
            r.unpack("<Q")  # offset into the data section
            type_name = GGML_TYPES.get(type_id, (f"type{type_id}", 1, 1))[0]
            info.tensors.append(Tensor(name, shape, type_name))
    return info
