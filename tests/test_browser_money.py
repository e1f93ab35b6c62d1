"""The Estimate, Spend and Reprice pages served by `streamlit run app.py` in headless Chromium,
on a ledger with real ingested data; interacts with each and writes screenshots to
tests/artifacts/money-*.png. (tests/test_browser.py renders every page once on demo data.)

Their charts are Vega-Lite: drawn as SVG text the test can read, and no page here loads Streamlit's
Plotly chunk (the costliest part of a fresh tab, bench/bench_pages.py)."""

from __future__ import annotations

import pytest
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, full_screenshot, rerun, wait_rendered, watch_runs
from helpers import serve_app
from hostile import HOSTILE_MODEL
from ledgers import build_ledger
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

VEGA = '[data-testid="stVegaLiteChart"]'


@pytest.fixture(scope="module")
def money_app(tmp_path_factory):
    db = tmp_path_factory.mktemp("money_browser") / "ledger.duckdb"
    build_ledger(db)
    with serve_app(db) as (base, _):
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                first = watch_runs(browser.new_page())
                first.goto(base, timeout=PAGE_TIMEOUT_MS)  # let st.navigation register the pages
                wait_rendered(first)
                first.close()
                yield base, browser
            finally:
                browser.close()


def open_page(money_app, path):
    base, browser = money_app
    page = watch_runs(browser.new_page(viewport={"width": 1440, "height": 1000}))  # a fresh context: nothing cached
    page.scripts = []
    page.on("request", lambda r: page.scripts.append(r.url) if "/static/js/" in r.url else None)
    page.goto(f"{base}/{path}", timeout=PAGE_TIMEOUT_MS)
    wait_rendered(page)
    return page


def chart(page, title: str):
    """The Vega-Lite chart whose SVG draws `title`, once drawn."""
    found = page.locator(VEGA).filter(has_text=title)
    found.first.locator("svg text").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    return found


def svg_texts(found) -> list[str]:
    return found.first.locator("svg text").all_text_contents()


def no_plotly(page) -> None:
    assert page.locator(".js-plotly-plot").count() == 0
    assert any("ArrowVegaLiteChart" in u for u in page.scripts), page.scripts
    assert not [u for u in page.scripts if "PlotlyChart" in u]


def no_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()


def test_spend_in_chromium(money_app, artifacts):
    page = open_page(money_app, "spend")
    try:
        no_exception(page)
        assert page.get_by_text("Run-rate projection").count() >= 1
        over_time = chart(page, "Spend over time by feature (priced calls)")
        assert over_time.count() == 1
        by = chart(page, "Spend by feature (priced calls)")
        labels = svg_texts(by)
        assert any(t.startswith("$") and " · " in t and t.endswith("%") for t in labels), labels  # "$x · share"
        assert any(t.startswith("demo-") for t in labels), labels
        assert page.locator(VEGA).count() == 2
        no_plotly(page)
        full_screenshot(page, artifacts / "money-spend.png")
        rerun(page, page.get_by_role("tab", name="Unknown prices").click)  # lazy tabs: opening one runs it
        expect(page.get_by_text("never counted as $0").first).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        rerun(page, page.get_by_role("tab", name="Export").click)
        expect(page.get_by_role("button", name="Download Parquet")).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        no_exception(page)
    finally:
        page.close()


def test_estimate_in_chromium(money_app, artifacts):
    page = open_page(money_app, "estimate")
    try:
        no_exception(page)
        page.get_by_role("textbox", name="Prompt").fill("Summarise this support ticket and suggest a reply. " * 10)
        rerun(page, lambda: page.keyboard.press("Control+Enter"))
        costs = chart(page, "Estimated cost per model")
        assert {"gpt-4o-mini", "gpt-4o"} <= set(svg_texts(costs))
        # A model typed in with markup in its name: no price, named in the subtitle as written.
        models = page.locator(".st-key-est_models input")
        models.click()
        models.fill(HOSTILE_MODEL)
        rerun(page, lambda: page.keyboard.press("Enter"))
        page.keyboard.press("Escape")
        subtitle = f"no price: {HOSTILE_MODEL} (litellm)"
        expect(chart(page, subtitle)).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        assert subtitle in svg_texts(chart(page, subtitle))
        assert page.locator(f"{VEGA} b").count() == 0  # drawn as text, never as a <b> element
        no_exception(page)
        full_screenshot(page, artifacts / "money-estimate.png")
        rerun(page, page.get_by_role("tab", name="Monthly bill").click)  # lazy tabs: opening one runs it
        assert page.locator(VEGA).count() == 1  # the closed Count & price tab sent nothing
        bill = chart(page, "Projected bill")
        expect(bill).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        assert {"Month 1", "Month 12", "cumulative", "Cumulative"} <= set(svg_texts(bill))
        months = page.get_by_label("Months", exact=True).and_(page.get_by_test_id("stNumberInputField"))
        months.fill("6")
        rerun(page, lambda: months.press("Enter"))
        expect(page.get_by_text("Total over 6 months")).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        full_screenshot(page, artifacts / "money-estimate-bill.png")
        rerun(page, page.get_by_role("tab", name="Token tax").click)
        tax = chart(page, "Token tax")
        expect(tax).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        assert {"Hindi", "English", "1×"} <= set(svg_texts(tax))
        full_screenshot(page, artifacts / "money-estimate-tax.png")
        # Back on the first tabs: what was typed there is still there, and so are its results.
        rerun(page, page.get_by_role("tab", name="Count & price").click)
        assert page.get_by_role("textbox", name="Prompt").input_value().startswith("Summarise this support ticket")
        expect(chart(page, subtitle)).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        rerun(page, page.get_by_role("tab", name="Monthly bill").click)
        expect(page.get_by_text("Total over 6 months")).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        # A corpus uploaded, another tab opened and closed: the uploader is empty, the page still counts it.
        rerun(page, page.get_by_role("tab", name="Count & price").click)
        rerun(page, page.get_by_text("Corpus file", exact=True).click)
        corpus = "\n".join(f'{{"text": "ticket {i} about a refund"}}' for i in range(7)).encode()
        rerun(
            page,
            lambda: page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
                files=[{"name": "tickets.jsonl", "mimeType": "application/jsonl", "buffer": corpus}]
            ),
        )
        expect(page.get_by_text("7 documents")).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        rerun(page, page.get_by_role("tab", name="Token tax").click)
        rerun(page, page.get_by_role("tab", name="Count & price").click)
        expect(page.get_by_text("7 documents")).to_have_count(1, timeout=PAGE_TIMEOUT_MS)
        expect(page.get_by_text("tickets.jsonl was uploaded before another tab was opened")).to_have_count(1)
        full_screenshot(page, artifacts / "money-estimate-corpus-kept.png")
        no_plotly(page)
        no_exception(page)
    finally:
        page.close()


def test_reprice_in_chromium(money_app, artifacts):
    page = open_page(money_app, "reprice")
    try:
        no_exception(page)
        page.get_by_role("spinbutton", name="Discount %").fill("25")
        rerun(page, lambda: page.keyboard.press("Enter"))
        rerun(page, page.get_by_text("a feature", exact=True).click)
        no_exception(page)
        assert page.get_by_text("Token mapping for the swapped calls").count() == 1
        assert chart(page, "Actual vs repriced, by feature").count() == 1
        delta = svg_texts(chart(page, "Change per feature (repriced − actual)"))
        assert any(t.startswith("−$") for t in delta), delta  # a 25% discount saves on every feature
        no_plotly(page)
        full_screenshot(page, artifacts / "money-reprice.png")
    finally:
        page.close()
