"""Two things Streamlit (1.67) does on start that cost this dashboard time and change nothing.

**The component scan.** Streamlit looks for v2 custom components in every installed distribution when its
Runtime starts and when an AppTest first runs. Its filter (`_is_likely_streamlit_component_package`)
parses each distribution's metadata two or three times; with this project's ~150 packages that
costs 0.3-0.4 s of CPU on every `make run` (about a second while the receiver starts beside it)
and in every AppTest. Every fact that filter reads (the name, the summary, Requires-Dist) is in the
distribution's METADATA text, so a distribution whose text never says "streamlit" and whose name
does not start with "st-"/"st_" cannot pass it. This reads that text once and asks Streamlit's own
filter only about the others: the same candidates (tests/test_streamlit_startup.py compares the two
over every installed distribution), a fraction of the time.

**The direct-execution check.** On the first element of the first page, Streamlit walks the script
thread's whole stack with `inspect.stack()` (it reads the source of every frame: 0.1-0.3 s) to decide
whether to warn that the app runs outside `streamlit run` (a REPL). The launcher *is* `streamlit
run`, so it marks that warning as already considered.

Both touch Streamlit internals; `install()` checks they exist and leaves Streamlit alone when they
do not (tests/test_streamlit_startup.py fails then, so an upgrade cannot drop them unnoticed).
"""

from __future__ import annotations

import importlib.metadata
import re

_ST_NAME = re.compile(r"^name:[ \t]*st[-_]", re.IGNORECASE | re.MULTILINE)


def _could_be_component(dist: importlib.metadata.Distribution) -> bool:
    """False only when Streamlit's filter is certain to say False too."""
    try:
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    except Exception:  # noqa: BLE001 - unreadable here: let Streamlit's filter decide
        return True
    if text is None:
        return True
    return "streamlit" in text.lower() or _ST_NAME.search(text) is not None


def install_component_prefilter() -> bool:
    """Put the prefilter in front of Streamlit's own (once). False when this Streamlit has no
    such filter (a newer one changed its scan): nothing is patched and start-up is as before."""
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:
        return False
    original = getattr(manifest_scanner, "_is_likely_streamlit_component_package", None)
    if original is None:
        return False
    if getattr(original, "_llmledger_prefilter", False):
        return True

    def is_likely(dist: importlib.metadata.Distribution) -> bool:
        return _could_be_component(dist) and original(dist)

    is_likely._llmledger_prefilter = True  # type: ignore[attr-defined]
    is_likely.__wrapped__ = original  # type: ignore[attr-defined]
    manifest_scanner._is_likely_streamlit_component_package = is_likely
    return True


def skip_direct_run_check() -> bool:
    """Mark Streamlit's "not run with `streamlit run`" warning as considered (launcher only).
    False when this Streamlit has no such flag."""
    from streamlit import delta_generator

    if not hasattr(delta_generator, "_use_warning_has_been_displayed"):
        return False
    delta_generator._use_warning_has_been_displayed = True
    return True
