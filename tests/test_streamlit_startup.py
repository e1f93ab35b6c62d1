"""Streamlit start-up (ui/streamlit_startup.py): the component scan's prefilter keeps exactly the
packages Streamlit's own filter keeps, over every installed distribution and over made-up ones that
pass it each way (name, summary, Requires-Dist, an "st-" name) or pass none; the hooks exist in
the pinned Streamlit."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from streamlit.components.v2 import manifest_scanner

from llmledger.ui import streamlit_startup


def _streamlit_filter():
    f = manifest_scanner._is_likely_streamlit_component_package
    return getattr(f, "__wrapped__", f)


def test_direct_run_check_flag_exists_in_this_streamlit():
    from streamlit import delta_generator

    before = delta_generator._use_warning_has_been_displayed
    try:
        assert streamlit_startup.skip_direct_run_check() is True
        assert delta_generator._use_warning_has_been_displayed is True
    finally:
        delta_generator._use_warning_has_been_displayed = before


def test_installed_with_this_streamlit():
    assert streamlit_startup.install_component_prefilter() is True
    assert streamlit_startup.install_component_prefilter() is True  # idempotent: one wrapper, not two
    f = manifest_scanner._is_likely_streamlit_component_package
    assert f._llmledger_prefilter and not getattr(f.__wrapped__, "_llmledger_prefilter", False)


def test_same_candidates_as_streamlit_over_installed_packages():
    streamlit_startup.install_component_prefilter()
    dists = list(importlib.metadata.distributions())
    assert len(dists) > 50
    ours = [d.metadata["Name"] for d in dists if manifest_scanner._is_likely_streamlit_component_package(d)]
    theirs = [d.metadata["Name"] for d in dists if _streamlit_filter()(d)]
    assert ours == theirs
    assert "streamlit" in [n.lower() for n in theirs]  # the scan does find a candidate here


METADATA = {
    "plain": ("Metadata-Version: 2.1\nName: plain-lib\nVersion: 1.0\nSummary: Nothing to see\n", False),
    "name": ("Metadata-Version: 2.1\nName: my-streamlit-widget\nVersion: 1.0\n", True),
    "summary": ("Metadata-Version: 2.1\nName: widget\nVersion: 1.0\nSummary: A chart for Streamlit apps\n", True),
    "requires": ("Metadata-Version: 2.1\nName: widget2\nVersion: 1.0\nRequires-Dist: streamlit>=1.40\n", True),
    "st-name": ("Metadata-Version: 2.1\nName: st-aggrid-like\nVersion: 1.0\n", True),
    "st_name upper": ("Metadata-Version: 2.1\nName: ST_Thing\nVersion: 1.0\n", True),
    "st in body only": ("Metadata-Version: 2.1\nName: stats-lib\nVersion: 1.0\nSummary: st- and st_ prefixes\n", False),
    "body mention": ("Metadata-Version: 2.1\nName: other\nVersion: 1.0\n\nWorks well next to streamlit.\n", False),
}


@pytest.mark.parametrize("case", sorted(METADATA))
def test_same_answer_on_made_up_packages(tmp_path: Path, case: str):
    text, expected = METADATA[case]
    info = tmp_path / "pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(text)
    dist = importlib.metadata.PathDistribution(info)
    streamlit_startup.install_component_prefilter()
    assert _streamlit_filter()(dist) is expected
    assert manifest_scanner._is_likely_streamlit_component_package(dist) is expected


def test_unreadable_metadata_is_left_to_streamlit(tmp_path: Path):
    info = tmp_path / "broken-1.0.dist-info"
    info.mkdir()  # no METADATA at all
    dist = importlib.metadata.PathDistribution(info)
    assert streamlit_startup._could_be_component(dist) is True  # never decides on what it cannot read
    streamlit_startup.install_component_prefilter()
    assert manifest_scanner._is_likely_streamlit_component_package(dist) is _streamlit_filter()(dist)
