"""Quantized variants of a source GGUF, made with llama.cpp's own `llama_model_quantize`.

Variants are cached under data/models/ as `<source stem>.<QTYPE>.gguf`. When the source is
already quantized, llama.cpp dequantizes and quantizes again (`allow_requantize`): such a
variant can never be better than its source, whatever its nominal precision (F16 made from Q4_1
is still Q4_1 quality, only bigger). Each variant says so in `requantized_from`.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from llmledger.errors import LocalModelError
from llmledger.local import models
from llmledger.local.gguf import read_gguf

# llama_ftype values (llama.h) for the file types offered.
FTYPES: dict[str, int] = {
    "F32": 0,
    "F16": 1,
    "Q4_0": 2,
    "Q4_1": 3,
    "Q8_0": 7,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q2_K": 10,
    "Q3_K_S": 11,
    "Q3_K_M": 12,
    "Q3_K_L": 13,
    "Q4_K_S": 14,
    "Q4_K_M": 15,
    "Q5_K_S": 16,
    "Q5_K_M": 17,
    "Q6_K": 18,
    "BF16": 32,
}
FTYPE_NAMES = {v: k for k, v in FTYPES.items()}
#: The ladder the lab offers by default, most to least compressed.
DEFAULT_LADDER = ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")
_UNQUANTIZED = {"F32", "F16", "BF16"}
_quantize_lock = threading.Lock()


@dataclass
class Variant:
    name: str  # file type, e.g. "Q8_0"
    path: str
    size_bytes: int
    n_params: int
    bits_per_weight: float  # tensor bytes * 8 / parameters, as llama.cpp reports it
    type_mix: dict  # {ggml type: parameters}
    is_source: bool
    requantized_from: str | None  # source file type when made from an already-quantized file

    @property
    def label(self) -> str:
        return f"{self.name} (source)" if self.is_source else self.name

    @property
    def note(self) -> str:
        if self.is_source:
            return "the shipped file"
        if self.requantized_from:
            return f"requantized from {self.requantized_from}: quality cannot exceed the {self.requantized_from} source"
        return "quantized from an unquantized source"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["label"], d["note"] = self.label, self.note
        return d


def file_type_name(path: str | Path) -> str:
    info = read_gguf(path)
    ft = info.metadata.get("general.file_type")
    if ft is None:  # old files: infer from the dominant tensor type
        return next(iter(info.type_mix()), "unknown")
    return FTYPE_NAMES.get(int(ft), f"ftype{ft}")


def describe(path: str | Path, is_source: bool = False, requantized_from: str | None = None) -> Variant:
    path = Path(path)
    info = read_gguf(path)
    return Variant(
        name=file_type_name(path),
        path=str(path),
        size_bytes=path.stat().st_size,
        n_params=info.n_params,
        bits_per_weight=round(info.bits_per_weight, 4),
        type_mix=info.type_mix(),
        is_source=is_source,
        requantized_from=requantized_from,
    )


def variant_path(source: Path, qtype: str, out_dir: Path | None = None) -> Path:
    out_dir = Path(out_dir) if out_dir else models.models_dir()
    return out_dir / f"{source.stem}.{qtype}.gguf"


def quantize(
    source: str | Path, qtype: str, out_dir: Path | None = None, threads: int | None = None, force: bool = False
) -> Variant:
    """Make (or reuse from the cache) the `qtype` variant of `source`."""
    import llama_cpp

    # llama.cpp logs every tensor (and each fallback) while quantizing: the page shows the type mix,
    # and a failure is raised below, so its log stays quiet
    logging.getLogger("llama-cpp-python").setLevel(logging.CRITICAL)
    source = Path(source)
    qtype = qtype.upper()
    if qtype not in FTYPES:
        raise LocalModelError(f"unknown file type {qtype!r}; choose from {', '.join(FTYPES)}")
    src_type = file_type_name(source)
    if qtype == src_type:
        return describe(source, is_source=True)
    requantized_from = None if src_type in _UNQUANTIZED else src_type
    out = variant_path(source, qtype, out_dir)
    with _quantize_lock:
        if force or not out.exists() or out.stat().st_mtime < source.stat().st_mtime:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".tmp")
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = FTYPES[qtype]
            params.nthread = threads or max(1, os.cpu_count() or 1)
            params.allow_requantize = requantized_from is not None
            rc = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
            if rc != 0 or not tmp.exists():
                tmp.unlink(missing_ok=True)
                raise LocalModelError(f"llama.cpp could not quantize {source.name} to {qtype} (code {rc})")
            os.replace(tmp, out)  # a half-written file is never mistaken for a cached variant
    return describe(out, requantized_from=requantized_from)


def variants(
    source: str | Path, qtypes=DEFAULT_LADDER, out_dir: Path | None = None, threads: int | None = None
) -> list[Variant]:
    """The source plus each requested variant, ordered by bits per weight."""
    source = Path(source)
    found = {file_type_name(source): describe(source, is_source=True)}
    for q in qtypes:
        if q.upper() not in found:
            found[q.upper()] = quantize(source, q, out_dir, threads)
    return sorted(found.values(), key=lambda v: v.bits_per_weight)
