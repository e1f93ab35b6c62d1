"""Quarantined spool batches: list them, put them back for the loader, or delete them.

The loader moves a spooled request it cannot load to `<spool>/failed/<name>`, with the reason in
`<name>.reason` beside it (see `Spool.quarantine`). Once the cause is fixed (a bug, a full disk,
a database that was busy), `retry` moves files back into the spool proper, where the loader picks
them up; loading stays idempotent, so a batch that made it in before adds nothing. `drop` deletes
what is not worth keeping. Pure file operations: the caller decides who loads the spool.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from llmledger.errors import LedgerError
from llmledger.telemetry.spool import TMP

FAILED = "failed"
REASON = ".reason"
#: Files up to this size are decoded when listed, to show their span count (bigger ones: None).
SPANS_MAX_BYTES = 1 << 20
TITLE = "Quarantined batches"


@dataclass(frozen=True)
class Quarantined:
    name: str
    path: Path
    size_bytes: int
    reason: str
    quarantined_at: datetime
    spans: int | None  # None when too large to count cheaply, or not decodable

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "reason": self.reason,
            "quarantined_at": self.quarantined_at.isoformat(),
            "spans": self.spans,
        }


def failed_dir(spool_dir: str | Path) -> Path:
    return Path(spool_dir) / FAILED


def list_quarantined(spool_dir: str | Path) -> list[Quarantined]:
    """Quarantined batches, oldest first (by name, which starts with the receive time)."""
    out = []
    for path in _batch_files(failed_dir(spool_dir)):
        try:
            st = path.stat()
        except FileNotFoundError:  # dropped or retried meanwhile
            continue
        out.append(
            Quarantined(
                name=path.name,
                path=path,
                size_bytes=st.st_size,
                reason=_reason(path),
                quarantined_at=datetime.fromtimestamp(st.st_mtime, tz=timezone.utc),
                spans=_span_count(path, st.st_size),
            )
        )
    return out


def retry(spool_dir: str | Path, names: list[str] | None = None) -> list[Path]:
    """Move the named batches (None: all) back into the spool; returns their new paths.

    Every name is checked before anything moves, so a typo moves nothing."""
    spool_dir = Path(spool_dir)
    paths = _select(spool_dir, names)
    moved = []
    for path in paths:
        dest = spool_dir / path.name
        os.replace(path, dest)  # same filesystem: atomic, and the loader never sees half a file
        _reason_path(path).unlink(missing_ok=True)
        moved.append(dest)
    if moved:
        _fsync_dir(spool_dir)
        _fsync_dir(failed_dir(spool_dir))
    return moved


def drop(spool_dir: str | Path, names: list[str] | None = None) -> int:
    """Delete the named batches (None: all) with their reasons; returns how many went."""
    paths = _select(Path(spool_dir), names)
    for path in paths:
        path.unlink(missing_ok=True)
        _reason_path(path).unlink(missing_ok=True)
    if paths:
        _fsync_dir(failed_dir(spool_dir))
    return len(paths)


# ---------------------------------------------------------------- helpers
def _batch_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and not p.name.endswith((REASON, TMP)) and not p.name.startswith(".")
        ),
        key=lambda p: p.name,
    )


def _select(spool_dir: Path, names: list[str] | None) -> list[Path]:
    present = {p.name: p for p in _batch_files(failed_dir(spool_dir))}
    if names is None:
        return list(present.values())
    bad = [n for n in names if not _plain_name(n)]
    if bad:
        raise LedgerError(
            f"not a batch name: {', '.join(map(repr, bad))} (give names as `quarantine list` "
            "shows them, without a folder)",
            title=TITLE,
        )
    unknown = [n for n in dict.fromkeys(names) if n not in present]
    if unknown:
        raise LedgerError(f"not quarantined in {failed_dir(spool_dir)}: {', '.join(unknown)}", title=TITLE)
    return [present[n] for n in dict.fromkeys(names)]


def _plain_name(name: str) -> bool:
    seps = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    return (
        bool(name)
        and name not in (".", "..")
        and ".." not in name
        and not any(s in name for s in seps)
        and "\0" not in name
    )


def _reason_path(path: Path) -> Path:
    return path.with_name(path.name + REASON)


def _reason(path: Path) -> str:
    try:
        return _reason_path(path).read_text(errors="replace").strip()
    except FileNotFoundError:
        return ""


def _span_count(path: Path, size: int) -> int | None:
    if size > SPANS_MAX_BYTES:
        return None
    from llmledger.telemetry import otlp

    try:
        return len(otlp.decode_file_bytes(path.name, path.read_bytes()).spans)
    except Exception:  # whatever kept it from loading may stop the count too: it is only a hint
        return None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
