"""A demo ledger built the way an app would fill one: the demo's OTLP trace and log requests
(made by the real opentelemetry-sdk) POSTed to the real receiver on a loopback port, loaded by
its spool and loader into DuckDB. Built once per test run and copied by each test that uses it."""

from __future__ import annotations

import functools
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import requests

from llmledger.store.db import connect
from llmledger.telemetry import demo
from llmledger.telemetry.service import Service

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
N_CALLS = 2500
DAYS = 60
PB = {"Content-Type": "application/x-protobuf"}


#: Where the ledgers were built (about 30 MB each): conftest removes them as the session ends (the
#: session leaves through os._exit, which runs no atexit handler).
_ROOTS: list[Path] = []


def cleanup() -> None:
    for root in _ROOTS:
        shutil.rmtree(root, ignore_errors=True)
    _ROOTS.clear()
    _built.cache_clear()


@functools.lru_cache(maxsize=None)
def _built(n_calls: int, days: int, seed: int) -> tuple[Path, dict]:
    root = Path(tempfile.mkdtemp(prefix="demo_ledger_"))
    _ROOTS.append(root)
    path = root / "demo.duckdb"
    con = connect(path)
    svc = Service(con, db_path=path, port=0, host="127.0.0.1", spool_dir=root / "spool").start()
    posted = {"traces": 0, "logs": 0}
    try:
        for _, _, traces, logs in demo.generate_requests(n_calls, days, seed, NOW, traces_per_batch=400):
            for route, body in (("/v1/traces", traces), ("/v1/logs", logs)):
                if body:
                    r = requests.post(f"http://127.0.0.1:{svc.port}{route}", data=body, headers=PB, timeout=60)
                    assert r.status_code == 200, r.text
                    posted[route.rsplit("/", 1)[1]] += 1
        assert svc.wait_idle(300), "the receiver did not finish loading the demo"
    finally:
        svc.stop()
        con.close()
    return path, posted


def demo_ledger(dest: Path, n_calls: int = N_CALLS, days: int = DAYS, seed: int = 7) -> dict:
    """Copy the demo ledger (built once) to `dest`; returns how many requests of each kind were posted."""
    path, posted = _built(n_calls, days, seed)
    shutil.copy(path, dest)
    return posted
