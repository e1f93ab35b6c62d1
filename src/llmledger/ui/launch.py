"""`make run`: start the dashboard with its receiver already listening.

`streamlit run` only executes app.py when a browser connects, so the embedded OTLP receiver would
not listen until then. This launcher opens the ledger and starts the receiver in the server's own
process (the same st.cache_resource entry the pages use), on a thread while Streamlit starts, so
neither waits for the other; a page that asks for them first waits for that entry.

It hands over through `streamlit run`'s own command line, not `bootstrap.run`: that one skips the
config loading the CLI does, so `--port` and `STREAMLIT_SERVER_PORT` were both ignored and
.streamlit/config.toml's port won. Through the CLI the usual order holds: flags (`--port`), then
STREAMLIT_* environment variables, then .streamlit/config.toml (port 8501).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import threading
import traceback
from typing import NoReturn

from llmledger import config

#: Imported on a thread while Streamlit starts its server and the browser loads the app, instead
#: of on the first page's script run (pandas alone takes a second or more). Third-party modules
#: only, imported after Streamlit itself: they never import ours, so no two threads can wait on
#: each other's half-imported module. Our own page modules are left to the page.
PRELOAD = ("pandas",)  # numpy, pyarrow and plotly come with Streamlit and the receiver
PRELOAD_THREAD = "llmledger-preload"


def preload(modules: tuple[str, ...] = PRELOAD) -> None:
    """Best effort: a module that fails here fails again, visibly, on the page."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the page reports it
            continue


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(prog="llmledger-dashboard")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="dashboard port (default: STREAMLIT_SERVER_PORT, else .streamlit/config.toml's 8501)",
    )
    args = parser.parse_args(argv)

    from streamlit.web import cli as streamlit_cli

    from llmledger.ui import streamlit_startup

    streamlit_startup.install_component_prefilter()  # the Runtime scans installed packages as it starts
    streamlit_startup.skip_direct_run_check()  # this is `streamlit run`
    # The ledger and its receiver open on a thread while Streamlit starts its server and the
    # browser loads the app; the first page's common.resources() waits for that same cached
    # entry. They used to open first, adding a second or more to `make run`'s first page.
    # Started after Streamlit's import, so the two threads import different modules.
    threading.Thread(target=open_ledger, name=PRELOAD_THREAD, daemon=True).start()
    app = str(config.PROJECT_ROOT / "app.py")
    flags = ["--server.headless", "true"] + (["--server.port", str(args.port)] if args.port else [])
    try:
        code = streamlit_cli.main(["run", app, *flags], prog_name="streamlit", standalone_mode=False) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - shown, then the same ending
        traceback.print_exc()
        code = 1
    from llmledger.store import background

    background.exit_quietly(code)  # never returns; no "nanobind: leaked ..." wall after Ctrl-C


def open_ledger() -> None:
    """Open the ledger and start the receiver (the pages' own cached resources), say where it
    listens, then preload. A ledger that cannot be opened (another process holds it) ends the
    launcher with the reason and exit status 1, as before the server started."""
    from llmledger.errors import LedgerError
    from llmledger.ui import common

    try:
        res = common.resources()
    except LedgerError as exc:
        print(f"error: {exc.msg}", file=sys.stderr, flush=True)
        os._exit(1)
    stats = res["service"].stats() if res["service"] is not None else {"running": False, "last_error": "disabled"}
    if stats.get("running"):
        print(
            f"LLM Ledger: OTLP receiver on http://{stats.get('host')}:{stats.get('port')}/v1/traces; "
            f"database {config.db_path()}",
            flush=True,
        )
    else:
        print(f"LLM Ledger: receiver not running ({stats.get('last_error')}); database {config.db_path()}", flush=True)
    preload()


if __name__ == "__main__":
    sys.exit(main())
