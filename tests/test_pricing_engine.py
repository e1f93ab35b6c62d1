"""The cost engine: hand-computed cases in Python, and llm_calls.cost_usd on a real DuckDB."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from llmledger.errors import PricingError
from llmledger.pricing import hooks, importers, sheets
from llmledger.pricing.engine import Usage, cost_of_usage, priced_calls_sql
from llmledger.pricing.model import EPOCH, ModelEntry, PriceRow, Sheet, SheetVersion
from llmledger.telemetry import loader, otlp

ROOT = Path(__file__).resolve().parents[1]
D = Decimal


def test_plain_input_output():
    b = cost_of_usage(PriceRow(input_mtok=D("2.5"), output_mtok=D(10)), Usage(8192, 1000))
    assert b.input_usd == D("0.02048") and b.output_usd == D("0.01") and b.total == D("0.030480000")


def test_cache_read_and_write_prices():
    row = PriceRow(
        input_mtok=D(3),
        output_mtok=D(15),
        cache_read_mtok=D("0.3"),
        cache_write_mtok=D("3.75"),
        cache_write_1h_mtok=D(6),
    )
    # 10,000 input of which 6,000 cache reads, 1,000 5-min writes, 500 1-h writes: 2,500 uncached
    b = cost_of_usage(
        row, Usage(10_000, 200, cache_read_tokens=6000, cache_write_tokens=1000, cache_write_1h_tokens=500)
    )
    assert b.input_usd == D(2500) * 3 / 10**6
    assert b.cache_read_usd == D(6000) * D("0.3") / 10**6
    assert b.cache_write_usd == (D(1000) * D("3.75") + D(500) * 6) / 10**6
    assert b.total == D("0.0075") + D("0.0018") + D("0.00675") + D("0.003")
    # no cache price: cache tokens cost the input price, never $0
    b = cost_of_usage(PriceRow(input_mtok=D(2), output_mtok=D(8)), Usage(1000, 0, cache_read_tokens=400))
    assert b.cache_read_usd == D(400) * 2 / 10**6 and b.total == D("0.002")


def test_reasoning_billed_as_output_unless_priced_apart():
    u = Usage(100, 1000, reasoning_tokens=600)
    same = cost_of_usage(PriceRow(input_mtok=D(1), output_mtok=D(4)), u)
    assert same.output_usd == D(1000) * 4 / 10**6 and same.reasoning_usd == 0
    apart = cost_of_usage(PriceRow(input_mtok=D(1), output_mtok=D(4), reasoning_mtok=D(10)), u)
    assert apart.output_usd == D(400) * 4 / 10**6 and apart.reasoning_usd == D(600) * 10 / 10**6


def test_long_context_tier_is_a_cliff():
    m = ModelEntry(
        "g",
        prices=[
            PriceRow("standard", 0, input_mtok=D("1.25"), output_mtok=D(10)),
            PriceRow("standard", 200_000, input_mtok=D("2.5"), output_mtok=D(15)),
        ],
    )
    low = cost_of_usage(m, Usage(200_000, 1000))
    high = cost_of_usage(m, Usage(200_001, 1000))
    assert low.total == D("0.26")  # 200,000 x 1.25 + 1,000 x 10, per 1M
    assert high.total == (D(200_001) * D("2.5") + D(1000) * 15) / 10**6


def test_batch_tier_and_per_request_fee():
    m = ModelEntry(
        "x",
        prices=[
            PriceRow("standard", 0, input_mtok=D(2), output_mtok=D(8), request_usd=D("0.005")),
            PriceRow("batch", 0, input_mtok=D(1), output_mtok=D(4)),
        ],
    )
    assert cost_of_usage(m, Usage(1000, 1000)).total == D("0.015")
    assert cost_of_usage(m, Usage(1000, 1000), "batch").total == D("0.005")
    with pytest.raises(PricingError, match="no flex price"):
        cost_of_usage(m, Usage(1, 1), "flex")


def test_bad_usage_is_refused():
    row = PriceRow(input_mtok=D(1), output_mtok=D(1))
    with pytest.raises(PricingError, match="negative"):
        cost_of_usage(row, Usage(-1, 0))
    with pytest.raises(PricingError, match="exceed input"):
        cost_of_usage(row, Usage(10, 0, cache_read_tokens=11))
    with pytest.raises(PricingError, match="no output price"):
        cost_of_usage(PriceRow(input_mtok=D(1)), Usage(10, 5))


# --------------------------------------------------------------------------- SQL on a real DuckDB


def load_otlp(con):
    for f in sorted((ROOT / "tests" / "data" / "otlp").glob("*/in.json")):
        loader.load(con, otlp.decode_file_bytes(f.name, f.read_bytes()), f"test-{f.parent.name}", "test")
    trace_ids = [r[0] for r in con.execute("SELECT DISTINCT trace_id FROM calls").fetchall()]
    con.execute("BEGIN")
    hooks.after_load(con, trace_ids)  # the loader hook (idempotent if the loader already ran it)
    con.execute("COMMIT")


def _per_m(raw, model, key):
    v = raw[model].get(key)
    return None if v is None else D(repr(v)) * 10**6


def test_llm_calls_cost_from_otlp_fixtures(con):
    load_otlp(con)
    raw = json.loads(importers.litellm_map_path().read_text())
    rows = con.execute("""SELECT coalesce(response_model, request_model), input_tokens, output_tokens,
                                 cache_read_tokens, cache_write_tokens, cost_usd, price_missing, input_cost_usd,
                                 cache_cost_usd, output_cost_usd
                          FROM llm_calls""").fetchall()
    assert len(rows) >= 5
    priced = 0
    for model, i, o, cr, cw, cost, missing, ic, cc, oc in rows:
        if model not in raw or i is None:
            continue
        cr, cw = cr or 0, cw or 0
        expect = (
            (i - cr - cw) * _per_m(raw, model, "input_cost_per_token")
            + cr * (_per_m(raw, model, "cache_read_input_token_cost") or _per_m(raw, model, "input_cost_per_token"))
            + cw * (_per_m(raw, model, "cache_creation_input_token_cost") or _per_m(raw, model, "input_cost_per_token"))
            + (o or 0) * _per_m(raw, model, "output_cost_per_token")
        ) / 10**6
        assert not missing
        assert cost == expect.quantize(D("1e-9")), model
        assert abs(ic + cc + oc - cost) <= D("2e-9")
        priced += 1
    assert priced >= 5
    cols = [d[0] for d in con.execute("SELECT * FROM llm_calls LIMIT 0").description]
    for c in (
        "trace_id",
        "span_id",
        "parent_span_id",
        "start_time",
        "duration_ms",
        "service",
        "environment",
        "feature",
        "team",
        "user_id",
        "session_id",
        "provider",
        "operation",
        "request_model",
        "response_model",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "usage_source",
        "convention",
        "status",
        "reported_cost_usd",
        "cost_usd",
        "is_demo",
        "price_missing",
        "cost_diff_usd",
        "input_cost_usd",
        "output_cost_usd",
        "cache_cost_usd",
    ):
        assert c in cols


def _insert_call(
    con, span, model, i, o, cr=None, cw=None, rs=None, start="2025-03-01", feature="f", reported=None, input_text=None
):
    con.execute(
        """INSERT INTO calls (trace_id, span_id, start_time, request_model, response_model, provider,
                       input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
                       usage_source, convention, status, feature, reported_cost_usd, input_text)
                   VALUES ('t', ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, 'reported', 'test', 'ok', ?, ?, ?)""",
        [
            span,
            datetime.fromisoformat(start).replace(tzinfo=timezone.utc),
            model,
            i,
            o,
            cr,
            cw,
            rs,
            feature,
            reported,
            input_text,
        ],
    )


def _hand_sheet():
    return Sheet(
        "hand",
        "csv",
        "test",
        [
            SheetVersion(
                EPOCH,
                [
                    ModelEntry(
                        "tiered",
                        prices=[
                            PriceRow("standard", 0, input_mtok=D(1), output_mtok=D(2)),
                            PriceRow("standard", 100, input_mtok=D(10), output_mtok=D(20)),
                        ],
                    ),
                    ModelEntry(
                        "fee",
                        prices=[PriceRow("standard", 0, input_mtok=D(1), output_mtok=D(1), request_usd=D("0.25"))],
                    ),
                    ModelEntry(
                        "cached",
                        prices=[
                            PriceRow(
                                "standard",
                                0,
                                input_mtok=D(4),
                                output_mtok=D(8),
                                cache_read_mtok=D(1),
                                cache_write_mtok=D(5),
                                reasoning_mtok=D(16),
                            )
                        ],
                    ),
                ],
            ),
            SheetVersion(
                datetime(2025, 6, 1, tzinfo=timezone.utc),
                [
                    ModelEntry("tiered", prices=[PriceRow("standard", 0, input_mtok=D(3), output_mtok=D(6))]),
                ],
            ),
        ],
    )


def test_sql_matches_python_on_hand_cases(con):
    sheets.save_sheet(con, _hand_sheet())
    _insert_call(con, "a", "tiered", 100, 10)
    _insert_call(con, "b", "tiered", 101, 10)
    _insert_call(con, "c", "fee", 10, 10)
    _insert_call(con, "d", "cached", 1000, 100, cr=600, cw=100, rs=40, reported="0.001")
    _insert_call(con, "e", "tiered", 500, 10, start="2025-07-01")  # the June version applies
    _insert_call(con, "f", "nobody-prices-me", 5, 5)
    _insert_call(con, "g", "fee", None, None)  # usage unknown: the fee alone is known
    _insert_call(con, "h", "fee", 200_000_000, 1)  # beyond MAX_TOKENS: garbage, no cost rather than overflow
    sheets.set_active_sheet(con, "hand")
    got = dict(con.execute("SELECT span_id, cost_usd FROM llm_calls").fetchall())
    mem = _hand_sheet()
    v1, v2 = mem.versions
    model = {m.model_id: m for m in v1.models}
    assert got["a"] == cost_of_usage(model["tiered"], Usage(100, 10)).total == D("0.000120000")
    assert got["b"] == cost_of_usage(model["tiered"], Usage(101, 10)).total == D("0.001210000")
    assert got["c"] == cost_of_usage(model["fee"], Usage(10, 10)).total == D("0.250020000")
    d = cost_of_usage(
        model["cached"], Usage(1000, 100, cache_read_tokens=600, cache_write_tokens=100, reasoning_tokens=40)
    )
    assert got["d"] == d.total == (D(300) * 4 + D(600) * 1 + D(100) * 5 + D(60) * 8 + D(40) * 16) / 10**6
    assert got["e"] == cost_of_usage(v2.models[0], Usage(500, 10)).total == D("0.001560000")
    assert got["f"] is None
    assert got["g"] == D("0.25")
    assert got["h"] is None
    diff = con.execute("SELECT cost_diff_usd FROM llm_calls WHERE span_id = 'd'").fetchone()[0]
    assert diff == got["d"] - D("0.001")
    # as_of: every call priced with the version in effect then
    sql, params = priced_calls_sql("hand", as_of=datetime(2025, 1, 1, tzinfo=timezone.utc))
    early = dict(con.execute(f"SELECT span_id, cost_usd FROM ({sql})", params).fetchall())
    assert early["e"] == cost_of_usage(model["tiered"], Usage(500, 10)).total


def test_unknown_models_listed_and_null(con):
    load_otlp(con)
    _insert_call(con, "x1", "acme-internal-llm", 100, 10)
    _insert_call(con, "x2", "acme-internal-llm", 50, 5)
    unknown = sheets.unknown_models(con)
    assert list(unknown["model"]) == ["acme-internal-llm"] and int(unknown["calls"][0]) == 2
    rows = con.execute(
        "SELECT cost_usd, price_missing FROM llm_calls WHERE request_model = 'acme-internal-llm'"
    ).fetchall()
    assert rows == [(None, True), (None, True)]
    # the OTLP fixtures' models all have a price in the default sheet
    assert con.execute("SELECT count(*) FROM llm_calls WHERE convention <> 'test' AND price_missing").fetchone()[0] == 0


def test_pricing_modules_import_without_streamlit():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import llmledger.pricing.cli, llmledger.pricing.engine, llmledger.pricing.estimate, "
        "llmledger.pricing.hooks, llmledger.pricing.importers, llmledger.pricing.matching, "
        "llmledger.pricing.swaps, llmledger.pricing.schema, llmledger.pricing.sheets\n"
        "assert 'streamlit' not in sys.modules and 'litellm' not in sys.modules\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
