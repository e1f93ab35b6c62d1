"""The served app in headless Chromium: run the lab for real and screenshot the finished run."""

import re
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, free_port, subprocess_env

pytestmark = [pytest.mark.browser, pytest.mark.llama]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:  # the test installs what it needs (Debian's package; never a downloaded build)
        subprocess.run(["make", "-C", str(ROOT), "browser-deps"], check=True)
        path = shutil.which("chromium")
    return path


@pytest.fixture
def served_app(tmp_path):
    port = free_port()
    env = subprocess_env(LLMLEDGER_DB=tmp_path / "ledger.duckdb", LLMLEDGER_OTLP_PORT=free_port(),
                         LLMLEDGER_RECEIVER="1")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(20)


def test_finished_run_in_the_browser(served_app, artifacts):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(served_app + "/local_lab", wait_until="networkidle")
        expect(page.get_by_role("heading", name="🧪 Local lab")).to_be_visible(timeout=60_000)
        for label, value in (("Repeats", "2"), ("Max new tokens", "16")):
            box = page.get_by_label(label)
            box.fill(value)
            box.press("Enter")
            page.wait_for_timeout(500)
        page.get_by_role("button", name="▶ Run").click()
        expect(page.get_by_text("Results", exact=True)).to_be_visible(timeout=600_000)
        expect(page.get_by_text("12/12 runs done")).to_be_visible(timeout=10_000)
        page.set_viewport_size({"width": 1400, "height": 2000})  # the app scrolls inside; show it all
        page.wait_for_timeout(2500)  # let the charts draw
        shot = artifacts / "local_lab.png"
        page.screenshot(path=str(shot), full_page=True)
        assert not page.get_by_text("Traceback").count()

        # a long run, cancelled once it has finished a run: the finished runs are kept
        box = page.get_by_label("Max new tokens")
        box.fill("200")
        box.press("Enter")
        page.wait_for_timeout(500)
        page.get_by_role("button", name="▶ Run").click()
        expect(page.get_by_text(re.compile(r"^[1-9]\d*/12 runs · "))).to_be_visible(timeout=600_000)
        page.get_by_role("button", name="■ Cancel").click()
        expect(page.get_by_text(re.compile("Run cancelled after [1-9]"))).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Results (cancelled run: partial)")).to_be_visible(timeout=10_000)
        expect(page.get_by_text("Every run")).to_be_visible(timeout=60_000)
        page.screenshot(path=str(artifacts / "local_lab_cancelled.png"))
        browser.close()
    assert shot.stat().st_size > 20_000
