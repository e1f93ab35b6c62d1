"""One definition of actual cost: a feature's spend last month and its count of unpriced calls are
the same on Spend, Plan vs actual and Reprice's "actual" column, under the same sheet; a viewer's
sheet belongs to that session and never moves the active one. On demo traffic made by the real
OpenTelemetry SDK, plus calls that report their own cost, loaded through the real loader."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import streamlit as st
from apptest_helpers import metrics, page
from helpers import ROOT
from ledgers import reported_cost_doc
from streamlit.testing.v1 import AppTest

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
FEATURE = "demo-support-chat"
MONTH = (date(2026, 10, 1), date(2026, 10, 31))  # "last month", inclusive UTC days
#: A second sheet that prices the feature's models differently, the demo's fine-tune included.
TEAM_RATES = (
    b"model,provider,input_per_mtok,output_per_mtok\ngpt-4o-mini,openai,0.3,1.2\ngpt-4o,openai,5,20\n"
    b"demo-acme-llama-3.1-8b-ft,,0.2,0.2\n"
)


def build(path) -> None:
    from llmledger.pricing import sheets
    from llmledger.store.db import connect
    from llmledger.telemetry import demo, loader
    from llmledger.telemetry.otlp import decode_json

    con = connect(path)
    demo.generate(con, n_calls=3000, days=60, now=NOW)
    # Calls in the same feature and month that carry a reported cost: one the sheet prices (the
    # computed cost wins) and one it cannot (acme-private-model-x: its reported cost is used).
    doc = reported_cost_doc(datetime(2026, 10, 15, 9, tzinfo=UTC), id_base=7000)
    for rs in doc["resourceSpans"]:
        for span in rs["scopeSpans"][0]["spans"]:
            for a in span["attributes"]:
                if a["key"] == "feature":
                    a["value"] = {"stringValue": FEATURE}
    loader.load(con, decode_json(json.dumps(doc)), "reported-costs", "test")
    sheets.import_sheet_bytes(con, TEAM_RATES, "team-rates.csv")
    sheets.set_active_sheet(con, "litellm")
    con.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    path = tmp_path_factory.mktemp("cost_consistency") / "seed.duckdb"
    build(path)
    return path


@pytest.fixture
def ledger(seeded, db_path):
    shutil.copy(seeded, db_path)
    return db_path


def figures(con, sheet: str | None) -> dict[str, dict]:
    """(actual cost, unpriced calls, reported-only calls) of FEATURE in MONTH from each page's
    backend, under `sheet` (None: the active sheet)."""
    from llmledger.planning import actuals, prices
    from llmledger.planning.requirements import RequirementSet, UseCase
    from llmledger.reads import filters as rf
    from llmledger.reads import spend as rs
    from llmledger.reads.filters import CallFilter
    from llmledger.reads.reprice import reprice

    t = rs.spend_totals(con, CallFilter.build(*MONTH, {"feature": [FEATURE]}), sheet=sheet)
    row = reprice(con, period=rf.period_bounds(*MONTH), baseline_sheet=sheet).set_index("feature").loc[FEATURE]
    rs = RequirementSet(
        name="c",
        start_month="2026-09",
        sheet="litellm",
        use_cases=[
            UseCase(
                name="Support",
                requests_per_day=20,
                input_tokens=1200,
                output_tokens=200,
                model="gpt-4o-mini",
                feature_tag=FEATURE,
            )
        ],
    )
    pva = actuals.plan_vs_actual(
        con,
        rs,
        "Support",
        prices.sheet_models(con, "litellm"),
        MONTH[0],
        MONTH[1] + timedelta(days=1),
        actual_sheet=sheet,
    )
    return {
        "spend": {
            "usd": Decimal(str(t["cost_usd"])),
            "unpriced": t["unpriced_calls"],
            "reported_only": t["reported_only_calls"],
        },
        "reprice": {
            "usd": row["baseline_usd"],
            "unpriced": int(row["unpriced_baseline"]),
            "reported_only": int(row["reported_only_baseline"]),
        },
        "plan": {
            "usd": Decimal(str(pva.actual_cost)),
            "unpriced": pva.unpriced_calls,
            "reported_only": pva.reported_only_calls,
        },
    }


@pytest.mark.parametrize("sheet", [None, "litellm", "team-rates"])
def test_spend_plan_and_reprice_agree_on_a_features_month(ledger, sheet, capsys):
    from llmledger.pricing import sheets
    from llmledger.store.db import connect

    con = connect(ledger)
    try:
        got = figures(con, sheet)
        with capsys.disabled():
            print(f"\n{FEATURE} {MONTH[0]:%Y-%m} under {sheet or 'the active sheet'}: {got}")
        nano = Decimal("0.000000001")
        usd = {page: f["usd"].quantize(nano) for page, f in got.items()}
        assert usd["spend"] == usd["reprice"] == usd["plan"] > 0
        assert got["spend"]["unpriced"] == got["reprice"]["unpriced"] == got["plan"]["unpriced"] > 0  # no usage
        assert got["spend"]["reported_only"] == got["reprice"]["reported_only"] == got["plan"]["reported_only"] == 1
        # The same rule straight from the contract view (active sheet).
        if sheet in (None, "litellm"):
            cost, unpriced = con.execute(
                "SELECT sum(actual_cost_usd), count_if(cost_basis = 'unpriced') FROM llm_calls "
                "WHERE feature = ? AND start_time >= ? AND start_time < ?",
                [FEATURE, datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)],
            ).fetchone()
            assert cost == usd["spend"] and unpriced == got["spend"]["unpriced"]
        from llmledger.pricing.engine import COST_BASES

        assert {r[0] for r in con.execute("SELECT DISTINCT cost_basis FROM llm_calls").fetchall()} == set(COST_BASES)
        assert sheets.get_active_sheet(con) == "litellm"  # passing a sheet never moves the active one
    finally:
        con.close()


def test_sheets_price_differently_so_the_agreement_is_not_vacuous(ledger):
    from llmledger.store.db import connect

    con = connect(ledger)
    try:
        a, b = figures(con, "litellm")["spend"], figures(con, "team-rates")["spend"]
        assert a["usd"] != b["usd"] and a["unpriced"] > b["unpriced"]  # team-rates prices the fine-tune
    finally:
        con.close()


# ------------------------------------------------------------------ the pages themselves


def app(name: str, **state) -> AppTest:
    at = page(name, timeout=240)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at) -> str:
    """Caption text with Markdown escapes removed (pages escape user text)."""
    return "\n".join(str(c.value) for c in at.caption).replace("\\", "")


def spend_page(sheet: str | None = None) -> AppTest:
    at = app("spend")
    if sheet:
        at.selectbox(key="spend_sheet").set_value(sheet).run()
    at.date_input(key="spend_dates").set_value(MONTH).run()
    at.multiselect(key="spend_f_feature").set_value([FEATURE]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def test_the_pages_show_the_same_figures(ledger):
    from llmledger.store.db import connect
    from llmledger.ui import format as fmt

    con = connect(ledger)
    want = figures(con, None)["spend"]
    con.close()
    st.cache_data.clear()
    usd, unpriced = fmt.usd(want["usd"]), fmt.count(want["unpriced"])

    spend = spend_page()
    m = metrics(spend)
    assert m["Spend in period"] == usd and m["Unpriced calls"] == unpriced
    assert f"**{unpriced}** unpriced" in captions(spend)

    reprice = app("reprice")
    reprice.date_input(key="reprice_dates").set_value(MONTH).run()
    table = next(d.value for d in reprice.dataframe if "actual_usd" in d.value.columns).set_index("grp")
    assert fmt.usd(table.loc[FEATURE, "actual_usd"]) == usd
    assert table.loc[FEATURE, "unpriced_actual"] == want["unpriced"]
    assert table.loc[FEATURE, "reported_only_actual"] == 1

    from llmledger.planning.requirements import RequirementSet, UseCase

    rs = RequirementSet(
        name="c",
        start_month="2026-09",
        sheet="litellm",
        use_cases=[
            UseCase(
                name="Support",
                requests_per_day=20,
                input_tokens=1200,
                output_tokens=200,
                model="gpt-4o-mini",
                feature_tag=FEATURE,
            )
        ],
    )
    plan = app("plan", plan_rs=rs, pf_tab="Plan vs actual")
    plan.date_input(key="pf_pva_period").set_value(MONTH).run()
    assert not plan.exception
    cmp_ = next(d.value for d in plan.dataframe if "planned" in d.value.columns).set_index("metric")
    assert fmt.usd(cmp_.loc["token cost (USD)", "actual"]) == usd
    assert f"**{unpriced}** unpriced" in captions(plan)
    assert any(f"{unpriced} call(s) have no known cost" in i.value.replace("\\", "") for i in plan.info)


def test_two_sessions_see_their_own_sheet_and_the_active_one_stays(ledger):
    from llmledger.pricing import sheets
    from llmledger.store.db import connect

    con = connect(ledger)
    want = {s: figures(con, s)["spend"] for s in ("litellm", "team-rates")}
    con.close()
    st.cache_data.clear()
    from llmledger.ui import format as fmt

    alice = spend_page("team-rates")  # two browser sessions on the same ledger
    bob = spend_page()
    alice.run()  # after bob's run, alice still sees her sheet
    assert metrics(alice)["Spend in period"] == fmt.usd(want["team-rates"]["usd"])
    assert metrics(bob)["Spend in period"] == fmt.usd(want["litellm"]["usd"])
    assert "stays `litellm`" in captions(alice) and "`litellm` is the active sheet" in captions(bob)
    con = connect(ledger)
    assert sheets.get_active_sheet(con) == "litellm"
    con.close()
    # Reprice's actual column follows the session's sheet too.
    r = app("reprice")
    r.selectbox(key="reprice_view_sheet").set_value("team-rates").run()
    assert "Actual (team-rates)" in metrics(r)
    # Making a sheet active is a deliberate act, through its own button.
    alice.button(key="spend_make_active").click().run()
    assert not alice.exception
    con = connect(ledger)
    assert sheets.get_active_sheet(con) == "team-rates"
    con.close()


def test_cli_shows_and_sets_the_active_sheet(ledger):
    import subprocess
    import sys

    from helpers import subprocess_env

    def cli(*args):
        out = subprocess.run(
            [sys.executable, "-m", "llmledger", "prices", "active", *args, "--db", str(ledger), "--json"],
            capture_output=True,
            text=True,
            env=subprocess_env(),
            cwd=ROOT,
        )
        return out.returncode, out.stdout, out.stderr

    code, out, _ = cli()
    assert code == 0 and json.loads(out) == {"active_sheet": "litellm"}
    assert cli("team-rates")[0] == 0 and json.loads(cli()[1]) == {"active_sheet": "team-rates"}
    code, _, err = cli("no-such-sheet")
    assert code != 0 and "unknown price sheet" in err


def test_a_ledger_from_an_older_release_gets_the_current_view(db_path):
    """The view is derived from code: a ledger whose migrations ran under an older engine (the
    llm_calls SQL of the first pricing release, kept in tests/data) is re-created on open."""
    import duckdb

    from llmledger.pricing import schema
    from llmledger.store import db

    old_view = (ROOT / "tests/data/pricing/llm_calls_view_e0fa357.sql").read_text()
    con = duckdb.connect(str(db_path))
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    con.execute("CREATE TABLE _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
    for name, fn in db.all_migrations():
        con.execute("BEGIN")
        if name == "p002_priced_llm_calls_view":
            con.execute(old_view)
        else:
            fn(con)
        con.execute("INSERT INTO _migrations (name) VALUES (?)", [name])
        con.execute("COMMIT")
    cols = [r[0] for r in con.execute("SELECT * FROM llm_calls LIMIT 0").description]
    assert "actual_cost_usd" not in cols  # the old release's view
    con.close()

    ro = db.connect(db_path, read_only=True)  # a read-only open sees the current SQL too
    assert "cost_basis" in [r[0] for r in ro.execute("SELECT * FROM llm_calls LIMIT 0").description]
    ro.close()
    con = db.connect(db_path)
    view = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'llm_calls' AND NOT temporary").fetchone()[0]
    assert "actual_cost_usd" in view and "cost_basis" in view
    assert schema.VIEWS  # pricing declares the views it derives from code
    con.close()


# ------------------------------------------------------------------ two browsers at once


def _spend_metric(page) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text="Spend in period")
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _pick_sheet(page, label: str, sheet: str) -> None:
    from browser_helpers import rerun

    page.locator('[data-testid="stSelectbox"]').filter(has_text=label).click()
    rerun(page, page.get_by_role("option", name=sheet, exact=True).click)


@pytest.mark.browser
def test_two_browser_contexts_keep_their_own_sheet(tmp_path, artifacts):
    """Two browsers on one served app: one picks another sheet, the other keeps the active one,
    and the active sheet (what the CLI uses) never changes."""
    from browser_helpers import (
        CHROMIUM,
        CHROMIUM_ARGS,
        PAGE_TIMEOUT_MS,
        full_screenshot,
        rerun,
        wait_rendered,
        watch_runs,
    )
    from helpers import serve_app
    from playwright.sync_api import sync_playwright

    from llmledger.pricing import sheets
    from llmledger.reads import spend as rs
    from llmledger.reads.filters import CallFilter
    from llmledger.store.db import connect
    from llmledger.ui import format as fmt

    db = tmp_path / "ledger.duckdb"
    build(db)
    con = connect(db)
    want = {
        s: fmt.usd(rs.spend_totals(con, CallFilter.build(), sheet=s)["cost_usd"]) for s in ("litellm", "team-rates")
    }
    con.close()
    assert want["litellm"] != want["team-rates"]
    with serve_app(db) as (base, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            first = watch_runs(browser.new_page())
            first.goto(base, timeout=PAGE_TIMEOUT_MS)  # let st.navigation register the pages
            wait_rendered(first)
            first.close()
            size = {"width": 1440, "height": 1000}
            alice = watch_runs(browser.new_context(viewport=size).new_page())  # two browsers: separate sessions
            bob = watch_runs(browser.new_context(viewport=size).new_page())
            for page in (alice, bob):
                page.goto(f"{base}/spend?preset=all", timeout=PAGE_TIMEOUT_MS)  # the totals are whole-range
                wait_rendered(page)
            assert _spend_metric(alice) == _spend_metric(bob) == want["litellm"]
            _pick_sheet(alice, "Price sheet (this browser session)", "team-rates")
            assert _spend_metric(alice) == want["team-rates"]
            assert alice.get_by_role("button", name="Make this the active sheet").count() == 1
            bob.reload()
            wait_rendered(bob)
            assert _spend_metric(bob) == want["litellm"]
            # Alice's session keeps her sheet across pages (in-app navigation, same session):
            # Reprice's actual is under it too.
            rerun(alice, alice.locator('[data-testid="stSidebarNav"]').get_by_text("Reprice", exact=True).click)
            alice.wait_for_url(lambda url: "/reprice" in url, timeout=PAGE_TIMEOUT_MS)  # with its filters in the query
            assert alice.locator('[data-testid="stMetric"]').filter(has_text="Actual (team-rates)").count() == 1
            full_screenshot(bob, artifacts / "cost-two-sessions-bob.png")
            for page in (alice, bob):
                shown = page.locator('[data-testid="stException"]')
                assert shown.count() == 0, shown.first.inner_text()
        finally:
            browser.close()
    con = connect(db)
    assert sheets.get_active_sheet(con) == "litellm"
    con.close()
