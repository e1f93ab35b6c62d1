"""DuckDB storage: connection, migrations and the queries the pages run."""

from llmledger.store.db import connect, migrate

__all__ = ["connect", "migrate"]
