"""The database layer: the DuckDB connection, migrations and the views derived from code (the
bottom layer; page reads live in llmledger.reads)."""

from llmledger.store.db import connect, migrate

__all__ = ["connect", "migrate"]
