"""The read side: every query the pages, the CLI and the alerts run over calls and costs.

Each read is a plain function: a DB-API-like connection (a DuckDB cursor here) and plain,
hashable values in; a pandas DataFrame, a dataclass or plain Python values out. Nothing here
knows about Streamlit, and only the contract's `llm_calls` columns (plus `spans` for trace trees)
are read, so a ClickHouse backend could implement the same functions later (DESIGN.md, Scale).

- `filters`: which calls (CallFilter), the dimensions, the labels for NULL and the rest.
- `buckets`: the one set of time buckets every series uses.
- `calls`: the Calls page (volume, tokens, latency, top traces, trace trees, data quality).
- `spend`: money under a price sheet (totals, series, breakdowns, run rate, the expensive ones).
- `spend_cache`: the per-sheet memo of the priced calls that the money reads scan.
- `export`: the filtered calls as CSV or Parquet.
- `actuals`: a feature's recorded calls and actual cost (plan vs actual).
- `reprice`: the same calls under another sheet, model or discount.
- `ingest`, `rules`, `sheets`: the Ingest page's log and attribution rules, a sheet's version marker.
"""
