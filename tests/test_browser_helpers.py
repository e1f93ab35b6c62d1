"""tests/browser_helpers.py's rerun(): on a page watched from its creation it waits for the run the
server reports finished on the page's websocket, and an action that starts no run fails instead of
passing as "the page is idle"."""

from __future__ import annotations

import pytest
from browser_helpers import CHROMIUM_ARGS, PAGE_TIMEOUT_MS, bench_pages, chromium, rerun, wait_rendered, watch_runs
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

SCRIPT = """import streamlit as st

st.title("Runs")
st.session_state["n"] = st.session_state.get("n", 0) + 1
st.button("Again")
st.write(f"run {st.session_state['n']}")
"""


def test_rerun_waits_for_the_servers_run_and_refuses_an_action_that_starts_none(tmp_path):
    from playwright.sync_api import sync_playwright

    bp = bench_pages()
    script = tmp_path / "runs_app.py"
    script.write_text(SCRIPT)
    server = bp.serve(tmp_path, "runs", None, floor=script)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
            try:
                page = watch_runs(browser.new_page())
                page.goto(server.base, timeout=PAGE_TIMEOUT_MS)
                wait_rendered(page)
                page.get_by_text("run 1").wait_for()
                for n in (2, 3):
                    rerun(page, page.get_by_role("button", name="Again").click)
                    page.get_by_text(f"run {n}").wait_for()
                with pytest.raises(PlaywrightTimeout, match="finished no script run"):
                    rerun(page, lambda: page.mouse.move(5, 5), server_wait_ms=3_000)  # starts no run
                assert page.get_by_text("run 3").is_visible()
            finally:
                browser.close()
    finally:
        server.stop()
