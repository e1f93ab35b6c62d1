"""Environment variables, in one place (names are part of the contract in DESIGN.md)."""

from __future__ import annotations

import os
from pathlib import Path

#: DuckDB file. Default: data/ledger.duckdb under the project root (or the current directory).
ENV_DB = "LLMLEDGER_DB"
#: Port of the OTLP/HTTP receiver (default 4318).
ENV_OTLP_PORT = "LLMLEDGER_OTLP_PORT"
#: Port of the OTLP/gRPC receiver (default 4317), started by `make run` and `serve-otlp`.
ENV_OTLP_GRPC_PORT = "LLMLEDGER_OTLP_GRPC_PORT"
#: What is stored of message content at ingest: keep (default), hash or drop (telemetry/content.py).
ENV_CONTENT = "LLMLEDGER_CONTENT"
#: Host the receiver binds to (default 127.0.0.1: loopback only).
ENV_OTLP_HOST = "LLMLEDGER_OTLP_HOST"
#: Optional bearer token the receiver requires (`Authorization: Bearer <token>`).
ENV_OTLP_TOKEN = "LLMLEDGER_OTLP_TOKEN"
#: Largest accepted request body in bytes, after decompression (default 32 MiB).
ENV_OTLP_MAX_BYTES = "LLMLEDGER_OTLP_MAX_BYTES"
#: Spool directory for accepted-but-not-yet-loaded requests (default: <db>.spool/).
ENV_SPOOL_DIR = "LLMLEDGER_SPOOL_DIR"
#: Most bytes waiting in the spool (default 2 GiB); past it the receiver answers 503 + Retry-After.
ENV_SPOOL_MAX_BYTES = "LLMLEDGER_SPOOL_MAX_BYTES"
#: DuckDB's memory limit for this process (e.g. 512MB; default: DuckDB's own, 80% of RAM). The
#: receiver's own buffers are bounded in bytes already; this bounds DuckDB's buffer pool too.
ENV_DUCKDB_MEMORY = "LLMLEDGER_DUCKDB_MEMORY"
#: Set to 0 to start the dashboard without the embedded receiver.
ENV_RECEIVER = "LLMLEDGER_RECEIVER"

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OTLP_PORT = 4318
DEFAULT_OTLP_GRPC_PORT = 4317
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


def db_path() -> Path:
    raw = os.environ.get(ENV_DB)
    if raw:
        return Path(raw)
    return PROJECT_ROOT / "data" / "ledger.duckdb"


def otlp_port() -> int:
    return int(os.environ.get(ENV_OTLP_PORT, DEFAULT_OTLP_PORT))


def otlp_grpc_port() -> int:
    return int(os.environ.get(ENV_OTLP_GRPC_PORT, DEFAULT_OTLP_GRPC_PORT))


def otlp_host() -> str:
    return os.environ.get(ENV_OTLP_HOST, "127.0.0.1")


def otlp_token() -> str | None:
    return os.environ.get(ENV_OTLP_TOKEN) or None


def otlp_max_bytes() -> int:
    return int(os.environ.get(ENV_OTLP_MAX_BYTES, DEFAULT_MAX_BYTES))


def spool_dir(db: Path | None = None) -> Path:
    raw = os.environ.get(ENV_SPOOL_DIR)
    if raw:
        return Path(raw)
    db = db or db_path()
    return db.with_name(db.name + ".spool")


def spool_max_bytes() -> int:
    return int(os.environ.get(ENV_SPOOL_MAX_BYTES, 2 * 1024**3))


def duckdb_memory() -> str | None:
    return os.environ.get(ENV_DUCKDB_MEMORY) or None


def receiver_enabled() -> bool:
    return os.environ.get(ENV_RECEIVER, "1") not in ("0", "false", "no")
