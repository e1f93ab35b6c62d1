"""Shared fixtures: every test gets its own DuckDB file under tmp_path (never the user's ledger).
Plain helpers live in helpers.py, apptest_helpers.py, browser_helpers.py and ledgers.py; tests
import those, never this file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import ARTIFACTS, free_port


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


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
