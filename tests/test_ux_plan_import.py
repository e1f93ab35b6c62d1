"""Plan import (issue 15, item 2): any bytes give a plan or a clear refusal, never a traceback and
never a silently empty plan. Hand-written cases first, then hypothesis over arbitrary bytes and
over damaged exports."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmledger.errors import PlanningError
from llmledger.planning import store
from llmledger.planning.prices import ModelPrice
from llmledger.planning.projection import project
from llmledger.planning.requirements import example_set, to_form, use_case_fields
from llmledger.planning.validation import validate

EXPORT = store.to_json(example_set()).encode()
#: A dear made-up price for every model the example names, so the bill is not zero.
PRICES = {
    m: ModelPrice(model=m, provider="test", input_per_1m=1000.0, output_per_1m=4000.0)
    for m in ("gpt-4o-mini", "gpt-4.1-mini", "claude-haiku-4-5", "gemini/gemini-2.5-flash")
}


def test_an_export_round_trips():
    assert store.from_json_bytes(EXPORT).to_dict() == example_set().to_dict()
    assert store.from_json_bytes(b"\xef\xbb\xbf" + EXPORT).name == "Example plan"  # a BOM is fine


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8 text"),
        (b"", "not JSON"),
        (b"{name: 1}", "not JSON"),
        (b"[1, 2]", "holds a list"),
        (b'"Example plan"', "holds text"),
        (b'{"foo": 1}', "no 'name' or 'use_cases' field"),
        (b'{"name": "x"}', "no 'use_cases' field"),
        (b'{"name": "x", "use_cases": [], "budgets": []}', "unknown field(s) 'budgets'"),
        (b'{"name": "x", "use_cases": {}}', "use_cases must be a list"),
        (b'{"name": "x", "use_cases": [1]}', "use case 1 must be an object"),
        (b'{"name": "x", "use_cases": [{"colour": "red"}]}', "unknown field(s) 'colour'"),
        (b'{"name": "x", "use_cases": [{"requests_per_day": "lots"}]}', "must be a number, not text"),
        (b'{"name": "x", "use_cases": [{"requests_per_day": NaN}]}', "must be a finite number"),
        (b'{"name": "x", "use_cases": [{"requests_per_day": true}]}', "must be a number, not true/false"),
        (b'{"name": "x", "use_cases": [{"input_tokens": 1e999}]}', "must be a finite number"),
        (b'{"name": "x", "use_cases": [{"min_context_window": 1.5}]}', "must be a whole number"),
        (b'{"name": "x", "use_cases": [{"privacy": "secret"}]}', "privacy 'secret' is not one of"),
        (b'{"name": "x", "use_cases": [{"modalities": ["smell"]}]}', "unknown modality 'smell'"),
        (b'{"name": "x", "use_cases": [], "start_month": "next year"}', "is not YYYY-MM"),
        (b'{"name": "x", "use_cases": [], "horizon_months": 60}', "horizon_months must be 12 to 24"),
        (b'{"name": "x", "use_cases": [], "candidates": ["a", "b", "c", "d", "e"]}', "at most 4 candidate"),
        (b"[" * 100_000, "nests too deeply"),
    ],
)
def test_what_is_not_a_plan_is_refused_with_the_reason(data, reason):
    with pytest.raises(PlanningError, match="not a plan export") as err:
        store.from_json_bytes(data)
    assert reason in err.value.msg, err.value.msg


def accepted_plan_is_usable(rs) -> None:
    """What the importer lets in, the page can show: every form field renders, validation runs,
    and a plan without errors projects a bill."""
    for uc in rs.use_cases:
        for f in use_case_fields():
            to_form(uc, f.name)
    issues = validate(rs, PRICES)
    if not any(i.level == "error" for i in issues):
        p = project(rs, PRICES)
        assert len(p.months) == rs.horizon_months
        assert np.isfinite(p.total()).all()  # a plan the form accepts never bills infinity
    json.loads(rs.to_json())  # and it exports again


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_give_a_plan_or_a_refusal(data):
    try:
        rs = store.from_json_bytes(data)
    except PlanningError as exc:
        assert exc.msg.startswith("not a plan export: ") and "\n" not in exc.msg
        return
    accepted_plan_is_usable(rs)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(
        [("name",), ("start_month",), ("horizon_months",), ("candidates",), ("use_cases",), ("version",)]
        + [("use_cases", 0, f.name) for f in use_case_fields()]
    ),
    value=JSON_VALUES,
)
def test_a_damaged_export_gives_a_plan_or_a_refusal(path, value):
    """An export with one field replaced by any JSON value."""
    doc = json.loads(EXPORT)
    target = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    try:
        text = json.dumps(doc, allow_nan=True)
    except (ValueError, OverflowError):
        return
    try:
        rs = store.from_json_bytes(text.encode())
    except PlanningError as exc:
        assert exc.msg.startswith("not a plan export: ")
        return
    accepted_plan_is_usable(rs)
    if path[:2] == ("use_cases", 0) and isinstance(value, float) and not math.isfinite(value):
        raise AssertionError("a non-finite number was let in")


NUMERIC_FIELDS = [f.name for f in use_case_fields() if f.type in ("float", "float | None", "int | None")]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(NUMERIC_FIELDS),
    value=st.floats(allow_nan=False, allow_infinity=False) | st.integers(min_value=-(10**30), max_value=10**30),
)
def test_any_finite_number_in_any_field_imports_and_validates(field, value):
    """Extreme numbers (10^300 growth, 10^15 tokens) are let in; validation and the bill cope."""
    doc = json.loads(EXPORT)
    doc["use_cases"][0][field] = value
    try:
        rs = store.from_json_bytes(json.dumps(doc).encode())
    except PlanningError as exc:
        assert "whole number" in exc.msg  # an int field given a fraction
        return
    accepted_plan_is_usable(rs)


def test_cli_import_of_a_binary_file_is_one_line(tmp_path, db_path):
    from helpers import cli, one_line_error

    f = tmp_path / "plan.json"
    f.write_bytes(b"\x00\xff\xfe binary")
    line = one_line_error(cli("plan", "import", f, db=db_path))
    assert "not a plan export: the file is not UTF-8 text" in line
