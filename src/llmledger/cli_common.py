"""What every area's `cli.py` shares: the common options. A module of its own (rather than part
of llmledger.cli, which imports every area's commands) so that no area imports the CLI entry
point that imports it."""

from __future__ import annotations

import argparse


def add_common(p: argparse.ArgumentParser, db: bool = True) -> None:
    if db:
        p.add_argument("--db", help="DuckDB file (default: $LLMLEDGER_DB or data/ledger.duckdb)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
