"""`python -m llmledger ...`: headless use (servers, CI, cron).

Each area registers its own subcommands (`register(subparsers)` in `<area>/cli.py`, with the
shared options from llmledger.cli_common). A command's
handler returns `(data, text)`: `--json` prints `data` as one JSON document, otherwise `text`.
Every failure exits non-zero with a one-line reason.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from decimal import Decimal
from typing import Any, Callable

from llmledger.errors import LedgerError

AREAS = (
    "llmledger.telemetry.cli",
    "llmledger.store.cli",
    "llmledger.pricing.cli",
    "llmledger.tokens.cli",
    "llmledger.planning.cli",
    "llmledger.local.cli",
    "llmledger.alerts.cli",
    "llmledger.simulate.cli",
)


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise SystemExit(_fail(f"{self.prog}: {message}", code=2))


def _default(o: Any):
    if isinstance(o, Decimal):
        return float(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, default=_default, indent=2))
    else:
        print(text)


def _fail(msg: str, code: int = 1) -> int:
    print(f"error: {' '.join(str(msg).split())}", file=sys.stderr)
    return code


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="llmledger", description="LLM Ledger: plan and watch what LLM calls cost.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    for name in AREAS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # Skip an area that does not exist (yet); a broken import inside one still fails loudly.
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable = args.func
    try:
        out = handler(args)
    except LedgerError as exc:
        return _fail(exc.msg)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    if out is None:
        return 0
    data, text = out
    try:
        emit(args, data, text)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`... | head`). As Python's docs advise for SIGPIPE: point stdout
        # at devnull so the flush at exit cannot fail again, and end quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0
