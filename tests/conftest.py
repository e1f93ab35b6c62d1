"""Shared fixtures: every test gets its own DuckDB file under tmp_path (never the user's ledger)."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def serve_app(db: Path, timeout_s: float = 120, **env_extra):
    """`streamlit run app.py` against `db` on free loopback ports, with the embedded receiver;
    yields (base_url, otlp_port) once it serves, and always stops the whole process group."""
    import signal
    import subprocess
    import time
    import urllib.request

    port, otlp_port = free_port(), free_port()
    env = subprocess_env(LLMLEDGER_DB=db, LLMLEDGER_RECEIVER="1", LLMLEDGER_OTLP_PORT=otlp_port,
                         STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", **env_extra)
    log_path = Path(db).with_suffix(".streamlit.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout_s
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"streamlit exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise AssertionError("streamlit did not start serving in time")
            time.sleep(0.5)
        yield base, otlp_port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()
