"""`python -m llmledger estimate`: the acceptance bills from a CSV sheet holding the list prices,
and the default LiteLLM sheet's figures beside them."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest
from helpers import subprocess_env

from llmledger.errors import PricingError
from llmledger.pricing.estimate import monthly_bill

D = Decimal
SHEET = (
    "model,provider,input_per_mtok,output_per_mtok\ngpt-4o,openai,2.50,10\nclaude-3-5-sonnet-20241022,anthropic,3,15\n"
)
CASES = [("gpt-4o", D("2.50"), D(10), D("12192.00")), ("claude-3-5-sonnet-20241022", D(3), D(15), D("15830.40"))]


def cli(*args, db):
    p = subprocess.run(
        [sys.executable, "-m", "llmledger", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    return p


def test_estimate_acceptance_bills(tmp_path, db_path):
    csv = tmp_path / "list-prices.csv"
    csv.write_text(SHEET)
    p = cli("prices", "import", str(csv), db=db_path)
    assert p.returncode == 0, p.stderr
    for model, pin, pout, acceptance in CASES:
        p = cli(
            "estimate",
            "--model",
            model,
            "--input-tokens",
            "8192",
            "--output-tokens",
            "1000",
            "--requests",
            "400000",
            "--sheet",
            "list-prices",
            "--json",
            db=db_path,
        )
        assert p.returncode == 0, p.stderr
        got = json.loads(p.stdout)
        expected = D(400_000) * (D(8192) * pin + D(1000) * pout) / 10**6
        assert D(str(got["total_usd_rounded"])) == expected == acceptance
        assert got["priced_model"] == model and got["match_kind"] == "exact"
        text = cli(
            "estimate",
            "--model",
            model,
            "--input-tokens",
            "8192",
            "--output-tokens",
            "1000",
            "--requests",
            "400000",
            "--sheet",
            "list-prices",
            db=db_path,
        ).stdout
        assert f"total ${acceptance:,}" in text
        # the default sheet, for comparison (printed: where LiteLLM's prices differ, it shows)
        default = json.loads(
            cli(
                "estimate",
                "--model",
                model,
                "--input-tokens",
                "8192",
                "--output-tokens",
                "1000",
                "--requests",
                "400000",
                "--json",
                db=db_path,
            ).stdout
        )
        print(
            f"{model}: list-prices ${acceptance:,} | litellm ${D(str(default['total_usd_rounded'])).quantize(D('0.01')):,} "
            f"(priced as {default['priced_model']}, input ${default['prices']['input_mtok']}/M, "
            f"output ${default['prices']['output_mtok']}/M)"
        )
        assert default["sheet"] == "litellm" and default["total_usd"] > 0


def test_estimate_options_and_errors(db_path):
    b = monthly_bill("gpt-4o", 1000, 100, 1000, sheet="litellm", cached_input_share="0.5", growth_pct=10, months=2)
    first, second = b.months
    assert second.requests == D(1100) and second.total_usd == first.total_usd * D("1.1")
    assert b.total_usd == first.total_usd + second.total_usd
    assert first.cache_usd > 0
    with pytest.raises(PricingError, match="between 0 and 1"):
        monthly_bill("gpt-4o", 1, 1, 1, cached_input_share=2)
    with pytest.raises(PricingError, match="has no price"):
        monthly_bill("acme-llm", 1, 1, 1)
    p = cli(
        "estimate", "--model", "gpt-4o", "--input-tokens", "-5", "--output-tokens", "1", "--requests", "1", db=db_path
    )
    assert p.returncode != 0 and p.stderr.startswith("error:") and len(p.stderr.strip().splitlines()) == 1
    p = cli(
        "estimate",
        "--model",
        "gpt-4o",
        "--input-tokens",
        "1",
        "--output-tokens",
        "1",
        "--requests",
        "1",
        "--sheet",
        "nope",
        db=db_path,
    )
    assert p.returncode != 0 and "nope" in p.stderr


def test_the_name_matcher_is_built_once_per_sheet_and_again_when_it_changes():
    """Estimate prices every model under every sheet: the sheet's matcher is kept with the sheet
    object, and rebuilt for another object or when its latest models change."""
    import copy

    from llmledger.pricing.estimate import matcher_for
    from llmledger.pricing.importers import litellm_sheet

    sheet = litellm_sheet()
    first = matcher_for(sheet)
    assert matcher_for(sheet) is first
    assert monthly_bill("gpt-4o-mini", 1000, 100, 10, sheet=sheet).priced_model == "gpt-4o-mini"
    assert matcher_for(sheet) is first  # the bill used the same one
    other = copy.deepcopy(sheet)
    assert matcher_for(other) is not first
    latest = sheet.latest()
    gone = next(m for m in latest.models if m.model_id == "gpt-4o-mini")
    latest.models.remove(gone)  # the sheet changed: its matcher must not price the removed model
    rebuilt = matcher_for(sheet)
    assert rebuilt is not first
    hit = rebuilt.resolve("gpt-4o-mini")
    assert hit is None or hit.model_id != "gpt-4o-mini"
    assert first.resolve("gpt-4o-mini").model_id == "gpt-4o-mini"  # what a stale matcher would say
