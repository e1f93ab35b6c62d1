"""The served app in headless Chromium: the Ingest page's endpoints, log counts and content policy,
and the Calls drill-down showing a call's messages (hostile text shown literally). Screenshots go
to tests/artifacts/ to be looked at."""

from __future__ import annotations

import pytest
from browser_helpers import (
    CHROMIUM_ARGS,
    PAGE_TIMEOUT_MS,
    chromium,
    full_screenshot,
    rerun,
    url_path,
    wait_rendered,
    watch_runs,
)
from genai_payloads import call_ids, logs_request, spans_request
from helpers import ARTIFACTS, serve_app
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from llmledger.store.db import connect
from llmledger.telemetry import loader, otlp

HOSTILE = "<img src=x onerror=alert(1)> **not bold** [not a link](http://x.test)"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = tmp_path_factory.mktemp("logs_browser") / "ledger.duckdb"
    keys = call_ids(3, 51)
    logs = ExportLogsServiceRequest.FromString(logs_request(keys, usage_on_event=True, other_logs=5))
    # The user message of the call with the most tokens (the trace the Calls page drills into first).
    logs.resource_logs[0].scope_logs[0].log_records[7].body.kvlist_value.values[0].value.string_value = HOSTILE
    con = connect(db)
    loader.load(con, otlp.decode_file_bytes("s.pb", spans_request(keys)), "s", "test")
    loader.load(con, otlp.decode_file_bytes("l.pb", logs.SerializeToString()), "l", "test")
    con.close()
    with serve_app(db) as s:
        yield s, keys


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS, headless=True)
        pg = watch_runs(b.new_page(viewport={"width": 1440, "height": 1000}))
        try:
            yield pg
        finally:
            b.close()


def test_ingest_page_shows_endpoints_logs_and_policy(served, page):
    (base, _), _ = served
    page.goto(f"{base}/{url_path('app_pages/ingest.py')}", timeout=PAGE_TIMEOUT_MS)
    wait_rendered(page)
    text = page.inner_text("body")
    assert "/v1/logs" in text and "OTLP/gRPC" in text
    assert "14 log records received: 9 GenAI events stored" in text
    assert "5 other records" in text
    assert "What is stored of message content at ingest" in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    full_screenshot(page, ARTIFACTS / "logs_ingest_page.png")


def test_calls_drilldown_shows_messages_literally(served, page):
    (base, _), keys = served
    page.goto(f"{base}/{url_path('app_pages/calls.py')}", timeout=PAGE_TIMEOUT_MS)
    wait_rendered(page)
    rerun(page, page.get_by_role("tab", name="Top traces").click)  # a lazy tab: opening it runs it
    page.get_by_text("Calls in this trace").wait_for(timeout=PAGE_TIMEOUT_MS)
    text = page.inner_text("body")
    assert "Token source" in text and "SECRET-system-" + keys[2][0][:12] in text
    assert "onerror=alert(1)" in text  # the hostile message, as text
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("a[href='http://x.test']").count() == 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    full_screenshot(page, ARTIFACTS / "logs_calls_drilldown.png")
