"""The Prices page under AppTest: look a model up (the entry, the match kind, the route, the other
candidates), the models in calls and how they are priced, the bundled sheets, the active sheet
behind a confirmation; uploads that are not price sheets are refused with a clear message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from alerts_support import add_call
from apptest_helpers import ok, page
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.errors import LedgerError
from llmledger.pricing import sheets
from llmledger.store.db import connect


def active_in(db_path) -> str:
    con = duckdb.connect(str(db_path))
    try:
        row = con.execute("SELECT value FROM settings WHERE key = 'active_sheet'").fetchone()
        return row[0] if row else "litellm"
    finally:
        con.close()


@pytest.fixture
def ledger(db_path):
    con = connect(db_path)
    now = datetime.now(UTC)
    for i in range(3):
        add_call(con, now - timedelta(hours=i + 1), None, model="claude-3-5-sonnet", provider="anthropic")
    add_call(con, now - timedelta(hours=1), None, model="gpt-4o", provider="openai")
    sheets.set_active_sheet(con, "litellm")
    con.close()
    return db_path


def test_lookup_says_which_entry_prices_a_model_and_why(ledger):
    at = ok(page("prices").run())
    at.text_input(key="prices_lookup").input("claude-3-5-sonnet").run()
    ok(at)
    said = " ".join(w.value for w in at.warning)
    assert "priced as 'vertex_ai/claude-3-5-sonnet'" in said and "a big cloud's entry" in said
    cands = next(d.value for d in at.dataframe if "how" in d.value.columns)
    assert cands["chosen"].iloc[0] and cands["model_id"].iloc[0] == "vertex_ai/claude-3-5-sonnet"
    assert "snowflake/claude-3-5-sonnet" in set(cands["model_id"])  # the reseller is a candidate, not the match
    assert set(cands[cands["model_id"] == "snowflake/claude-3-5-sonnet"]["route"]) == {"reseller"}
    # The models seen in calls, with their route and the note wherever it is not the provider's own.
    calls = next(d.value for d in at.dataframe if "priced_as" in d.value.columns).set_index("model")
    assert calls.loc["claude-3-5-sonnet", "route"] == "cloud" and calls.loc["claude-3-5-sonnet", "calls"] == 3
    assert "via the cloud" in calls.loc["claude-3-5-sonnet", "note"]
    assert calls.loc["gpt-4o", "route"] == "first-party" and calls.loc["gpt-4o", "note"] == ""
    # A first-party match is a success; an unknown model says it stays unpriced.
    at.text_input(key="prices_lookup").input("gpt-4o").run()
    assert any("the provider's own entry" in s.value for s in ok(at).success)
    at.text_input(key="prices_lookup").input("acme-inhouse-7b").run()
    assert any("has no price" in e.value and "stay unpriced" in e.value for e in at.error)
    # Lazy tabs: a closed tab runs nothing; the name typed is still there when the tab opens again.
    at.session_state["prices_tab"] = "Import"
    at.run()
    assert not [w for w in at.text_input if w.key == "prices_lookup"] and not at.error
    assert not [d for d in at.dataframe if "priced_as" in d.value.columns]
    at.session_state["prices_tab"] = "Look a model up"
    at.run()
    assert at.text_input(key="prices_lookup").value == "acme-inhouse-7b"
    assert any("has no price" in e.value for e in at.error)


def test_bundled_sheet_versions_and_activation_with_confirmation(ledger):
    at = page("prices")
    at.session_state["prices_tab"] = "Import"  # lazy tabs: only the open one runs
    at = ok(at.run())
    at.button(key="prices_bundled_langfuse").click().run()
    assert any("Imported the bundled sheet 'langfuse'" in s.value for s in ok(at).success)
    assert at.session_state["prices_tab"] == "Import"  # the import's rerun lands on its tab
    at.session_state["prices_tab"] = "Sheets & active sheet"
    at = ok(at.run())
    listed = next(d.value for d in at.dataframe if "latest_effective_from" in d.value.columns)
    assert {"litellm", "langfuse"} <= set(listed["sheet"])
    versions = next(d.value for d in at.dataframe if "imported_at" in d.value.columns)
    assert (versions["models"] > 100).all() and "effective_from" in versions

    at.selectbox(key="prices_target").select("langfuse").run()
    at.button(key="prices_activate").click().run()
    assert any("Every consumer reprices at once" in w.value for w in ok(at).warning)
    assert active_in(ledger) == "litellm"  # nothing changes before the confirmation
    at.button(key="prices_cancel").click().run()
    assert active_in(ledger) == "litellm" and not any("reprices" in w.value for w in ok(at).warning)
    at.button(key="prices_activate").click().run()
    at.button(key="prices_confirm").click().run()
    assert active_in(ledger) == "langfuse"
    assert any("'langfuse' is now the active sheet" in s.value for s in ok(at).success)


@pytest.mark.parametrize(
    "data, filename, message",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "logo.png.csv", "not UTF-8"),
        (b"{not json", "prices.json", "malformed JSON"),
        (b'{"a": 1}', "prices.json", "neither a LiteLLM map"),
        (b"model,input_per_mtok,output_per_mtok\ngpt-x,abc,1\n", "mine.csv", "'abc' is not a number"),
        (b"model,input_per_mtok,output_per_mtok\ngpt-x,-1,1\n", "mine.csv", "negative"),
    ],
)
def test_bad_uploads_get_a_clear_message_and_store_nothing(con, data, filename, message):
    before = sheets.sheet_names(con)
    with pytest.raises(LedgerError, match=message):
        sheets.import_sheet_bytes(con, data, filename)
    assert sheets.sheet_names(con) == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300), ext=st.sampled_from(["csv", "yaml", "json", "txt"]))
def test_any_upload_is_stored_or_refused_with_a_reason(con, data, ext):
    try:
        name = sheets.import_sheet_bytes(con, data, f"upload.{ext}", "fuzzed")
    except LedgerError as exc:
        assert exc.msg and "Traceback" not in exc.msg
    else:
        assert name in sheets.sheet_names(con)
        sheets.delete_sheet(con, name)


def test_calls_and_reprice_data_quality_say_when_a_model_is_priced_via_a_cloud_or_reseller(ledger):
    for name, key in (("calls", "calls_routes"), ("reprice", "reprice_routes")):
        at = page(name)
        if name == "calls":
            at.session_state["calls_tab"] = "Data quality"  # lazy tabs: only the open one runs
        at = ok(at.run())
        routes = next(d.value for d in at.dataframe if "route" in d.value.columns and "priced_as" in d.value.columns)
        assert list(routes["model"]) == ["claude-3-5-sonnet"], name  # gpt-4o is first-party: not flagged
        assert routes["route"][0] == "cloud" and "via the cloud" in routes["note"][0]
        assert any("through a cloud's or a reseller's entry" in c.value for c in at.caption), name
