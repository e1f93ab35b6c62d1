"""The served app in headless Chromium: run the lab for real and screenshot the finished run."""

import re

import pytest
from browser_helpers import CHROMIUM_ARGS, chromium, rerun, wait_rendered
from helpers import serve_app

pytestmark = [pytest.mark.browser, pytest.mark.llama]


@pytest.fixture
def served_app(tmp_path):
    with serve_app(tmp_path / "ledger.duckdb") as (base, _):
        yield base


def test_finished_run_in_the_browser(served_app, artifacts):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(served_app + "/local_lab", wait_until="networkidle")
        expect(page.get_by_role("heading", name="🧪 Local lab")).to_be_visible(timeout=60_000)
        wait_rendered(page)
        for label, value in (("Repeats", "2"), ("Max new tokens", "16")):
            box = page.get_by_label(label)
            box.fill(value)
            rerun(page, lambda: box.press("Enter"))
        page.get_by_role("button", name="▶ Run").click()
        expect(page.get_by_text("Results", exact=True)).to_be_visible(timeout=600_000)
        expect(page.get_by_text("12/12 runs done")).to_be_visible(timeout=10_000)
        page.set_viewport_size({"width": 1400, "height": 2000})  # the app scrolls inside; show it all
        wait_rendered(page)
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        tps = charts.filter(has_text="Throughput by variant")
        tps.locator("svg").first.wait_for(timeout=60_000)  # the charts drew (Vega-Lite, no Plotly bundle)
        assert page.locator(".js-plotly-plot").count() == 0
        for chart, words in (
            (tps, ("prompt processing", "generation", "Q4_1", "Q8_0", "tokens/s (median)")),
            (charts.filter(has_text="Latency by variant"), ("time to first token", "end to end", "ms (median)")),
        ):
            text = chart.inner_text()
            assert all(w in text for w in words), text[:400]
        shot = artifacts / "local_lab.png"
        page.screenshot(path=str(shot), full_page=True)
        assert not page.get_by_text("Traceback").count()

        # a long run, cancelled once it has finished a run: the finished runs are kept
        box = page.get_by_label("Max new tokens")
        box.fill("200")
        rerun(page, lambda: box.press("Enter"))
        page.get_by_role("button", name="▶ Run").click()
        expect(page.get_by_text(re.compile(r"^[1-9]\d*/12 runs · "))).to_be_visible(timeout=600_000)
        page.get_by_role("button", name="■ Cancel").click()
        expect(page.get_by_text(re.compile("Run cancelled after [1-9]"))).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Results (cancelled run: partial)")).to_be_visible(timeout=10_000)
        expect(page.get_by_text("Every run")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(artifacts / "local_lab_cancelled.png"))
        browser.close()
    assert shot.stat().st_size > 20_000
