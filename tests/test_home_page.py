"""The Home page: on an empty ledger it offers clearly labelled demo data (as Calls does); with
calls it shows this month's spend and run rate, the top features, budgets closest to their limit
and data quality. reads/overview is checked against calls with known costs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alerts_support import add_call
from apptest_helpers import ok, page

from llmledger.alerts import budgets
from llmledger.alerts.budgets import Budget
from llmledger.reads import overview as ov
from llmledger.store.db import connect

AS_OF = datetime(2026, 5, 20, 12, tzinfo=UTC)  # 19.5 days into May


def test_overview_figures_against_known_costs(con):
    # This month: 3 calls of $2 (chat), 1 of $5 (search), 1 unpriced; last month: $10, of which $4
    # before the same point (April 1 + 19.5 days).
    for h in range(3):
        add_call(con, AS_OF - timedelta(days=1, hours=h), 2.0, feature="chat")
    add_call(con, AS_OF - timedelta(days=2), 5.0, feature="search")
    add_call(con, AS_OF - timedelta(days=3), None, feature="chat")
    add_call(con, datetime(2026, 4, 10, tzinfo=UTC), 4.0, feature="chat")
    add_call(con, datetime(2026, 4, 25, tzinfo=UTC), 6.0, feature="chat")
    add_call(con, AS_OF + timedelta(days=1), 100.0, feature="later")  # after as_of: not counted
    add_call(con, datetime(2026, 3, 31, tzinfo=UTC), 100.0, feature="older")  # before last month
    o = ov.overview(con, AS_OF)
    assert o.mtd_usd == pytest.approx(11.0) and o.mtd_calls == 5
    assert o.projected_usd == pytest.approx(11.0 / 19.5 * 31)
    assert o.last_month_usd == pytest.approx(10.0) and o.last_month_to_date_usd == pytest.approx(4.0)
    assert o.quality["unpriced"] == 1 and o.quality["reported_only"] == 4 and o.reported_only_usd == pytest.approx(11)
    assert list(o.top_features["feature"]) == ["chat", "search"]
    assert list(o.top_features["cost_usd"]) == pytest.approx([6.0, 5.0])
    assert o.top_features.set_index("feature").loc["chat", "unpriced_calls"] == 1
    assert set(o.daily["month"]) == {"this month", "last month"} and o.daily["cost_usd"].sum() == pytest.approx(21)
    assert "1 calls this month have no price" in o.notes[0]


def test_empty_ledger_offers_demo_data_clearly_labelled():
    at = ok(page("home").run())
    assert any("No LLM calls yet" in i.value and "demo traffic" in i.value for i in at.info)
    at.number_input(key="home_demo_n").set_value(300)
    at.button(key="home_demo_generate").click().run()
    ok(at)
    assert any("DEMO DATA" in w.value for w in at.warning), [w.value for w in at.warning]
    labels = {m.label for m in at.metric}
    assert any(label.startswith("Spend in") for label in labels) and "Run rate: whole month (projected)" in labels


@pytest.fixture
def ledger(db_path):
    con = connect(db_path)
    now = datetime.now(UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    for k in range(6):
        add_call(con, max(start, now - timedelta(hours=k + 1)), 3.0, feature="chat" if k % 2 else "search")
    budgets.save(con, Budget.build("Chat month", 10, "month", where=["feature=chat"]))  # $9 of $10: 90%
    budgets.save(con, Budget.build("Everything", 1000, "month"))  # $18 of $1,000
    con.close()
    return db_path


def test_home_shows_spend_budgets_near_their_limit_and_quality(ledger):
    at = ok(page("home").run())
    assert not any("DEMO DATA" in w.value for w in at.warning)
    spend = next(m for m in at.metric if m.label.startswith("Spend in"))
    assert spend.value == "$18.00"
    assert any("1 of 2 budget(s) at 80% of their limit or more" in w.value for w in at.warning)
    table = next(d.value for d in at.dataframe if "used" in d.value.columns)
    assert list(table["budget"]) == ["Chat month", "Everything"] and table["used"][0] == pytest.approx(0.9)
    assert {m.label for m in at.metric} >= {"Calls without usage", "Unpriced calls", "Estimated usage", "Errors"}


def test_home_charts_are_vega_lite_with_the_overview_figures(ledger):
    """Home's first view draws no Plotly figure (its bundle is the costliest part of a fresh tab):
    both charts are Vega-Lite, and their data is this month's spend per day and per feature."""
    import json

    at = ok(page("home").run())
    assert not at.get("plotly_chart")
    charts = {str(json.loads(c.proto.spec)["title"].get("text")): c for c in at.get("vega_lite_chart")}
    assert set(charts) == {"Actual cost per day (UTC)", "Top features this month"}
    features = arrow_frame(charts["Top features this month"].proto.data.data)
    assert features.set_index("feature")["cost_usd"].to_dict() == pytest.approx({"chat": 9.0, "search": 9.0})
    daily = arrow_frame(charts["Actual cost per day (UTC)"].proto.data.data)
    assert daily["cost_usd"].sum() == pytest.approx(18.0) and set(daily["month"]) <= {"This month", "Last month"}
    daily_spec = json.loads(charts["Actual cost per day (UTC)"].proto.spec)
    assert daily_spec["layer"][0]["encoding"]["color"]["scale"]["domain"] == ["Last month", "This month"]
    assert daily_spec["title"]["subtitle"].startswith("Dotted line: this month's daily average so far ($")


def arrow_frame(data: bytes):
    """The DataFrame a Vega-Lite element carries (Arrow IPC stream bytes)."""
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all().to_pandas()


def test_feature_names_reach_the_chart_as_written():
    """Vega-Lite draws text as written: no HTML escaping (that is for Plotly), NULL reads
    "(unattributed)"."""
    import pandas as pd

    from llmledger.ui import home_widgets

    data, spec = home_widgets.features_chart(pd.DataFrame({"feature": ["<b>a</b> & b", None], "cost_usd": [2.5, None]}))
    assert list(data["feature"]) == ["<b>a</b> & b", "(unattributed)"]
    assert list(data["cost_usd"]) == [2.5, 0.0]
    assert spec["encoding"]["y"]["sort"] == "-x"


def test_go_to_links_every_other_page_in_the_sidebars_order():
    """Home's links name every page of app.PAGES but Home, in the same order, with each page's
    icon; on an empty ledger they are drawn (AppTest runs the page alone: labels, not links)."""
    import ast

    from helpers import ROOT

    from llmledger.ui import home_widgets

    tree = ast.parse((ROOT / "app.py").read_text())
    pages = next(
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "PAGES"
    )
    expected = [(p, t, i) for p, t, i in pages if t != "Home"]
    assert [(p, t, i) for p, t, i, _ in home_widgets.LINKS] == expected
    at = ok(page("home").run())
    shown = " ".join(m.value for m in at.markdown)
    assert all(f"**{t}**" in shown for _, t, _ in expected)
