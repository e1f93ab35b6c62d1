"""Serve the dashboard (or a one-line floor page) the way `make run` does, logging how long each
script run takes on the server. Used by bench/bench_pages.py; never by the app itself.

Streamlit runs a page's script on a ScriptRunner thread: `_run_script` hands app.py (st.navigation,
then the page file, widget callbacks first) to `exec_func_with_error_handling`, once per run. This
launcher wraps that function before the server starts, so every run appends one JSON line to
`--log`:

    {"page": "spend", "t_end": <unix s>, "script_s": 0.412, "script_cpu_s": 0.301, "session": "..."}

`script_cpu_s` is the script thread's own CPU time (time.thread_time): unlike `script_s`, it hardly
grows when other processes share the cores.

`page` is the url path of the page st.navigation ran ("" for the floor). With `--profile-dir`,
each run is also profiled with cProfile into `<dir>/<page>-<n>.prof` (n counts that page's runs).

    python -m bench.page_timing --port 8599 --log /tmp/runs.jsonl [--floor F.py] [--profile-dir D]

Without `--floor` it calls llmledger.ui.launch.main, exactly what `make run` runs (the ledger and
its receiver are opened first, then Streamlit serves app.py).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

_current = threading.local()
_lock = threading.Lock()
_profile_runs: Counter = Counter()


def _install(log_path: Path, profile_dir: Path | None) -> None:
    from streamlit.navigation.page import StreamlitPage
    from streamlit.runtime.scriptrunner import script_runner

    page_run = StreamlitPage.run

    def run_page(self):
        _current.page = self.url_path
        return page_run(self)

    StreamlitPage.run = run_page

    original = script_runner.exec_func_with_error_handling

    def timed(func, ctx, *args, **kwargs):
        _current.page = ""
        prof = cProfile.Profile() if profile_dir is not None else None
        t0, cpu0 = time.perf_counter(), time.thread_time()
        if prof is not None:
            prof.enable()
        try:
            return original(func, ctx, *args, **kwargs)
        finally:
            if prof is not None:
                prof.disable()
            elapsed, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
            page = getattr(_current, "page", "")
            row = {"page": page, "t_end": time.time(), "script_s": round(elapsed, 4), "script_cpu_s": round(cpu, 4)}
            row["session"] = ctx.session_id
            with _lock:
                if prof is not None:
                    _profile_runs[page] += 1
                    name = f"{page or 'root'}-{_profile_runs[page]}.prof"
                    prof.dump_stats(str(profile_dir / name))
                    row["profile"] = name
                with open(log_path, "a") as fh:
                    fh.write(json.dumps(row) + "\n")

    script_runner.exec_func_with_error_handling = timed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="page_timing")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--floor", type=Path, help="serve this one-line script instead of app.py")
    parser.add_argument("--profile-dir", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("STREAMLIT_SERVER_ADDRESS", "127.0.0.1")
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    os.environ["STREAMLIT_SERVER_PORT"] = str(args.port)
    if args.profile_dir is not None:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    _install(args.log, args.profile_dir)
    if args.floor is not None:
        from streamlit.web import cli as streamlit_cli

        flags = ["--server.headless", "true", "--server.port", str(args.port)]
        return streamlit_cli.main(["run", str(args.floor), *flags], prog_name="streamlit", standalone_mode=False) or 0
    from llmledger.ui import launch

    return launch.main(["--port", str(args.port)])


if __name__ == "__main__":
    raise SystemExit(main())
