"""Every page under streamlit.testing's AppTest, on an empty ledger and on one with data.

conftest points LLMLEDGER_DB at a fresh file under tmp_path and sets LLMLEDGER_RECEIVER=0, so
each test's page opens its own real DuckDB (st.cache_resource and st.cache_data key on the path).
"""

from __future__ import annotations

import json

import pytest
from apptest_helpers import TIMEOUT, frame, metric, ok, page, vega_charts
from helpers import ROOT, TEST_DATA, app_pages, db_count
from streamlit.testing.v1 import AppTest

from llmledger.reads import calls as rc
from llmledger.reads import filters as rf
from llmledger.ui import format as fmt


@pytest.fixture
def demo_ledger(db_path):
    from llmledger.store.db import connect
    from llmledger.telemetry import demo

    con = connect(db_path)
    demo.generate(con, n_calls=1500)
    counts = {
        "calls": rc.call_count(con.cursor()),
        "unattributed": rc.summary(con.cursor(), rf.CallFilter.build(values={"feature": [rf.UNATTRIBUTED]}))["calls"],
    }
    con.close()
    return counts


# ------------------------------------------------------------------ every page


@pytest.mark.parametrize("filled", [False, True], ids=["empty", "demo"])
@pytest.mark.parametrize("page_file", [p for p, _ in app_pages()])
def test_every_page_runs(page_file, filled, request):
    if filled:
        request.getfixturevalue("demo_ledger")
    at = AppTest.from_file(str(ROOT / page_file), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]


# ------------------------------------------------------------------ Calls


def test_calls_empty_offers_demo_and_generates_it(db_path):
    at = ok(page("calls.py").run())
    assert any("No LLM calls yet" in i.value for i in at.info)
    assert not at.metric
    at.number_input(key="calls_demo_n").set_value(400)
    at.button(key="calls_demo_generate").click()
    ok(at.run())
    n = db_count(db_path, "SELECT count(*) FROM calls WHERE is_demo")
    assert n > 300
    # The page opens on the last 30 days of data (ending at the latest call), not all 90.
    recent = db_count(
        db_path,
        "SELECT count(*) FROM calls WHERE start_time >= "
        "(SELECT max(start_time)::DATE - INTERVAL 29 DAY FROM calls)::TIMESTAMPTZ",
    )
    assert 0 < recent < n
    assert metric(at, "Calls") == fmt.compact(recent)
    assert at.query_params.get("preset") == "last_30_days"
    assert any("DEMO DATA" in w.value for w in at.warning)
    assert any("Demo data generated" in s.value for s in at.success)


def test_calls_with_data_group_filter_and_drill_down(demo_ledger):
    at = page("calls.py")
    at.query_params["preset"] = "all"  # the whole demo span, as a link can ask
    ok(at.run())
    assert metric(at, "Calls") == fmt.compact(demo_ledger["calls"])
    assert any("DEMO DATA" in w.value for w in at.warning)
    breakdown = frame(at, "grp", "calls")
    assert breakdown["calls"].sum() == demo_ledger["calls"]
    assert rf.UNATTRIBUTED in set(breakdown["grp"])
    assert not at.get("plotly_chart")  # the first view draws no Plotly figure: its bundle is costly
    charts = vega_charts(at)
    assert set(charts) == {"Calls per day", "Tokens per day", "p95 latency per day (ms)", "Cost per day (USD)"}
    assert_calls_chart(charts["Calls per day"], breakdown, demo_ledger["calls"])
    tokens, _ = charts["Tokens per day"]
    assert tokens["value"].sum() == breakdown["input_tokens"].sum() + breakdown["output_tokens"].sum()
    cost, cost_spec = charts["Cost per day (USD)"]
    assert cost["value"].sum() == pytest.approx(breakdown["cost_usd"].sum()) and cost["value"].sum() > 0
    assert cost_spec["encoding"]["y"]["axis"]["format"].startswith("$")
    latency, latency_spec = charts["p95 latency per day (ms)"]
    assert latency_spec["mark"]["type"] == "line" and latency["value"].max() > 0

    at.segmented_control(key="calls_group_by").set_value("model")
    ok(at.run())
    by_model = frame(at, "grp", "calls")
    assert {"gpt-4o-mini", "gemini-2.0-flash"} <= set(by_model["grp"])
    assert_calls_chart(vega_charts(at)["Calls per day"], by_model, demo_ledger["calls"])

    at.multiselect(key="calls_f_feature").set_value([rf.UNATTRIBUTED])
    ok(at.run())
    assert metric(at, "Calls") == fmt.compact(demo_ledger["unattributed"])
    at.multiselect(key="calls_f_feature").set_value([])
    ok(at.run())

    assert not at.get("plotly_chart")
    at.session_state["calls_tab"] = "Top traces"  # lazy tabs: only the open one runs
    ok(at.run())
    assert not [d for d in at.dataframe if d.value.columns[0] == "grp"]  # the closed tab ran nothing
    at.radio(key="calls_rank_by").set_value("latency")
    ok(at.run())
    top = frame(at, "trace_id", "root_name")
    assert list(top["llm_window_ms"]) == sorted(top["llm_window_ms"], reverse=True)
    second = top["trace_id"].iloc[1]
    at.selectbox(key="calls_trace").set_value(second)
    ok(at.run())
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    waterfall = next(c for c in charts if second in c["layout"]["title"]["text"])
    assert len(waterfall["data"][0]["y"]) >= 2  # the trace's spans, one bar each

    at.session_state["calls_tab"] = "Data quality"
    ok(at.run())
    quality = frame(at, "convention", "service")
    assert quality["calls"].sum() == demo_ledger["calls"]
    assert quality["missing_usage"].sum() > 0
    unpriced = frame(at, "model", "provider")
    assert unpriced["calls"].sum() == quality["unpriced"].sum()

    at.toggle(key="calls_with_cost").set_value(False)  # large ledgers: skip per-call pricing
    ok(at.run())
    assert metric(at, "Cost") == fmt.DASH and metric(at, "Unknown model (no price)") == fmt.DASH
    assert metric(at, "Calls") == fmt.compact(demo_ledger["calls"])
    assert not any(d.value.columns[0] == "model" for d in at.dataframe)
    at.session_state["calls_tab"] = "Over time"
    ok(at.run())
    off, off_spec = vega_charts(at)["Cost per day (USD)"]
    assert list(off["message"]) == ["Cost is off, or no price sheet covers these models yet"]
    assert off_spec["mark"]["type"] == "text"


def assert_calls_chart(chart, table, calls: int) -> None:
    """The calls chart holds every call; each group shown has the breakdown table's count (the
    rest is (other)); its legend and stack go by calls, largest first, greys last."""
    data, spec = chart
    assert data["value"].sum() == calls
    shown = data.groupby("group")["value"].sum()
    counts = table.set_index("grp")["calls"]
    for group, n in shown.items():
        if group != rf.OTHER:
            assert n == counts[group], group
    domain = spec["encoding"]["color"]["scale"]["domain"]
    assert sorted(domain) == sorted(shown.index)
    grey = [g for g in domain if g in (rf.OTHER, rf.UNATTRIBUTED)]
    assert grey and domain[-len(grey) :] == grey
    real = [shown[g] for g in domain[: -len(grey)]]
    assert real == sorted(real, reverse=True)


# ------------------------------------------------------------------ Ingest


def test_ingest_empty_shows_receiver_off_and_generates_demo(db_path):
    at = ok(page("ingest.py").run())
    assert any("LLMLEDGER_RECEIVER=0" in i.value for i in at.info)
    at.number_input(key="ingest_demo_n").set_value(300)
    at.button(key="ingest_demo_generate").click()
    ok(at.run())
    assert db_count(db_path, "SELECT count(*) FROM calls WHERE is_demo") > 200
    assert any("Demo data generated" in s.value for s in at.success)
    at.button(key="ingest_demo_remove").click()
    ok(at.run())
    assert db_count(db_path, "SELECT count(*) FROM calls") == 0
    assert any("Removed" in s.value for s in at.success)


def test_ingest_upload_imports_files(db_path):
    at = ok(page("ingest.py").run())
    files = [
        (f"{name}.json", (TEST_DATA / "otlp" / name / "in.json").read_bytes(), "application/json")
        for name in ("raw", "vercel", "openinference")
    ]
    files.append(("broken.pb", b"\x00not protobuf", "application/octet-stream"))
    at.file_uploader(key="ingest_files").set_value(files)
    ok(at.run())
    at.button(key="ingest_import").click()
    at.run()
    assert not at.exception
    assert db_count(db_path, "SELECT count(*) FROM calls") == 3
    summary = [m.value for m in (*at.success, *at.warning) if "Imported 4 file(s)" in m.value]
    assert summary and "3 LLM calls" in summary[0] and "1 rejected" in summary[0]


def test_ingest_rules_editor_saves_and_reapplies(db_path):
    at = ok(page("ingest.py").run())
    rules = at.data_editor[0].value
    row = int(rules.index[(rules["dim"] == "team") & (rules["key"] == "app.team")][0])
    at.session_state["ingest_rules"] = {"edited_rows": {row: {"priority": 3}}, "added_rows": [], "deleted_rows": []}
    at.button(key="ingest_rules_save").click()
    ok(at.run())
    assert db_count(db_path, "SELECT priority FROM attribution_rules WHERE dim = 'team' AND key = 'app.team'") == 3
    assert any("Saved" in s.value and "re-applied" in s.value for s in at.success)

    at.session_state["ingest_rules"] = {
        "edited_rows": {},
        "added_rows": [{"dim": "colour", "key": "x"}],
        "deleted_rows": [],
    }
    at.button(key="ingest_rules_save").click()
    at.run()
    assert not at.exception
    assert any("Invalid attribution rule" in e.value and "colour" in e.value for e in at.error)

    at.button(key="ingest_rules_reset").click()
    ok(at.run())
    assert db_count(db_path, "SELECT priority FROM attribution_rules WHERE dim = 'team' AND key = 'app.team'") == 10


# ------------------------------------------------------------------ Ingest with a receiver


def test_ingest_shows_live_receiver_counts(db_path, monkeypatch):
    """The embedded receiver on a loopback port: a real OTLP/HTTP POST shows up in its counters."""
    import time
    import urllib.request

    from helpers import free_port

    from llmledger.telemetry import demo, otlp

    port = free_port()
    monkeypatch.setenv("LLMLEDGER_RECEIVER", "1")
    monkeypatch.setenv("LLMLEDGER_OTLP_PORT", str(port))
    at = ok(page("ingest.py").run())
    assert metric(at, "Requests received") == "0"
    body = next(demo.generate_batches(n_calls=100, traces_per_batch=1000))[2]
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
    deadline = time.time() + 60
    while db_count(db_path, "SELECT count(*) FROM calls") == 0 and time.time() < deadline:
        time.sleep(0.2)
    at.button(key="ingest_refresh").click()
    ok(at.run())
    assert metric(at, "Requests received") == "1"
    assert int(metric(at, "Spans accepted").replace(",", "")) == len(otlp.decode_protobuf(body).spans)


def test_ingest_receiver_unavailable_is_explained(db_path, monkeypatch):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("LLMLEDGER_RECEIVER", "1")
        monkeypatch.setenv("LLMLEDGER_OTLP_PORT", str(busy.getsockname()[1]))
        at = page("ingest.py").run()
    assert not at.exception
    assert any("receiver is not running" in w.value for w in at.warning)
