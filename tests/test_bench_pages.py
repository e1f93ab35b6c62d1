"""bench/bench_pages.py's harness measures a served page in headless Chromium: the one-line floor
page, served through bench/page_timing.py, gives a time to its last DOM change, the server's own
script time and the browser's figures. No speed is asserted (speed lives in bench/results/)."""

from __future__ import annotations

import pytest
from browser_helpers import bench_pages, chromium

pytestmark = pytest.mark.browser


def test_harness_measures_the_floor_page(tmp_path):
    from playwright.sync_api import sync_playwright

    bp = bench_pages()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=bp.CHROMIUM_ARGS, headless=True)
        try:
            runs = bp.measure_floor(browser, tmp_path, 2, quiet_ms=300)
        finally:
            browser.close()
    assert len(runs) == 2
    for r in runs:
        assert "error" not in r and not r.get("timed_out"), r
        assert r["ms"] > 0 and r["script_done_ms"] > 0  # navigation start -> last change, -> script ended
        assert r["script_runs"] >= 1 and r["script_ms"] > 0  # the server logged the run it served
        assert r["elements"] > 0 and r["exceptions"] == 0 and r["plotly_points"] == 0
        assert r["browser_cpu_ms"]["tasks"] > 0 and r["browser_cpu_total_ms"] > 0 and r["script_cpu_ms"] > 0


def test_the_calls_skeleton_reference_draws_what_it_claims_and_redraws_on_a_filter_change(tmp_path):
    """The rerun floor quoted in the README (`calls_skeleton`): six sidebar filters, four KPI tiles,
    one Vega-Lite chart and a 50-row dataframe, and a filter change that changes what is drawn."""
    from streamlit.testing.v1 import AppTest

    bp = bench_pages()
    assert {"filters1", "calls_skeleton"} <= set(bp.REFERENCES) and set(bp.RERUN_REFERENCES) <= set(bp.REFERENCES)
    at = AppTest.from_string(bp.REFERENCE_SCRIPT, default_timeout=60)
    at.query_params["kind"] = "calls_skeleton"
    at.run()
    assert not at.exception
    assert len(at.sidebar.multiselect) == 6 and at.sidebar.multiselect[0].label == "Environment"
    assert len(at.metric) == 4 and len(at.dataframe) == 1
    assert len(at.get("vega_lite_chart")) == 1
    before = at.metric[0].value, at.dataframe[0].value["input"].tolist()
    at.sidebar.multiselect[0].select("staging").run()
    assert not at.exception
    assert (at.metric[0].value, at.dataframe[0].value["input"].tolist()) != before
    floor = AppTest.from_string(bp.REFERENCE_SCRIPT, default_timeout=60)
    floor.query_params["kind"] = "filters1"
    floor.run()
    assert len(floor.sidebar.multiselect) == 1 and len(floor.dataframe) == 0 and not floor.exception
