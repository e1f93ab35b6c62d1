"""Formatting for what users read: counts, tokens, money, durations, receiver status, and text
from telemetry made safe to show (`plain_label` for Plotly, `plain_markdown` for Streamlit).

Pure functions (no Streamlit), so they are tested directly and shared by every page.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

from llmledger.reads.filters import UNATTRIBUTED

DASH = "—"


def _missing(x: Any) -> bool:
    """None, NaN, or pandas' NA / NaT (nullable integer columns from DuckDB hold pd.NA)."""
    return x is None or (isinstance(x, float) and math.isnan(x)) or type(x).__name__ in ("NAType", "NaTType")


def label(value: Any) -> str:
    """A dimension value as shown: NULL reads "(unattributed)"."""
    return UNATTRIBUTED if _missing(value) or value == "" else str(value)


def plain_label(value: Any) -> str:
    """`value` as literal text in a Plotly figure.

    Plotly reads a subset of HTML (<b>, <a href>, <br>, <span style>, entities) in trace names,
    category and tick labels, text, hover text, annotations and titles; names from telemetry
    (span, model, feature, team, user...) must show as written, never as markup. Plotly turns
    the entities back into the characters, so "<b>" still reads "<b>".
    """
    return html.escape(str(value), quote=False)


def plain_labels(values: Any) -> list[str]:
    """`plain_label` of each value (a Series, list or other iterable)."""
    return [plain_label(v) for v in values]


#: Inline Markdown syntax in Streamlit: backslash, code, emphasis (*, and _ unless it sits inside a
#: word, where it cannot open or close emphasis), strikethrough, links, images and directives
#: ([ ]), HTML and autolinks (< >), entities (&) and LaTeX ($).
_MD_INLINE = re.compile(r"([\\`*~\[\]<>&$]|_(?![^\W_])|(?<![^\W_])_)")
#: What opens a block (heading, quote, list, setext underline, table) at the start of the text.
_MD_BLOCK_START = re.compile(r"^(?:([#>+\-=|])|(\d+)([.)]))")
#: Where GFM would turn plain text into a link ("http://", "www.", "a@b.c"): it finds those in the
#: text after escapes are resolved, so an invisible word joiner goes before "://", "@" and the "."
#: after "www".
_AUTOLINK = re.compile(r"(?=://)|(?<=www)(?=\.)|(?=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def plain_markdown(value: Any) -> str:
    """`value` as literal text inside a string Streamlit renders as Markdown (st.markdown,
    st.caption, st.info/warning/error/success, st.toast, labels, help).

    Streamlit has no escaping helper. Backslash escapes (CommonMark allows one before any ASCII
    punctuation) go only where a character is syntax, so links, images, emphasis, code, HTML,
    `:color[...]` directives and `$...$` LaTeX stay text while "re-run (Q8_0): 1.5" reads as
    written; a word joiner stops bare URLs and addresses from being autolinked. Line breaks become
    spaces and the ends are trimmed, so the value cannot open a block of its own.
    """
    text = re.sub(r"\s*[\r\n]+\s*", " ", str(value)).strip()
    text = _MD_INLINE.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, text))
    return _MD_BLOCK_START.sub(lambda m: "\\" + m[1] if m[1] else m[2] + "\\" + m[3], text)


def count(n: Any) -> str:
    return DASH if _missing(n) else f"{int(n):,}"


def compact(n: Any) -> str:
    """1234 -> 1.2k, 5_600_000 -> 5.6M."""
    if _missing(n):
        return DASH
    n = float(n)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def usd(x: Any) -> str:
    """-$27.52, $266,421.73; below a cent, four decimals ($0.0012) so it does not read $0.00."""
    if _missing(x):
        return DASH
    x = float(x)
    sign = "-" if x < 0 and round(abs(x), 4) else ""
    x = abs(x)
    return f"{sign}${x:.4f}" if x != 0 and x < 0.01 else f"{sign}${x:,.2f}"


def plural(n: Any, unit: str) -> str:
    """1 month, 12 months, 1,234 calls."""
    return f"{count(n)} {unit}{'' if not _missing(n) and int(n) == 1 else 's'}"


def signed_usd(x: Any) -> str:
    """+$1.23 / −$1.23 for deltas."""
    text = usd(abs(x)) if not _missing(x) else DASH
    return text if text == DASH else ("+" if x > 0 else "−" if x < 0 else "") + text


def ms(x: Any) -> str:
    if _missing(x):
        return DASH
    x = float(x)
    if x >= 60_000:
        return f"{x / 60_000:.1f} min"
    if x >= 10_000:
        return f"{x / 1000:.1f} s"
    if x >= 1000:
        return f"{x / 1000:.2f} s"
    return f"{x:.0f} ms"


def pct(x: Any, digits: int = 1) -> str:
    return DASH if _missing(x) else f"{float(x) * 100:.{digits}f}%"


def share(part: Any, whole: Any) -> str:
    if _missing(part) or _missing(whole) or not whole:
        return DASH
    return pct(float(part) / float(whole))


def ago(ts: Any, now: float) -> str:
    """An epoch-seconds time as "12 s ago" / "3.0 min ago"."""
    if _missing(ts):
        return "never"
    return f"{ms(max(0.0, now - float(ts)) * 1000)} ago"


def receiver_rows(stats: dict[str, Any], now: float | None = None) -> list[tuple[str, str]]:
    """The receiver's stats() as (label, value) rows; keys it does not report are left out."""
    import time

    now = time.time() if now is None else now
    when = lambda v: ago(v, now)  # noqa: E731
    rows: list[tuple[str, str]] = []
    if "running" in stats:
        rows.append(("State", "running" if stats["running"] else "stopped"))
    if "loader_alive" in stats:
        restarts = stats.get("loader_restarts") or 0
        rows.append(
            (
                "Loader",
                ("running" if stats["loader_alive"] else "STOPPED")
                + (f" (recovered from {restarts} error(s))" if restarts else ""),
            )
        )
    endpoint = stats.get("endpoint")
    if not endpoint and stats.get("port"):
        endpoint = f"http://{stats.get('host') or '127.0.0.1'}:{stats['port']}/v1/traces"
    if endpoint:
        rows.append(("Endpoint", str(endpoint)))
    rate = lambda v: f"{float(v):,.1f}"  # noqa: E731
    for key, title, fmt in (
        ("requests", "Requests received", count),
        ("accepted_spans", "Spans accepted", count),
        ("rejected_spans", "Spans rejected", count),
        ("spans_per_s", "Spans/s received", rate),
        ("loaded_spans", "Spans loaded", count),
        ("loaded_spans_per_s", "Spans/s loaded (last 10 s)", rate),
        ("pending_batches", "Batches waiting to load", count),
        ("load_failures", "Load attempts failed (retried)", count),
        ("quarantined_batches", "Batches quarantined (this run)", count),
        ("quarantine_waiting", "Quarantined batches waiting", count),
        ("open_connections", "Open connections", count),
        ("last_request_at", "Last request", when),
        ("last_loaded_at", "Last load", when),
        ("spool_dir", "Spool", str),
    ):
        if key in stats and not _missing(stats[key]):
            rows.append((title, fmt(stats[key])))
    if stats.get("spool_max_bytes"):
        used, cap = stats.get("spool_bytes") or 0, stats["spool_max_bytes"]
        rows.append(
            (
                "Spool use",
                f"{used / 2**20:,.1f} of {cap / 2**20:,.0f} MiB ({used / cap:.0%}); full means 503 + Retry-After",
            )
        )
    errors = stats.get("errors_by_status")
    if errors:
        rows.append(("Errors by HTTP status", ", ".join(f"{k}: {v}" for k, v in sorted(errors.items()))))
    rows.append(("Last error", str(stats.get("last_error") or "none")))
    return rows


def load_summary(result: dict[str, Any]) -> str:
    """One line for a LoadResult.as_dict()."""
    text = (
        f"{count(result.get('spans_read'))} spans read, {count(result.get('spans_new'))} new, "
        f"{count(result.get('llm_calls'))} LLM calls, "
        f"{count(result.get('duplicates_skipped'))} duplicates skipped, "
        f"{count(result.get('rejected'))} rejected"
    )
    return text
