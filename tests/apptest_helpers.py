"""Helpers for page tests under streamlit.testing.v1.AppTest: one definition for every test file."""

from __future__ import annotations

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


def run(name: str, timeout: float = TIMEOUT) -> AppTest:
    """The page, run once, without an exception (an st.error may be what a test looks for)."""
    at = page(name, timeout)
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
