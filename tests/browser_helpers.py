"""Helpers for the browser tests: Debian's Chromium through Playwright, the app's page list, and
waiting for the served app on concrete DOM conditions (never on a fixed pause).

Streamlit marks its root element with the script's state (`data-test-script-state` on stApp:
"running" while the page script runs, "notRunning" once it has finished). `wait_rendered` waits
for that; `rerun(page, action)` also waits for a run that `action` started to finish, counted by
an observer on that attribute, and on a page passed to `watch_runs` as it opened, first for
the server to report that run finished on the page's websocket.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from helpers import ROOT, app_pages

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE_TIMEOUT_MS = 120_000


def chromium() -> str:
    """Debian's Chromium, installed with `make browser-deps` when missing (never a downloaded build)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        subprocess.run(["make", "-C", str(ROOT), "browser-deps"], check=True)
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")


def url_path(page_file: str) -> str:
    """st.navigation's url for a page file: the first page is the app's root, others their stem."""
    return "" if page_file == app_pages()[0][0] else Path(page_file).stem


# Counts the script runs that finished since it was installed (running -> notRunning on stApp).
# Each mutation record is read with its old value: when the page is slow, the observer's callback
# gets "running" and "notRunning" in one batch, and reading only the attribute's value at callback
# time missed that run (a rerun then waited for a run that had already finished: two browser tests
# timed out that way under load).
_COUNT_RUNS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return -1;
  if (!window.__ledgerRuns) {
    window.__ledgerRuns = {n: 0};
    new MutationObserver((records) => {
      // records[i]'s new value is records[i + 1]'s old value (the last one's: the attribute now).
      records.forEach((r, i) => {
        const next = i + 1 < records.length ? records[i + 1].oldValue : app.getAttribute('data-test-script-state');
        if (r.oldValue === 'running' && next === 'notRunning') window.__ledgerRuns.n += 1;
      });
    }).observe(app, {attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state']});
  }
  return window.__ledgerRuns.n;
}"""

_SETTLED = """(runsBefore) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  if (runsBefore === null) return true;
  return !!window.__ledgerRuns && window.__ledgerRuns.n > runsBefore;
}"""


_WATCHED: dict[int, dict] = {}  # id(page) -> {"finished": script runs the server said ended}


def watch_runs(page):
    """Count the page's script runs as the server reports them: every ForwardMsg `script_finished`
    on its websocket (a fragment's run included). Call it on a new page, before it opens the app
    (the socket is watched from its creation); `rerun` then waits for that message instead of
    reading the DOM, where a starved browser can draw a run's start and end in one commit."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    box = _WATCHED.setdefault(id(page), {"finished": 0, "page": page})

    def on_socket(ws) -> None:
        def on_frame(payload) -> None:
            if not isinstance(payload, bytes | bytearray):
                return
            try:
                msg = ForwardMsg.FromString(bytes(payload))
            except Exception:  # noqa: BLE001 - not a ForwardMsg: nothing to count
                return
            if msg.WhichOneof("type") == "script_finished":
                box["finished"] += 1

        ws.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    page.on("close", lambda _page: _WATCHED.pop(id(page), None))
    return page


def _server_runs(page) -> int | None:
    box = _WATCHED.get(id(page))
    return None if box is None or box["page"] is not page else box["finished"]


def runs_done(page) -> int:
    """How many script runs have finished since the page's first `wait_rendered`, as the DOM
    showed them."""
    return page.evaluate(_COUNT_RUNS)


def wait_rendered(page, runs_before: int | None = None) -> None:
    """Until the app has drawn a title and its script has finished running (and, with
    `runs_before`, until a run after that count has finished)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector("h1", timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function(_SETTLED, arg=runs_before, timeout=PAGE_TIMEOUT_MS, polling=100)
    runs_done(page)  # from here on, runs are counted


#: How long `rerun` waits to count the run its action started before it settles for "the page is
#: idle" (a starved browser can render a run's start and end in one commit: nothing to count).
RUN_COUNT_WAIT_MS = 20_000


def rerun(page, action, server_wait_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Do `action` (a click, a fill, a key) that reruns the page script, and wait for that run.
    On a watched page (`watch_runs`), first until the server has reported a run finished after the
    action: a click that starts no run fails here. Then until the page has drawn it: counted when
    the DOM showed it running, else, after RUN_COUNT_WAIT_MS, the page idle again (a starved
    browser can draw a run's start and end in one commit). What the test then expects of the page
    is checked by its own waits and assertions."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    before = runs_done(page)
    server_before = _server_runs(page)
    action()
    if server_before is not None:
        deadline = time.monotonic() + server_wait_ms / 1000
        while _server_runs(page) <= server_before:
            if time.monotonic() > deadline:
                raise PlaywrightTimeout(f"the server finished no script run within {server_wait_ms} ms of the action")
            page.wait_for_timeout(50)  # Playwright delivers the socket's frames while it waits
    try:
        page.wait_for_function(_SETTLED, arg=before, timeout=RUN_COUNT_WAIT_MS, polling=100)
    except PlaywrightTimeout:
        wait_rendered(page)


def full_screenshot(page, path: Path) -> None:
    """Streamlit scrolls inside its main container, so grow the viewport to its full height."""
    height = page.evaluate(
        '() => { const els = [...document.querySelectorAll(\'[data-testid="stMain"], '
        '[data-testid="stMainBlockContainer"], [data-testid="stSidebarContent"]\')];'
        " return Math.max(document.body.scrollHeight,"
        " ...els.map(e => e.scrollHeight + e.getBoundingClientRect().top)); }"
    )
    page.set_viewport_size({"width": 1440, "height": min(int(height) + 40, 12000)})
    page.wait_for_timeout(800)  # charts re-layout to the new size
    page.screenshot(path=str(path), full_page=True)


def bench_pages():
    """bench/bench_pages.py as a module (its harness serves a script and times it in Chromium)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_pages", ROOT / "bench" / "bench_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
