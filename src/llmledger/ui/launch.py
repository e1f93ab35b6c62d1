"""`make run`: start the dashboard with its receiver already listening.

`streamlit run` only executes app.py when a browser connects, so the embedded OTLP receiver would
not listen until then. This launcher opens the ledger and starts the receiver in the server's own
process first (the same st.cache_resource entry the pages use), then hands over to Streamlit.

It hands over through `streamlit run`'s own command line, not `bootstrap.run`: that one skips the
config loading the CLI does, so `--port` and `STREAMLIT_SERVER_PORT` were both ignored and
.streamlit/config.toml's port won. Through the CLI the usual order holds: flags (`--port`), then
STREAMLIT_* environment variables, then .streamlit/config.toml (port 8501).
"""

from __future__ import annotations

import argparse
import sys

from llmledger import config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmledger-dashboard")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="dashboard port (default: STREAMLIT_SERVER_PORT, else .streamlit/config.toml's 8501)",
    )
    args = parser.parse_args(argv)

    from streamlit.web import cli as streamlit_cli

    from llmledger.errors import LedgerError
    from llmledger.ui import common

    try:
        res = common.resources()
    except LedgerError as exc:
        print(f"error: {exc.msg}", file=sys.stderr)
        return 1
    stats = res["service"].stats() if res["service"] is not None else {"running": False, "last_error": "disabled"}
    if stats.get("running"):
        print(
            f"LLM Ledger: OTLP receiver on http://{stats.get('host')}:{stats.get('port')}/v1/traces; "
            f"database {config.db_path()}",
            flush=True,
        )
    else:
        print(f"LLM Ledger: receiver not running ({stats.get('last_error')}); database {config.db_path()}", flush=True)
    app = str(config.PROJECT_ROOT / "app.py")
    flags = ["--server.headless", "true"] + (["--server.port", str(args.port)] if args.port else [])
    return streamlit_cli.main(["run", app, *flags], prog_name="streamlit", standalone_mode=False) or 0


if __name__ == "__main__":
    sys.exit(main())
