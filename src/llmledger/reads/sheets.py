"""Reads about the stored price sheets that the pages key their caches by."""

from __future__ import annotations

VERSIONS_MARKER_SQL = """
SELECT count(*)::VARCHAR || '/' || coalesce(max(imported_at)::VARCHAR, '') FROM price_versions WHERE sheet = ?
"""


def versions_marker(con, sheet: str) -> str:
    """A short text that changes whenever a version of `sheet` is imported (a cache key)."""
    return con.execute(VERSIONS_MARKER_SQL, [sheet]).fetchone()[0]
