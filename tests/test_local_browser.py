"""The served app in headless Chromium: run the lab for real and screenshot the finished run."""

import re

import pytest
from browser_helpers import CHROMIUM_ARGS, chromium, rerun, wait_rendered, watch_runs
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
        page = watch_runs(browser.new_page(viewport={"width": 1400, "height": 1000}))
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

        # the other tabs are lazy (opening one runs it); the finished run shows on them
        rerun(page, page.get_by_role("tab", name="Price").click)
        break_even = charts.filter(has_text="Break-even: where local gets cheaper")
        break_even.locator("svg").first.wait_for(timeout=60_000)
        assert charts.filter(has_text="Throughput by variant").count() == 0  # the closed runs tab sent nothing
        assert "local (always on)" in break_even.inner_text()
        measured = page.locator('[data-testid="stSelectbox"]').filter(has_text="Measured variant")
        picked = measured.locator('input[role="combobox"]')
        shown = picked.first.input_value() if picked.count() else measured.inner_text()
        assert "Q4_1" in shown, shown  # the first variant the run measured, not "(run the lab first)"
        page.screenshot(path=str(artifacts / "local_lab_price.png"), full_page=True)
        rerun(page, page.get_by_role("tab", name="Memory").click)
        charts.filter(has_text="Memory by file type").locator("svg").first.wait_for(timeout=60_000)
        page.screenshot(path=str(artifacts / "local_lab_memory.png"), full_page=True)
        rerun(page, page.get_by_role("tab", name="Quality").click)
        expect(page.get_by_role("button", name="Measure perplexity")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(artifacts / "local_lab_quality.png"), full_page=True)
        rerun(page, page.get_by_role("tab", name="Variants & runs").click)
        expect(page.get_by_text("Results", exact=True)).to_be_visible(timeout=60_000)
        assert page.get_by_label("Repeats").input_value() == "2"  # typed before the other tabs were opened
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
