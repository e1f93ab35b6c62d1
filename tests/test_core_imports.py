"""The core runs without its UI: no module outside llmledger.ui may pull in streamlit."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

from helpers import subprocess_env

import llmledger


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(llmledger.__path__, "llmledger."):
        if info.name.startswith("llmledger.ui") or info.name == "llmledger.__main__":
            continue
        names.append(info.name)
    return names


def test_there_are_core_modules_to_check():
    mods = core_modules()
    assert "llmledger.telemetry.otlp" in mods and "llmledger.store.db" in mods


def test_core_modules_do_not_import_streamlit():
    code = (
        "import importlib, sys\n"
        f"for m in {core_modules()!r}:\n"
        "    importlib.import_module(m)\n"
        "    assert 'streamlit' not in sys.modules, m\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
