"""The What-if page's Levers tab served and driven in headless Chromium, on a ledger filled through
the real receiver (tests/levers_page_data.py): the savings waterfall, the response-cache TTL
chart, memory turn by turn, output caps, prompt caching against reported reads, compression on
its button; screenshots in tests/artifacts/levers_*.png for a human to look at."""

import re

import pytest
from browser_helpers import CHROMIUM_ARGS, chromium, full_screenshot, rerun, wait_rendered, watch_runs
from helpers import serve_app
from levers_page_data import build

pytestmark = pytest.mark.browser


@pytest.fixture
def served_app(tmp_path):
    db = tmp_path / "ledger.duckdb"
    build(db, tmp_path, "keep")
    with serve_app(db, LLMLEDGER_CONTENT="keep") as (base, _):
        yield base


def test_levers_tab_in_the_browser(served_app, artifacts):
    from playwright.sync_api import expect, sync_playwright

    shots = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        page = watch_runs(browser.new_page(viewport={"width": 1440, "height": 1000}))
        page.goto(served_app + "/whatif", wait_until="networkidle")
        wait_rendered(page)
        rerun(page, lambda: page.get_by_role("tab", name="Levers").click())
        expect(page.get_by_text("Monthly cost after the levers (estimate)")).to_be_visible(timeout=120_000)
        page.locator(".js-plotly-plot .main-svg").nth(1).wait_for(timeout=60_000)  # waterfall and by feature

        def shot(name):
            path = artifacts / f"levers_{name}.png"
            full_screenshot(page, path)
            assert not page.get_by_text("Traceback").count()
            page.set_viewport_size({"width": 1440, "height": 1000})
            shots.append(path)

        shot("summary")
        for tab, marker in (
            ("Response cache", "Response-cache hit rate against the TTL"),
            ("Prompt caching", "Estimate against what the calls report"),
            ("Memory", "Memory strategies turn by turn"),
            ("Output caps", "Output-cap saving against the cap"),
        ):
            rerun(page, lambda tab=tab: page.get_by_role("tab", name=tab, exact=True).click())
            expect(page.get_by_text(marker).first).to_be_visible(timeout=120_000)
            expect(page.get_by_text("What-if cost (estimate)").first).to_be_visible(timeout=60_000)
            shot(tab.lower().replace(" ", "_"))
        # the agent feature's two short prompts: SmolLM2 scores ~20 tokens/s on a loaded machine
        page.get_by_role("combobox").first.click()
        rerun(page, lambda: page.get_by_role("option", name="agent", exact=True).click())
        rerun(page, lambda: page.get_by_role("tab", name="Compression", exact=True).click())
        expect(page.get_by_text("Not run yet for these options")).to_be_visible(timeout=60_000)
        rerun(page, lambda: page.get_by_role("button", name="Run compression").click())
        expect(page.get_by_text(re.compile(r"^Real ratio \d"))).to_be_visible(timeout=300_000)
        shot("compression")
        rerun(page, lambda: page.get_by_role("button", name="Save as scenario").click())
        expect(page.get_by_text("Saved scenario")).to_be_visible(timeout=60_000)
        browser.close()
    for p in shots:
        assert p.stat().st_size > 20_000
