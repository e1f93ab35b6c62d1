"""Spend queries on real ingested data: OTLP files and the demo generator through the real loader,
priced by the real `llm_calls` view under the default (litellm) sheet."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import TEST_DATA
from ledgers import NOW, build_ledger, reported_cost_doc

from llmledger.pricing import sheets
from llmledger.reads import calls as rc
from llmledger.reads import export as rx
from llmledger.reads import filters as rf
from llmledger.reads import reprice as rp
from llmledger.reads import spend as rs
from llmledger.reads.filters import OTHER, UNATTRIBUTED, CallFilter
from llmledger.store.db import connect
from llmledger.telemetry import demo, loader
from llmledger.telemetry.otlp import decode_file_bytes, decode_json

ALL = CallFilter.build()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    path = tmp_path_factory.mktemp("spend") / "ledger.duckdb"
    build_ledger(path)
    con = connect(path)
    yield con
    con.close()


def raw(con, sql, params=()):
    return con.execute(sql, list(params)).fetchall()


def test_totals_match_the_view_and_never_count_unpriced_as_zero(ledger):
    t = rs.spend_totals(ledger, ALL)
    calls, priced, cost, computed, reported, unpriced = raw(
        ledger,
        """
        SELECT count(*), count(actual_cost_usd), sum(actual_cost_usd)::DOUBLE, count_if(cost_basis = 'computed'),
               count_if(cost_basis = 'reported'), count_if(cost_basis = 'unpriced')
        FROM llm_calls""",
    )[0]
    assert t["calls"] == calls > 2500
    assert t["priced_calls"] == priced == computed + reported == t["computed_calls"] + t["reported_only_calls"]
    assert t["cost_usd"] == pytest.approx(cost)
    assert t["unpriced_calls"] == unpriced > 0  # the demo's private model, calls without usage
    assert t["calls"] == priced + unpriced
    # acme-private-model-x has no price on the sheet: its reported cost is its actual cost, labelled
    assert t["reported_only_calls"] == reported == 1 and t["reported_only_usd"] == pytest.approx(0.01)
    computed_usd = raw(ledger, "SELECT sum(cost_usd)::DOUBLE FROM llm_calls")[0][0]
    assert t["cost_usd"] == pytest.approx(computed_usd + 0.01)
    ok_cost, ok_n = raw(
        ledger, "SELECT sum(actual_cost_usd)::DOUBLE, count(actual_cost_usd) FROM llm_calls WHERE status = 'ok'"
    )[0]
    assert t["cost_per_ok_call"] == pytest.approx(ok_cost / ok_n)


def test_breakdown_top_n_folds_the_rest_into_other_and_keeps_every_dollar(ledger):
    full = rs.spend_breakdown(ledger, ALL, "model", top_n=50)
    top = rs.spend_breakdown(ledger, ALL, "model", top_n=3)
    assert len(top) == 4 and top["grp"].iloc[-1] == OTHER
    assert list(top["grp"][:3]) == list(full["grp"][:3])
    assert top["cost_usd"].iloc[:3].is_monotonic_decreasing
    assert top["cost_usd"].sum() == pytest.approx(full["cost_usd"].sum())
    assert top["calls"].sum() == full["calls"].sum() == rs.spend_totals(ledger, ALL)["calls"]
    assert top["share"].sum() == pytest.approx(1.0)
    # Tokens per model are exact BIGINT sums (guards DuckDB 2.0's mis-typed sums over the view).
    rows = ledger.execute(
        "SELECT coalesce(request_model, response_model) AS m, input_tokens, output_tokens FROM llm_calls"
    ).df()
    expected = (
        rows.fillna({"input_tokens": 0, "output_tokens": 0})
        .assign(t=lambda d: d["input_tokens"] + d["output_tokens"])
        .groupby("m")["t"]
        .sum()
    )
    got = full.set_index("grp")["tokens"]
    assert got.max() > 100_000
    for model, tokens in got.items():
        assert tokens == expected[model], model


def test_unattributed_is_a_group_and_a_filter(ledger):
    by_feature = rs.spend_breakdown(ledger, ALL, "feature", top_n=50)
    assert UNATTRIBUTED in set(by_feature["grp"])
    only = rs.spend_totals(ledger, CallFilter.build(values={"feature": [UNATTRIBUTED]}))
    row = by_feature[by_feature["grp"] == UNATTRIBUTED].iloc[0]
    assert only["calls"] == row["calls"]


def test_series_is_stacked_top_n_by_cost_and_sums_to_the_total(ledger):
    f = CallFilter.build(NOW.date() - timedelta(days=30), NOW.date())
    s = rs.spend_series(ledger, f, "feature", "day", top_n=2)
    assert set(s["grp"]) - {OTHER} <= set(rs.spend_breakdown(ledger, f, "feature", 2)["grp"])
    assert len(set(s["grp"]) - {OTHER}) == 2
    assert s["cost_usd"].sum() == pytest.approx(rs.spend_totals(ledger, f)["cost_usd"])
    assert s["bucket"].min() >= pd.Timestamp(f.start, tz="UTC")
    with pytest.raises(Exception, match="bucket"):
        rs.spend_series(ledger, f, "feature", "fortnight")


def test_run_rate_projects_from_days_elapsed(ledger):
    as_of = NOW  # Nov 20, 12:00 UTC: 19.5 days of a 30-day month
    run = rs.month_to_date(ledger, ALL, as_of)
    mtd = raw(
        ledger,
        "SELECT sum(actual_cost_usd)::DOUBLE FROM llm_calls WHERE start_time >= ? AND start_time < ?",
        [datetime(2026, 11, 1, tzinfo=UTC), as_of],
    )[0][0]
    assert run.days_elapsed == pytest.approx(19.5)
    assert run.mtd_cost_usd == pytest.approx(mtd) and mtd > 0
    assert run.projected_cost_usd == pytest.approx(mtd / 19.5 * 30)
    assert "19.50 days elapsed" in run.method and "30 days in November" in run.method
    done = rs.month_to_date(ledger, ALL, datetime(2026, 10, 31, 23, 59, tzinfo=UTC) + timedelta(hours=2))
    assert done.month_start == date(2026, 11, 1)
    last_second = rs.month_to_date(ledger, ALL, datetime(2026, 12, 1, tzinfo=UTC) - timedelta(seconds=1))
    assert not last_second.complete and last_second.days_in_month == 30
    early = rs.month_to_date(ledger, ALL, datetime(2026, 12, 1, 0, 10, tzinfo=UTC))
    assert early.projected_cost_usd is None and "too early" in early.method


def test_default_as_of_falls_back_to_the_last_month_with_calls(ledger):
    assert rs.default_as_of(ledger, NOW) == NOW
    later = datetime(2027, 3, 5, tzinfo=UTC)
    assert rs.default_as_of(ledger, later).date() <= NOW.date() + timedelta(days=1)


def test_top_calls_are_priced_and_sorted(ledger):
    top = rs.top_calls(ledger, ALL, limit=10)
    assert len(top) == 10 and top["cost_usd"].notna().all()
    assert top["cost_usd"].is_monotonic_decreasing
    assert top["cost_usd"].iloc[0] == pytest.approx(
        raw(ledger, "SELECT max(actual_cost_usd)::DOUBLE FROM llm_calls")[0][0]
    )


def test_reported_vs_computed_difference(ledger):
    df, counts = rs.reported_vs_computed(ledger, ALL)
    row = df[df["model"] == "gpt-4o-mini"].iloc[0]
    assert row["calls"] == 2
    assert row["reported_usd"] == pytest.approx(0.5006)
    computed = raw(
        ledger,
        "SELECT sum(cost_usd)::DOUBLE FROM llm_calls WHERE service = 'costed-svc' AND request_model = 'gpt-4o-mini'",
    )[0][0]
    assert row["computed_usd"] == pytest.approx(computed)
    assert row["difference_usd"] == pytest.approx(computed - 0.5006) and row["difference_usd"] < 0
    assert counts == {"compared_calls": 2, "reported_only_calls": 1, "reported_only_usd": pytest.approx(0.01)}


def test_unpriced_calls_are_listed_with_their_reason(ledger):
    un = rs.unpriced_calls(ledger, ALL, limit=1000)
    assert "demo-acme-llama-3.1-8b-ft" in set(un["request_model"])
    assert "acme-private-model-x" not in set(un["request_model"])  # it reported its cost
    assert set(un["reason"]) == {"no price on the sheet", "no token usage reported"}
    assert un["calls"].sum() == rs.spend_totals(ledger, ALL)["unpriced_calls"]


def test_export_csv_and_parquet_round_trip(ledger):
    f = CallFilter.build(values={"feature": ["costed-a", "costed-b"]})
    assert rx.export_count(ledger, f) == 3
    csv = pd.read_csv(io.BytesIO(rx.export_csv(ledger, f)))
    assert list(csv.columns) == list(rx.EXPORT_COLUMNS) and len(csv) == 3
    assert csv["reported_cost_usd"].sum() == pytest.approx(0.5106)
    assert csv["cost_usd"].isna().sum() == 1  # the unknown model: empty, not 0
    assert csv["actual_cost_usd"].notna().all()  # ... but its reported cost is its actual cost
    assert sorted(csv["cost_basis"]) == ["computed", "computed", "reported"]
    table = pq.read_table(io.BytesIO(rx.export_parquet(ledger, f)))
    assert table.num_rows == 3
    assert str(table.schema.field("start_time").type).startswith("timestamp")
    assert table.schema.field("input_tokens").type == "int64"


def test_another_sheet_reprices_the_same_history_without_touching_the_active_one(ledger):
    before = rs.spend_totals(ledger, ALL)["cost_usd"]
    name = sheets.import_file(ledger, TEST_DATA.parent.parent / "data/pricing/langfuse/default-model-prices.json")
    after = rs.spend_totals(ledger, ALL, sheet=name)
    assert after["cost_usd"] != pytest.approx(before)
    assert sheets.get_active_sheet(ledger) == "litellm"
    assert rs.spend_totals(ledger, ALL)["cost_usd"] == pytest.approx(before)
    assert rs.spend_totals(ledger, ALL, sheet=name)["cost_usd"] == pytest.approx(after["cost_usd"])
    with pytest.raises(Exception, match="unknown price sheet"):
        rs.spend_totals(ledger, ALL, sheet="no-such-sheet")


def test_swap_mapping_counts_split_calls_with_and_without_text(ledger):
    with_text = rp.swap_mapping_counts(ledger, "feature", "support_triage")
    assert with_text == {"by_tokenizer": 1, "token_for_token": 0}
    # Every demo feature, its calls' text presence read row by row: the split follows it exactly.
    rows = raw(ledger, "SELECT feature, input_text, output_text FROM calls WHERE feature LIKE 'demo-%'")
    features = {f for f, _, _ in rows}
    assert len(features) > 1
    for feature in features:
        texts = [(i, o) for f, i, o in rows if f == feature]
        carried = sum(1 for i, o in texts if i is not None or o is not None)
        assert rp.swap_mapping_counts(ledger, "feature", feature) == {
            "by_tokenizer": carried,
            "token_for_token": len(texts) - carried,
        }
    assert any(i is None and o is None for _, i, o in rows)  # the demo has calls without text too
    lo, hi = rf.period_bounds(date(2020, 1, 1), date(2020, 1, 2))
    assert rp.swap_mapping_counts(ledger, "model", "gpt-4o-mini", (lo, hi)) == {"by_tokenizer": 0, "token_for_token": 0}


def test_bad_arguments_raise_ledger_errors(ledger):
    from llmledger.errors import LedgerError

    with pytest.raises(LedgerError):
        rs.spend_breakdown(ledger, ALL, "colour")
    with pytest.raises(LedgerError):
        rs.spend_breakdown(ledger, ALL, "model", top_n=0)
    with pytest.raises(LedgerError):
        rp.swap_mapping_counts(ledger, "team", "x")


def test_empty_ledger(tmp_path):
    con = connect(tmp_path / "empty.duckdb")
    t = rs.spend_totals(con, ALL)
    assert t["calls"] == 0 and t["cost_usd"] is None and t["cost_per_ok_call"] is None
    assert rs.spend_breakdown(con, ALL, "feature").empty
    run = rs.month_to_date(con, ALL, NOW)
    assert run.mtd_cost_usd == 0 and run.projected_cost_usd == 0
    assert rs.default_as_of(con, NOW) == NOW
    assert rx.export_count(con, ALL) == 0
    con.close()


def test_top_traces_by_cost(ledger):
    top = rc.top_traces(ledger, ALL, "cost", limit=5)
    assert len(top) == 5 and top["cost_usd"].is_monotonic_decreasing
    best = raw(
        ledger,
        "SELECT trace_id, sum(actual_cost_usd)::DOUBLE FROM llm_calls GROUP BY 1 "
        "HAVING sum(actual_cost_usd) IS NOT NULL ORDER BY 2 DESC LIMIT 1",
    )[0]
    assert top["trace_id"].iloc[0] == best[0] and top["cost_usd"].iloc[0] == pytest.approx(best[1])
    assert (top["root_name"] != "").all()  # names come from the trace's spans


def _view_totals(con, sheet="litellm"):
    from llmledger.pricing.engine import priced_calls_sql

    sql, params = priced_calls_sql(sheet)
    return raw(
        con,
        f"SELECT count(*), count(actual_cost_usd), sum(actual_cost_usd)::DOUBLE, count(DISTINCT feature) FROM ({sql})",
        params,
    )[0]


def _memo_totals(con, sheet="litellm"):
    t = rs.spend_totals(con, ALL, sheet=sheet)
    features = len(rs.spend_breakdown(con, ALL, "feature", 1000, sheet=sheet))
    return t["calls"], t["priced_calls"], t["cost_usd"], features


def test_memo_follows_loads_sheet_switches_and_removals(tmp_path):
    """A sheet's memo must always say what its priced calls say: after loads (incremental),
    under another sheet (its own memo) and after a removal (rebuilds)."""
    from llmledger.reads import spend_cache

    con = connect(tmp_path / "memo.duckdb")
    for f in sorted((TEST_DATA / "otlp").glob("*/in.json")):
        loader.load(con, decode_file_bytes(f.name, f.read_bytes()), f"file-{f.parent.name}", str(f))
    loader.load(con, decode_json(json.dumps(reported_cost_doc(NOW - timedelta(days=1)))), "costed", "test")
    sheets.set_active_sheet(con, "litellm")
    assert spend_cache.refresh(con, "litellm")["action"] == "rebuild"
    assert spend_cache.refresh(con, "litellm")["action"] == "fresh"
    assert _memo_totals(con)[:2] == _view_totals(con)[:2]
    # A later batch of known model names: re-read incrementally from its earliest call.
    loader.load(con, decode_json(json.dumps(reported_cost_doc(NOW, id_base=1000))), "late", "test")
    assert spend_cache.refresh(con, "litellm")["action"] == "incremental"
    assert _memo_totals(con)[:3] == pytest.approx(_view_totals(con)[:3])
    # A replayed batch adds nothing.
    loader.load(con, decode_json(json.dumps(reported_cost_doc(NOW, id_base=1000))), "late-again", "test")
    assert spend_cache.refresh(con, "litellm")["action"] == "noop"
    demo.generate(con, n_calls=400, days=60, now=NOW)
    sheets.set_active_sheet(con, "litellm")  # resolve the demo's model names (a price-token change)
    memo, view = _memo_totals(con), _view_totals(con)
    assert memo[:2] == view[:2] and memo[2] == pytest.approx(view[2]) and memo[3] == view[3] + 1  # + (unattributed)
    # Another sheet: its own memo, built in full, with other prices; the first one stays fresh.
    name = sheets.import_file(con, TEST_DATA.parent.parent / "data/pricing/langfuse/default-model-prices.json")
    assert spend_cache.refresh(con, name)["action"] == "rebuild"
    assert _memo_totals(con, name)[2] == pytest.approx(_view_totals(con, name)[2]) != pytest.approx(memo[2])
    assert spend_cache.refresh(con, "litellm")["action"] == "fresh"
    # Removing the demo rows shrinks `calls`: rebuild.
    demo.remove(con)
    assert spend_cache.refresh(con, "litellm")["action"] == "rebuild"
    assert _memo_totals(con)[0] == _view_totals(con)[0] == 5 + 3 + 3
    con.close()


@pytest.mark.parametrize("bucket", ["hour", "day", "week", "month"])
def test_series_buckets_match_date_trunc(ledger, bucket):
    f = CallFilter.build(NOW.date() - timedelta(days=40), NOW.date())
    s = rs.spend_series(ledger, f, "team", bucket, top_n=50)
    where, params = f.where()
    expected = ledger.execute(
        f"""SELECT date_trunc('{bucket}', start_time) AS bucket, count(*) AS calls,
                                  sum(actual_cost_usd)::DOUBLE AS cost FROM llm_calls WHERE {where}
                                  GROUP BY 1 ORDER BY 1""",
        params,
    ).df()
    got = s.groupby("bucket", as_index=False).agg(calls=("calls", "sum"), cost=("cost_usd", "sum"))
    assert list(got["bucket"]) == list(expected["bucket"])
    assert list(got["calls"]) == list(expected["calls"])
    assert got["cost"].to_numpy() == pytest.approx(expected["cost"].fillna(0).to_numpy())


def test_memo_table_checks_freshness_in_one_query_and_still_refuses_unknown_sheets(tmp_path):
    """A fresh memo answers after one query (no sheet check); an unknown sheet is still refused by
    name; a ledger without the memo's state table gets one on the first check."""
    from llmledger.errors import PricingError
    from llmledger.reads import spend_cache

    con = connect(tmp_path / "fresh.duckdb")
    demo.generate(con, n_calls=300, days=20, now=NOW)
    con.execute(f"DROP TABLE IF EXISTS {spend_cache.STATE}")
    table = spend_cache.memo_table(con, "litellm")
    assert table == spend_cache.table_for("litellm")
    assert spend_cache.refresh(con, "litellm")["action"] == "fresh"
    fresh, row = spend_cache._check(con.cursor(), "litellm")
    n_calls = con.execute("SELECT count(*) FROM calls").fetchone()[0]
    assert fresh and row[0] == row[3] and row[1] == row[4] == n_calls  # price token and calls as built
    assert spend_cache.memo_table(con, "litellm") == table
    with pytest.raises(PricingError, match="no-such-sheet"):
        spend_cache.memo_table(con, "no-such-sheet")
    # A load makes the memo stale: the next read brings it up to date before answering.
    demo.generate(con, n_calls=100, days=5, now=NOW)
    assert not spend_cache._check(con.cursor(), "litellm")[0]
    spend_cache.memo_table(con, "litellm")
    assert (
        con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        == con.execute("SELECT count(*) FROM calls").fetchone()[0]
    )
    con.close()
