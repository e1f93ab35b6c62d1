"""A lever saved as a what-if scenario (simulate/scenarios.save with a LedgerLever): its row and
body, a lever over every feature (feature NULL, migration w002) applied to every use case of a
plan, a lever over one feature applied to that feature's use cases only, and bad saves refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_levers_page_props import rows_of, scope_of

from llmledger.errors import SimulationError
from llmledger.simulate import lever_lab, scenarios
from llmledger.store.db import connect

CALLS = [(0, "gpt-4o", "a", 100, "faq"), (60, "gpt-4o", "a", 100, "faq"), (120, "gpt-4o", "b", 900, "report")]


def cache_lever(feature=None):
    sc = scope_of(rows_of(CALLS))
    sc.lc.feature = feature
    return lever_lab.run(sc, "cache", ttl_s=3600.0, mode="exact")


def test_a_lever_over_every_feature_applies_to_every_use_case(db_path):
    con = connect(db_path)
    ll = cache_lever()
    assert ll.result.metrics["hits"] == 1 and ll.result.saving_usd > 0
    scenarios.save(con, "cache everywhere", ll, params={"ttl_s": 3600.0, "mode": "exact"})
    df = scenarios.list_scenarios(con)
    row = df.iloc[0]
    assert pd.isna(row["feature"]) and row["kind"] == "response-cache"
    ratio = ll.result.whatif_usd / ll.result.baseline_usd
    assert row["cost_ratio"] == pytest.approx(ratio, rel=1e-6)
    assert row["cost_ratio_low"] == pytest.approx(ratio, rel=1e-6) == row["cost_ratio_high"]  # no band
    body = scenarios.load(con, "cache everywhere")
    assert body["params"] == {"ttl_s": 3600.0, "mode": "exact"} and body["assumptions"]
    cost = np.array([[10.0, 20.0], [5.0, 5.0]])  # two use cases, two months
    lines, notes = scenarios.candidate_lines(["m1", "m2"], cost, ["faq", None], df)
    assert not notes
    assert lines["total_usd"].tolist() == pytest.approx((cost.sum(axis=0) * ratio).tolist())
    con.close()


def test_a_lever_over_one_feature_applies_to_its_use_cases(db_path):
    con = connect(db_path)
    ll = cache_lever("faq")
    scenarios.save(con, "faq cache", ll)
    df = scenarios.list_scenarios(con)
    ratio = ll.result.whatif_usd / ll.result.baseline_usd
    cost = np.array([[10.0, 20.0], [5.0, 5.0]])
    lines, _ = scenarios.candidate_lines(["m1", "m2"], cost, ["faq", "other"], df)
    assert lines["total_usd"].tolist() == pytest.approx((cost[0] * ratio + cost[1]).tolist())
    with pytest.raises(SimulationError, match="needs a name"):
        scenarios.save(con, "  ", ll)
    con.close()
