"""Pricing tables, and the `llm_calls` view that prices calls at query time (see engine.py).

- `price_sheets`   one row per sheet: kind, source, base sheet, discount, genai-prices provider rules
- `price_versions` a sheet's versions, each with the date it takes effect; a call is priced by the
                   version in effect at its start_time
- `sheet_models`   per version and model: match rules, provider, context window, modalities
- `model_prices`   per version, model, service tier (standard/batch/flex/priority) and long-context
                   threshold: USD per 1M tokens as DECIMAL(18,9) (exact to 1e-15 USD per token),
                   plus a per-request fee in USD
- `price_resolution` model names seen in calls -> model_id per version (NULL = unknown), so pricing
                   a million calls is a join, not a million Python lookups
"""

from __future__ import annotations

import duckdb

PRICE = "DECIMAL(18, 9)"


def p001_price_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE price_sheets (
            sheet VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            source VARCHAR,
            base_sheet VARCHAR,
            discount_pct DECIMAL(9, 4),
            providers JSON,
            created_at TIMESTAMPTZ DEFAULT now()
        )
        """
    )
    con.execute("CREATE SEQUENCE price_version_seq START 1")
    con.execute(
        """
        CREATE TABLE price_versions (
            version_id BIGINT PRIMARY KEY DEFAULT nextval('price_version_seq'),
            sheet VARCHAR NOT NULL,
            effective_from TIMESTAMPTZ NOT NULL,
            source VARCHAR,
            imported_at TIMESTAMPTZ DEFAULT now(),
            UNIQUE (sheet, effective_from)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE sheet_models (
            version_id BIGINT NOT NULL,
            model_id VARCHAR NOT NULL,
            ordinal INTEGER NOT NULL,
            provider VARCHAR,
            match_regex VARCHAR,
            match_rule JSON,
            mode VARCHAR,
            context_window BIGINT,
            max_output_tokens BIGINT,
            input_modalities VARCHAR[],
            output_modalities VARCHAR[],
            deprecated BOOLEAN,
            PRIMARY KEY (version_id, model_id)
        )
        """
    )
    con.execute(
        f"""
        CREATE TABLE model_prices (
            version_id BIGINT NOT NULL,
            model_id VARCHAR NOT NULL,
            service_tier VARCHAR NOT NULL DEFAULT 'standard',
            above_input_tokens BIGINT NOT NULL DEFAULT 0,
            upto_input_tokens BIGINT,
            input_mtok {PRICE},
            output_mtok {PRICE},
            cache_read_mtok {PRICE},
            cache_write_mtok {PRICE},
            cache_write_1h_mtok {PRICE},
            reasoning_mtok {PRICE},
            request_usd {PRICE},
            PRIMARY KEY (version_id, model_id, service_tier, above_input_tokens)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE price_resolution (
            version_id BIGINT NOT NULL,
            request_model VARCHAR NOT NULL,
            response_model VARCHAR NOT NULL,
            provider VARCHAR NOT NULL,
            model_id VARCHAR,
            match_kind VARCHAR NOT NULL,
            matched_name VARCHAR,
            PRIMARY KEY (version_id, request_model, response_model, provider)
        )
        """
    )


def p002_priced_llm_calls_view(con: duckdb.DuckDBPyConnection) -> None:
    from llmledger.pricing.engine import create_llm_calls_view

    create_llm_calls_view(con)


def llm_calls_view(con: duckdb.DuckDBPyConnection, temporary: bool = False) -> None:
    from llmledger.pricing.engine import create_llm_calls_view

    create_llm_calls_view(con, temporary=temporary)


def _register_after_load() -> None:
    from llmledger.pricing.hooks import after_load
    from llmledger.telemetry import content, loader

    if after_load not in loader.AFTER_LOAD:
        loader.AFTER_LOAD.append(after_load)
    # The hash content policy stores a token count per message: telemetry counts through this.
    if _count_message_tokens not in content.TOKEN_COUNTERS:
        content.TOKEN_COUNTERS.append(_count_message_tokens)


def _count_message_tokens(text: str, model: str | None) -> int:
    from llmledger.tokens import count_text

    return count_text(text, model=model).tokens


_register_after_load()  # this module is imported by every connection (store/db.py)

MIGRATIONS = [
    ("p001_price_tables", p001_price_tables),
    ("p002_priced_llm_calls_view", p002_priced_llm_calls_view),
]
#: Views derived from this release's code: store/db.py re-creates them on every open (p002 made
#: the first one; a ledger keeps no view from the release that created it).
VIEWS = [llm_calls_view]
