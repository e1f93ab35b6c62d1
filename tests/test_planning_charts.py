"""Plan charts: every figure passes Plotly's full validation and shows the computed numbers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from llmledger.planning.prices import ModelPrice
from llmledger.planning.projection import PLAN, project
from llmledger.planning.requirements import RequirementSet, UseCase
from llmledger.planning.shortlist import shortlist
from llmledger.ui import plan_charts as charts

PRICES = {"a": ModelPrice("a", "x", 1.0, 2.0), "b": ModelPrice("b", "y", 3.0, 15.0)}


@pytest.fixture
def proj():
    rs = RequirementSet(
        start_month="2026-01",
        candidates=["a", "b"],
        use_cases=[
            UseCase(
                name="grow",
                requests_per_day=1000,
                input_tokens=1000,
                output_tokens=500,
                growth_pct_per_month=10,
                monthly_budget_usd=70,
                model="a",
                input_token_samples=[800, 1000, 1200],
            ),
            UseCase(name="flat", requests_per_day=10, fixed_monthly_usd=10, model="b"),
        ],
    )
    return project(rs, PRICES)


def validated(fig: go.Figure) -> dict:
    """Rebuild with Plotly's validation on: raises on any malformed property."""
    return go.Figure(fig.to_dict()).to_dict()


def test_projection_chart_stacks_use_cases_and_draws_budget_and_band(proj):
    d = validated(charts.projection_chart(proj))
    bars = [t for t in d["data"] if t["type"] == "bar"]
    assert [t["name"] for t in bars] == ["grow", "flat"]
    assert np.allclose(np.sum([t["y"] for t in bars], axis=0), proj.total(PLAN))
    names = [t.get("name") for t in d["data"]]
    assert "P90 total" in names and "Sum of monthly budgets" in names
    assert d["layout"]["barmode"] == "stack"


def test_band_chart_marks_the_first_month_over_budget(proj):
    d = validated(charts.use_case_band_chart(proj, "grow"))
    texts = [a["text"] for a in d["layout"]["annotations"]]
    assert "over budget from 2026-03" in texts  # $62, $61.6, $75.02 against $70
    assert d["layout"]["shapes"][0]["y0"] == 70


def test_candidates_chart_has_one_line_per_scenario(proj):
    d = validated(charts.candidates_chart(proj))
    named = [t["name"] for t in d["data"] if t.get("showlegend") is not False]
    assert named == [PLAN, "a", "b"]


def test_waterfall_daily_and_shortlist_charts():
    eff = pd.DataFrame({"effect": ["volume", "price"], "usd": [2.0, -0.5]})
    d = validated(charts.variance_waterfall(10.0, eff, 11.5))
    assert d["data"][0]["measure"] == ["absolute", "relative", "relative", "total"]
    assert list(d["data"][0]["y"]) == [10.0, 2.0, -0.5, 11.5]
    by_day = pd.DataFrame(
        {"day": [dt.date(2026, 1, 1), dt.date(2026, 1, 2)], "planned_calls": [5.0, 5.0], "actual_calls": [3, 7]}
    )
    assert len(validated(charts.daily_chart(by_day))["data"]) == 2
    rs = RequirementSet(start_month="2026-01", use_cases=[UseCase(name="u")])
    sl = shortlist(rs, "u", PRICES)
    d = validated(charts.shortlist_chart(sl.eligible))
    assert list(d["data"][0]["y"]) == ["b", "a"]  # cheapest at the top (last drawn)
