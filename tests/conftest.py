"""Shared fixtures: every test gets its own DuckDB file under tmp_path (never the user's ledger)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "tests" / "data"
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMLEDGER_DB", str(tmp_path / "ledger.duckdb"))
    monkeypatch.setenv("LLMLEDGER_RECEIVER", "0")
    monkeypatch.delenv("LLMLEDGER_OTLP_TOKEN", raising=False)
    yield


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "ledger.duckdb"


@pytest.fixture
def con(db_path):
    from llmledger.store.db import connect

    c = connect(db_path)
    yield c
    c.close()


@pytest.fixture
def python_exe() -> str:
    return sys.executable


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def subprocess_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env
