"""The served What-if page in headless Chromium: the dataset lab's charts and Apply to traffic on a
demo ledger, screenshotted (tests/artifacts/whatif_*.png) for a human to look at."""

import pytest
from browser_helpers import CHROMIUM_ARGS, chromium, full_screenshot, rerun, wait_rendered, watch_runs
from helpers import serve_app
from ledgers import build_ledger

pytestmark = pytest.mark.browser


@pytest.fixture
def served_app(tmp_path):
    db = tmp_path / "ledger.duckdb"
    build_ledger(db)
    with serve_app(db) as (base, _):
        yield base


def test_whatif_page_in_the_browser(served_app, artifacts):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = watch_runs(browser.new_page(viewport={"width": 1440, "height": 1000}))
        page.goto(served_app + "/whatif", wait_until="networkidle")
        expect(page.get_by_role("heading", name="🔀 What-if: routers, cascades and levers")).to_be_visible(
            timeout=120_000
        )
        wait_rendered(page)
        expect(page.get_by_text("Router: strong or weak model per query")).to_be_visible(timeout=120_000)
        charts = page.locator('[data-testid="stVegaLiteChart"]')  # Vega-Lite: no Plotly bundle on the first tab
        charts.filter(has_text="Cascade: quality against cost").locator("svg").first.wait_for(timeout=120_000)
        assert charts.count() == 3 and page.locator(".js-plotly-plot").count() == 0
        share = charts.filter(has_text="Quality against % of strong calls").inner_text()
        for label in ("oracle (upper bound)", "random router", "this router", "chosen point"):
            assert label in share, share[:400]
        cost = charts.filter(has_text="Quality against cost").first.inner_text()
        for label in ("Pareto frontier", "each model alone", "oracle", "total cost over the dataset (USD)"):
            assert label in cost, cost[:400]
        lab = artifacts / "whatif_lab.png"
        full_screenshot(page, lab)
        assert not page.get_by_text("Traceback").count()

        page.set_viewport_size({"width": 1440, "height": 1000})
        rerun(page, lambda: page.get_by_role("tab", name="Apply to traffic").click())
        expect(page.get_by_text("Monthly saving", exact=True)).to_be_visible(timeout=120_000)
        expect(page.get_by_text("Break-even strong share")).to_be_visible(timeout=60_000)
        page.locator(".js-plotly-plot .main-svg").nth(1).wait_for(timeout=60_000)
        traffic = artifacts / "whatif_traffic.png"
        full_screenshot(page, traffic)
        assert not page.get_by_text("Traceback").count()
        page.set_viewport_size({"width": 1440, "height": 1000})
        rerun(page, lambda: page.get_by_role("button", name="Save as scenario").click())
        expect(page.get_by_text("Saved scenario")).to_be_visible(timeout=60_000)

        page.set_viewport_size({"width": 1440, "height": 1000})
        # the reproductions train routers and cascades: minutes on a loaded machine, longer than
        # rerun()'s wait, so wait for their last figure instead
        page.get_by_role("tab", name="Reproductions").click()
        expect(page.get_by_text("Unify router on MT-Bench")).to_be_visible(timeout=600_000)
        wait_rendered(page)
        headlines = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="RouteLLM's headlines")
        headlines.locator("svg").first.wait_for(timeout=60_000)
        assert "published (RouteLLM)" in headlines.inner_text() and "%" in headlines.inner_text()
        full_screenshot(page, artifacts / "whatif_reproductions.png")
        assert not page.get_by_text("Traceback").count()

        # the Plan page shows the saved scenario as a candidate in its projection
        page.set_viewport_size({"width": 1440, "height": 1000})
        page.goto(served_app + "/plan", wait_until="networkidle")
        wait_rendered(page)
        rerun(page, lambda: page.get_by_role("tab", name="Projection").click())
        expect(page.get_by_text("What-if scenarios as candidates")).to_be_visible(timeout=60_000)
        page.get_by_text("What-if scenarios as candidates").scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        page.screenshot(path=str(artifacts / "plan_whatif_scenarios.png"))
        assert not page.get_by_text("Traceback").count()
        browser.close()
    assert lab.stat().st_size > 20_000 and traffic.stat().st_size > 20_000
