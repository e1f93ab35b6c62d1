"""Plain helpers every kind of test uses: project paths, free loopback ports, the environment a
subprocess needs, and the served app (`streamlit run app.py`). Fixtures live in conftest.py;
tests import helpers from here, never from conftest or from another test file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "tests" / "data"
ARTIFACTS = ROOT / "tests" / "artifacts"


def app_pages() -> list[tuple[str, str]]:
    """(file, title) of each page in app.PAGES that exists, read without running app.py (it calls
    st.navigation)."""
    import ast

    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PAGES" for t in node.targets):
            return [(p, t) for p, t, _ in ast.literal_eval(node.value) if (ROOT / p).exists()]
    raise AssertionError("app.py has no PAGES list")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


@contextlib.contextmanager
def serve_app(db: Path, timeout_s: float = 120, **env_extra):
    """`streamlit run app.py` against `db` on free loopback ports, with the embedded receiver;
    yields (base_url, otlp_port) once it serves, and always stops the whole process group."""
    port, otlp_port = free_port(), free_port()
    env = subprocess_env(
        LLMLEDGER_DB=db,
        LLMLEDGER_RECEIVER="1",
        LLMLEDGER_OTLP_PORT=otlp_port,
        LLMLEDGER_OTLP_GRPC_PORT=free_port(),  # not the default 4317: tests run side by side
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
        **env_extra,
    )
    log_path = Path(db).with_suffix(".streamlit.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
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


def db_count(db_path, sql: str) -> int:
    """One number from the ledger while a page (in this process) holds it open."""
    import duckdb

    # The page's process-wide connection holds the file; a second connection in the same process
    # shares DuckDB's instance, so this reads what the page wrote.
    con = duckdb.connect(str(db_path))
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


#: OTLP sample files (one folder per convention, `in.json` each).
SAMPLES = TEST_DATA / "otlp"


def cli(*args, db: Path, timeout: float = 120, **env) -> subprocess.CompletedProcess:
    """`python -m llmledger *args` against `db`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "llmledger", *map(str, args)],
        capture_output=True,
        text=True,
        env=subprocess_env(LLMLEDGER_DB=db, **env),
        timeout=timeout,
    )


def one_line_error(p: subprocess.CompletedProcess, code: int = 1) -> str:
    """The one `error: ...` line a failed command prints (and its exit code was `code`)."""
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def request_json(n: int, seed: int) -> bytes:
    """An OTLP/JSON request of `n` chat spans with ids unique to `seed`."""
    spans = [
        {
            "traceId": f"{seed + 1:08x}{i:024x}",
            "spanId": f"{i + 1:016x}",
            "name": "chat",
            "attributes": [
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "9"}},
            ],
        }
        for i in range(n)
    ]
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()
