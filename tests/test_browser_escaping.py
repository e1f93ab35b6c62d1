"""Hostile names in the served app, in headless Chromium: they show as literal text, never as markup.

The ledger holds spans imported through the real file-import path whose span, model, feature,
team, user and service names are HTML and Markdown (tests/hostile.py), and the embedded receiver
is sent a malformed request whose Content-Type quotes a Markdown image and an HTML link, so its
last error (shown on Ingest) carries them. On Calls, Spend and Ingest the test asserts that no
element links to or loads from the hostile hosts, no injected <b>/<script>/<img> exists, no dialog
fires and no request leaves for those hosts, and that the hostile text itself is visible.
Screenshots go to tests/artifacts/escaping-*.png.
"""

from __future__ import annotations

import http.client
import time
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
from helpers import serve_app
from hostile import ANCHOR, BOLD, CALL_SPAN, HOST, HOSTILE_MODEL, MD_LINK, ROOT_SPAN, load_hostile

pytestmark = pytest.mark.browser

RECEIVER_HOST = "127.0.0.1:9"  # the discard port: nothing should ever ask it for anything
BAD_CONTENT_TYPE = f'![x](http://{RECEIVER_HOST}/i.png) <a href="http://{RECEIVER_HOST}/a">click</a>'
HOSTS = [HOST, RECEIVER_HOST]

#: Every element that links to or loads from a hostile host, or that the hostile names would
#: create if they were rendered as markup (Plotly draws <b> as a bold tspan, <a> as an SVG link).
INJECTED_JS = """
(hosts) => {
  const bad = [];
  const hostile = v => v && hosts.some(h => v.includes(h));
  for (const el of document.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    for (const attr of ['href', 'xlink:href', 'src', 'srcset', 'action', 'formaction', 'poster', 'data']) {
      if (hostile(el.getAttribute(attr))) bad.push(`<${tag} ${attr}=${el.getAttribute(attr)}>`);
    }
    const xlink = el.getAttributeNS('http://www.w3.org/1999/xlink', 'href');
    if (hostile(xlink)) bad.push(`<${tag} xlink:href=${xlink}>`);
    if (hostile((el.getAttribute('style') || '').match(/url\\(([^)]*)\\)/)?.[1])) bad.push(`<${tag} style url()>`);
    if (el.hasAttribute('onerror')) bad.push(`<${tag} onerror>`);
    if (tag === 'img' && el.getAttribute('src') === 'x') bad.push('<img src=x>');
    if (tag === 'script' && el.textContent.includes('alert(1)')) bad.push('<script>alert(1)</script>');
    if ((tag === 'b' || tag === 'strong') && el.textContent.trim() === 'bold') bad.push(`<${tag}>bold`);
    if (tag === 'tspan' && el.textContent.trim() === 'bold' && /bold/.test(el.getAttribute('style') || ''))
      bad.push('plotly bold tspan');
  }
  return bad;
}
"""


class Watch:
    """Dialogs (alert() from an injected handler) and requests to the hostile hosts."""

    def __init__(self, page):
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        page.on("dialog", self._dialog)
        page.on("request", lambda req: self.requests.append(req.url) if any(h in req.url for h in HOSTS) else None)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def assert_no_markup(page, watch: Watch, where: str) -> None:
    page.wait_for_timeout(500)  # let any image or link the page drew start loading
    injected = page.evaluate(INJECTED_JS, HOSTS)
    assert not injected, f"{where}: hostile names rendered as markup: {injected[:10]}"
    assert not watch.dialogs, f"{where}: dialogs fired: {watch.dialogs}"
    assert not watch.requests, f"{where}: requests to hostile hosts: {watch.requests}"
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


PLOTS, MARKDOWN = ".js-plotly-plot", '[data-testid="stMarkdownContainer"]'
VEGA = '[data-testid="stVegaLiteChart"]'


def assert_shown(page, text: str, where: str, scope: str = PLOTS) -> None:
    """`text` is drawn, as literal text, inside the `scope` elements (charts or Markdown), so the
    checks above look at real output. Markdown keeps an invisible word joiner where a bare URL
    would otherwise become a link."""
    shown = page.evaluate("(sel) => [...document.querySelectorAll(sel)].map(e => e.textContent).join('\\n')", scope)
    assert text in shown.replace("\u2060", ""), f"{where}: {text!r} is not shown as text"


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    from llmledger.store.db import connect

    path = tmp_path_factory.mktemp("escaping") / "ledger.duckdb"
    con = connect(path)
    load_hostile(con)
    con.close()
    return path


@pytest.fixture(scope="module")
def served(hostile_db):
    with serve_app(hostile_db) as served:
        yield served


def send_bad_request(otlp_port: int, timeout_s: float = 60) -> None:
    """POST with a Content-Type quoting Markdown and HTML: the receiver answers 415 and keeps the
    reason, quoting it, as its last error. The receiver starts with the app's first session, so
    this waits for it to listen."""
    deadline = time.time() + timeout_s
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", otlp_port, timeout=30)
        try:
            conn.request("POST", "/v1/traces", body=b"{}", headers={"Content-Type": BAD_CONTENT_TYPE})
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 415, (resp.status, body)
            return
        except ConnectionRefusedError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)
        finally:
            conn.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    page = watch_runs(browser.new_page(viewport={"width": 1440, "height": 1000}))
    try:
        yield page
    finally:
        page.close()


def open_page(page, base: str, page_file: str) -> Watch:
    watch = Watch(page)
    page.goto(f"{base}/{url_path(page_file)}", timeout=PAGE_TIMEOUT_MS)
    wait_rendered(page)
    return watch


def test_ingest_shows_the_receivers_last_error_as_text(served, page, artifacts):
    base, otlp_port = served
    watch = open_page(page, base, "app_pages/ingest.py")  # the first session starts the receiver
    send_bad_request(otlp_port)
    rerun(page, page.get_by_role("button", name="Refresh status").click)
    assert_no_markup(page, watch, "Ingest")
    assert_shown(page, BAD_CONTENT_TYPE, "Ingest", MARKDOWN)
    full_screenshot(page, artifacts / "escaping-ingest.png")


def test_calls_charts_and_waterfall_show_names_as_text(served, page, artifacts):
    watch = open_page(page, served[0], "app_pages/calls.py")
    charts = page.locator(VEGA)
    charts.filter(has_text="Calls per").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    assert charts.count() == 4 and page.locator(PLOTS).count() == 0  # Vega-Lite: SVG text, no Plotly
    assert_no_markup(page, watch, "Calls")
    for i in range(4):  # features, in each chart's legend, whole and as written
        legend = charts.nth(i).locator(".role-legend").first.text_content()
        for name in (BOLD, ANCHOR, MD_LINK):
            assert name in legend, f"Calls chart {i}: {name!r} is not in its legend {legend!r}"
    assert_shown(page, BOLD, "Calls", VEGA)
    drawn = page.evaluate("(sel) => [...document.querySelectorAll(sel)].map(e => e.textContent).join()", VEGA)
    assert "&lt;" not in drawn and "&amp;" not in drawn  # drawn as written, not escaped
    bar = charts.first.locator("g.mark-rect path").first
    bar.hover()  # Vega's tooltip names the bar's feature, as text
    tooltip = page.locator("#vg-tooltip-element")
    tooltip.wait_for(state="visible", timeout=PAGE_TIMEOUT_MS)
    shown = tooltip.text_content()
    assert any(name in shown for name in (BOLD, ANCHOR, MD_LINK)), shown
    assert_no_markup(page, watch, "Calls tooltip")
    page.mouse.move(0, 0)  # off the chart: its toolbar would cover the group-by control
    full_screenshot(page, artifacts / "escaping-calls.png")

    rerun(page, page.locator(".st-key-calls_group_by").get_by_text("Model", exact=True).click)
    assert_no_markup(page, watch, "Calls by model")
    assert_shown(page, HOSTILE_MODEL, "Calls by model", VEGA)

    rerun(page, page.get_by_role("tab", name="Top traces").click)  # a lazy tab: opening it runs it
    plot = page.locator(".js-plotly-plot").filter(has_text="Trace ")
    plot.first.wait_for(timeout=PAGE_TIMEOUT_MS)
    assert_shown(page, ROOT_SPAN, "waterfall")
    assert_shown(page, CALL_SPAN, "waterfall")
    bars = plot.first.locator("g.point")
    assert bars.count() == 2
    bars.nth(1).hover(force=True)  # the model call (Plotly's drag layer takes the mouse events)
    page.wait_for_selector(".hoverlayer .hovertext", timeout=PAGE_TIMEOUT_MS)
    hover = page.locator(".hoverlayer .hovertext").first.text_content()
    assert CALL_SPAN in hover and HOSTILE_MODEL in hover and MD_LINK in hover, hover
    full_screenshot(page, artifacts / "escaping-calls-waterfall.png")
    assert_no_markup(page, watch, "Calls waterfall")


def test_spend_charts_show_names_as_text(served, page, artifacts):
    watch = open_page(page, served[0], "app_pages/spend.py")
    charts = page.locator(VEGA)
    charts.filter(has_text="Spend by").first.locator("svg text").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    assert charts.count() == 2 and page.locator(PLOTS).count() == 0  # Vega-Lite: SVG text, no Plotly
    assert_no_markup(page, watch, "Spend")
    for name in (BOLD, ANCHOR, MD_LINK):  # features: legend of Spend over time, axis of Spend by
        assert_shown(page, name, "Spend", VEGA)
    drawn = page.evaluate("(sel) => [...document.querySelectorAll(sel)].map(e => e.textContent).join()", VEGA)
    assert "&lt;" not in drawn and "&amp;" not in drawn  # drawn as written, not escaped
    full_screenshot(page, artifacts / "escaping-spend.png")
