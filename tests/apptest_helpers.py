"""Helpers for page tests under streamlit.testing.v1.AppTest: one definition for every test file."""

from __future__ import annotations

import functools

from helpers import ROOT
from streamlit.testing.v1 import AppTest

#: AppTest's per-run timeout: the first run of a page imports pandas, plotly and the pricing data.
TIMEOUT = 180


def page(name: str, timeout: float = TIMEOUT) -> AppTest:
    """An AppTest of app_pages/<name> (with or without `.py`), not yet run."""
    stem = name.removesuffix(".py")
    return AppTest.from_file(str(ROOT / "app_pages" / f"{stem}.py"), default_timeout=timeout)


def ok(at: AppTest) -> AppTest:
    """`at` after a run that showed no exception and no st.error."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def run(name: str, timeout: float = TIMEOUT, tab: tuple[str, str] | None = None) -> AppTest:
    """The page, run once, without an exception (an st.error may be what a test looks for).
    `tab`: (the page's st.tabs key, a tab's label) opens that tab first (lazy tabs run only when open)."""
    at = page(name, timeout)
    if tab:
        at.session_state[tab[0]] = tab[1]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    """The value of the metric labelled `label`."""
    return next(m.value for m in at.metric if m.label == label)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame(at: AppTest, *columns: str):
    """The first dataframe showing all `columns` (AppTest keeps keys only of selectable frames)."""
    for d in at.dataframe:
        if set(columns) <= set(d.value.columns):
            return d.value
    raise AssertionError(f"no dataframe with columns {columns}")


def vega_charts(at: AppTest, *, by_title: bool = True):
    """The Vega-Lite charts the run drew, each as (data, spec) like `vega.Chart`: a dict by title
    text, or with `by_title=False` a list in page order (untitled charts too). Each spec must pass
    the Vega-Lite schema (`assert_valid_vega_lite`); data is the DataFrame Streamlit sends apart
    from the spec (as Arrow IPC bytes), which every chart must have."""
    import json

    import pyarrow as pa

    charts = []
    for c in at.get("vega_lite_chart"):
        spec = json.loads(c.proto.spec)
        assert_valid_vega_lite(spec)
        assert c.proto.data.data, f"a chart without data: {spec.get('title')}"
        charts.append((pa.ipc.open_stream(c.proto.data.data).read_all().to_pandas(), spec))
    return {spec["title"]["text"]: (data, spec) for data, spec in charts} if by_title else charts


def assert_valid_vega_lite(spec: dict, data: dict | None = None) -> None:
    """The spec is valid Vega-Lite v6 (the schema Streamlit draws with, shipped with altair).
    `data` is its top-level data (e.g. `{"values": rows}` inline); without it the spec keeps its
    own or gets a named dataset, as Streamlit passes a chart's data apart from its spec."""
    full = {"data": {"name": "d"}, **spec}
    if data is not None:
        full["data"] = data
    errors = [e.message for e in _vega_lite_validator().iter_errors(full)]
    assert not errors, errors[:3]


@functools.cache
def _vega_lite_validator():
    import jsonschema
    from altair.vegalite.v6.schema.core import load_schema

    return jsonschema.Draft7Validator(load_schema())
