"""The served app in headless Chromium: every page renders without an exception; screenshots.

Starts `streamlit run app.py` on a free port against a temporary ledger pre-filled with demo data
(and the embedded receiver on another free port), visits each page in app.PAGES, waits until the
script has finished running (Streamlit's own script-state mark on its root element), checks that
no exception box shows, and writes a full-page screenshot to tests/artifacts/<page>.png. The app
process is always terminated.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGE_TIMEOUT_MS,
    full_screenshot,
    rerun,
    url_path,
    wait_rendered,
    watch_runs,
)
from helpers import app_pages, serve_app

pytestmark = pytest.mark.browser

START_TIMEOUT_S = 120
VEGA = '[data-testid="stVegaLiteChart"]'


def shot_name(page_file: str) -> str:
    return Path(page_file).stem


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    path = tmp_path_factory.mktemp("browser") / "ledger.duckdb"
    con = connect(path)
    result = demo.generate(con, n_calls=4000)
    assert result.calls_new > 3000
    con.close()
    return path


@pytest.fixture(scope="module")
def served_app(demo_db):
    with serve_app(demo_db, timeout_s=START_TIMEOUT_S) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def app_url(served_app, browser) -> str:
    """The app's base URL. The first visit to the fresh server is a deep link (/ingest): the page
    files live in app_pages/, not pages/, so Streamlit never falls back to its folder-based
    navigation and a bookmarked page shows the app's own sidebar titles."""
    base, _ = served_app
    page = watch_runs(browser.new_page())
    try:
        page.goto(f"{base}/ingest", timeout=PAGE_TIMEOUT_MS)
        wait_rendered(page)
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Ingest" in nav and "Local lab" in nav, f"deep link shows {nav!r}"
        assert page.get_by_text("Page not found").count() == 0
    finally:
        page.close()
    return base


@pytest.mark.parametrize("page_file,title", app_pages())
def test_page_renders_in_chromium(app_url, browser, artifacts, page_file, title):
    base = app_url
    page = watch_runs(browser.new_page(viewport={"width": 1440, "height": 1000}))
    try:
        page.goto(f"{base}/{url_path(page_file)}", timeout=PAGE_TIMEOUT_MS)
        wait_rendered(page)
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, exceptions.first.inner_text()
        assert page.get_by_text("Page not found").count() == 0, "the url does not name this page"
        assert page.locator("h1").first.inner_text().strip(), "page has no title"
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert title in nav, f"sidebar shows {nav!r}, not the app's navigation"
        if page_file == "app_pages/calls.py":
            assert page.get_by_text("DEMO DATA").count() >= 1
            charts = page.locator(VEGA)
            for chart_title in ("Calls per day", "Tokens per day", "p95 latency per day (ms)", "Cost per day (USD)"):
                chart = charts.filter(has_text=chart_title)
                chart.first.wait_for(timeout=PAGE_TIMEOUT_MS)
                # drawn: marks (bars, or the latency lines) and a legend naming the demo features
                marks = chart.first.locator("g.mark-rect path, g.mark-line path")
                assert marks.count() > 0, f"{chart_title}: no marks drawn"
                assert "demo-support-chat" in chart.first.locator(".role-legend").first.text_content()
            assert page.locator(".js-plotly-plot").count() == 0  # the first view loads no Plotly
        if page_file == "app_pages/ingest.py":
            assert page.get_by_text("/v1/traces").count() >= 1  # the live receiver's endpoint
        full_screenshot(page, artifacts / f"{shot_name(page_file)}.png")
    finally:
        page.close()


def test_calls_trace_drilldown_in_chromium(app_url, browser, artifacts):
    """Open the Top traces tab and check the waterfall draws bars for the selected trace."""
    base = app_url
    page = watch_runs(browser.new_page(viewport={"width": 1440, "height": 1000}))
    try:
        page.goto(f"{base}/{url_path('app_pages/calls.py')}", timeout=PAGE_TIMEOUT_MS)
        wait_rendered(page)
        rerun(page, page.get_by_role("tab", name="Top traces").click)  # a lazy tab: opening it runs it
        plot = page.locator(".js-plotly-plot").filter(has_text="Trace ")
        plot.first.wait_for(timeout=PAGE_TIMEOUT_MS)
        assert plot.first.locator("g.point").count() >= 2  # one bar per span
        full_screenshot(page, artifacts / "calls-top-traces.png")
    finally:
        page.close()
