"""Shared fixtures: every test gets its own DuckDB file under tmp_path (never the user's ledger).
Plain helpers live in helpers.py, apptest_helpers.py, browser_helpers.py and ledgers.py; tests
import those, never this file."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
from helpers import ARTIFACTS, free_port


def pytest_configure(config):
    """Streamlit scans every installed package for components when an AppTest first runs; the
    dashboard's launcher speeds that scan up (same result), and so do the tests."""
    from llmledger.ui import streamlit_startup

    streamlit_startup.install_component_prefilter()


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


# ------------------------------------------------------------------ the end of the session
# A daemon thread still inside DuckDB (or gRPC) C++ code when Python finalises is ended as it
# takes the GIL back; the forced unwind meets a catch (...) in the bindings and the process aborts
# after every test has passed (CI saw "FATAL: exception not rethrown" once). So the session ends by
# winding down the product's background threads (llmledger.store.background) and naming any left,
# and then leaves with pytest's own status without running the interpreter's finalisation.

_status: dict[str, int] = {}


def pytest_sessionfinish(session, exitstatus):
    from llmledger.store import background

    left = background.shutdown()
    strays = sorted(
        t.name for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive() and t.daemon
    )
    if left or strays:
        print(f"\nbackground threads at the end of the session: {', '.join(left + strays)}", file=sys.stderr)
    _status["exit"] = int(exitstatus)
    if "demo_ledger" in sys.modules:  # the demo ledgers built for this session's tests
        sys.modules["demo_ledger"].cleanup()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if "exit" in _status and not hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_status["exit"])
