"""Tables of the local lab (applied by store/db.py after the core migrations)."""

from __future__ import annotations

import duckdb


def l001_local_tables(con: duckdb.DuckDBPyConnection) -> None:
    # One row per timed generation. `batch_id` groups the runs of one matrix (page or CLI).
    con.execute(
        """
        CREATE TABLE local_runs (
            run_id VARCHAR PRIMARY KEY,
            batch_id VARCHAR NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            model VARCHAR NOT NULL,
            variant VARCHAR NOT NULL,
            model_path VARCHAR,
            requantized_from VARCHAR,
            prompt_id VARCHAR,
            repeat INTEGER,
            n_threads INTEGER,
            n_ctx INTEGER,
            max_tokens INTEGER,
            input_tokens INTEGER,
            output_tokens INTEGER,
            load_s DOUBLE,
            peak_rss_mb DOUBLE,
            ttft_ms DOUBLE,
            prompt_tps DOUBLE,
            gen_tps DOUBLE,
            e2e_ms DOUBLE,
            perf_prompt_tps DOUBLE,
            perf_gen_tps DOUBLE,
            stop_reason VARCHAR,
            output_text VARCHAR,
            trace_id VARCHAR,
            span_id VARCHAR
        )
        """
    )
    con.execute(
        """
        CREATE TABLE local_quality (
            measured_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            model VARCHAR NOT NULL,
            variant VARCHAR NOT NULL,
            model_path VARCHAR,
            perplexity DOUBLE,
            nll DOUBLE,
            n_scored INTEGER,
            n_ctx INTEGER,
            text_sha256 VARCHAR
        )
        """
    )


MIGRATIONS = [("l001_local_tables", l001_local_tables)]
