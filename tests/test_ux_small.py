"""Small things (issue 15, item 8): money and counts read as people write them, the export makes
no extra copy, and `llmledger sql ... | head` ends quietly."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pandas as pd
import pytest
from helpers import subprocess_env

from llmledger.reads import export as rx
from llmledger.reads.filters import CallFilter
from llmledger.ui import format as fmt


@pytest.fixture
def demo_con(con):
    from llmledger.telemetry import demo

    demo.generate(con, n_calls=300, days=10)
    return con


def test_export_reads_arrow_from_a_relation_without_duckdbs_extra_copy_warning(demo_con):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*extra copy.*")
        csv = rx.export_csv(demo_con.cursor(), CallFilter.build())
        parquet = rx.export_parquet(demo_con.cursor(), CallFilter.build())
    assert csv.count(b"\n") == 1 + rx.export_count(demo_con.cursor(), CallFilter.build())
    assert parquet[:4] == b"PAR1"


@pytest.mark.parametrize(
    "value, shown",
    [
        (-27.5196, "-$27.52"),
        (266421.7318, "$266,421.73"),
        (0.0012, "$0.0012"),
        (-0.0012, "-$0.0012"),
        (0, "$0.00"),
        (None, fmt.DASH),
        (float("nan"), fmt.DASH),
        (pd.NA, fmt.DASH),
    ],
)
def test_money_reads_as_written(value, shown):
    assert fmt.usd(value) == shown


def test_signed_money_and_plural_units():
    assert fmt.signed_usd(-27.5196) == "−$27.52" and fmt.signed_usd(3) == "+$3.00"
    assert fmt.count(pd.NA) == fmt.DASH and fmt.compact(pd.NA) == fmt.DASH
    assert fmt.plural(1, "month") == "1 month" and fmt.plural(12, "month") == "12 months"
    assert fmt.plural(1_234, "call") == "1,234 calls"


def test_sql_piped_into_head_ends_without_a_traceback(con, db_path):
    """`python -m llmledger sql ... | head -1`: head closes the pipe early; Python's docs say to
    point stdout at devnull and exit quietly rather than die in BrokenPipeError."""
    con.close()  # the ledger exists; the CLI opens it
    sql = "SELECT range AS n, repeat('x', 200) AS pad FROM range(200000)"
    p = subprocess.run(
        f"'{sys.executable}' -m llmledger sql \"{sql}\" --db '{db_path}' | head -1",
        shell=True,
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert p.stdout.strip(), p.stderr
    assert "Traceback" not in p.stderr and "BrokenPipeError" not in p.stderr, p.stderr
    assert p.stderr == ""
