"""Alert tables: rules (budgets), events (unique per crossing), the delivery outbox and its log.

An event is committed with one delivery row per destination in the same transaction; delivery
happens afterwards (notify.py). The unique key (rule_id, threshold, period_start, member) is what
makes one crossing fire once, whatever restarts or repeated checks happen.
"""

from __future__ import annotations

import duckdb


def a001_alert_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SEQUENCE alert_rule_id START 1")
    con.execute(
        """
        CREATE TABLE alert_rules (
            rule_id BIGINT PRIMARY KEY DEFAULT nextval('alert_rule_id'),
            name VARCHAR NOT NULL UNIQUE,
            kind VARCHAR NOT NULL,           -- 'budget' | 'monitor'
            body JSON NOT NULL,              -- the validated definition (budgets.Budget.to_dict)
            enabled BOOLEAN NOT NULL DEFAULT true,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    )
    con.execute("CREATE SEQUENCE alert_event_id START 1")
    con.execute(
        """
        CREATE TABLE alert_events (
            event_id BIGINT PRIMARY KEY DEFAULT nextval('alert_event_id'),
            rule_id BIGINT NOT NULL,
            rule_name VARCHAR NOT NULL,
            threshold VARCHAR NOT NULL,      -- 'actual:80' | 'forecast:100'
            period_start TIMESTAMPTZ NOT NULL,
            period_end TIMESTAMPTZ NOT NULL,
            member VARCHAR NOT NULL,         -- '' for the whole scope, else the "each" value
            severity VARCHAR NOT NULL,       -- info | warning | critical
            fired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            as_of TIMESTAMPTZ NOT NULL,      -- the moment evaluated (a backfill's --as-of)
            title VARCHAR NOT NULL,
            figures JSON NOT NULL,           -- spend, forecast, amount, unpriced calls at firing
            explanation JSON NOT NULL,       -- top contributors to the change vs the previous period
            state VARCHAR NOT NULL DEFAULT 'firing',  -- firing | acknowledged | snoozed | resolved
            state_by VARCHAR,
            state_note VARCHAR,
            state_at TIMESTAMPTZ,
            snoozed_until TIMESTAMPTZ,
            UNIQUE (rule_id, threshold, period_start, member)
        )
        """
    )
    con.execute("CREATE SEQUENCE alert_delivery_id START 1")
    con.execute(
        """
        CREATE TABLE alert_deliveries (
            delivery_id BIGINT PRIMARY KEY DEFAULT nextval('alert_delivery_id'),
            event_id BIGINT NOT NULL,
            url VARCHAR NOT NULL,
            status VARCHAR NOT NULL DEFAULT 'pending',  -- pending | delivered | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            last_error VARCHAR,
            delivered_at TIMESTAMPTZ,
            UNIQUE (event_id, url)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE alert_delivery_log (
            delivery_id BIGINT NOT NULL,     -- 0 for a "send test"
            event_id BIGINT NOT NULL,
            url VARCHAR NOT NULL,
            attempt INTEGER NOT NULL,
            attempted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            ok BOOLEAN NOT NULL,
            error VARCHAR,
            seconds DOUBLE
        )
        """
    )


def a002_running_totals(con: duckdb.DuckDBPyConnection) -> None:
    # Budget totals kept between checks (running.py): per rule, window start and member ('' for a
    # whole-scope budget), with the load watermark they count up to.
    con.execute(
        """
        CREATE TABLE alert_running (
            rule_id BIGINT NOT NULL,
            window_start TIMESTAMPTZ NOT NULL,
            member VARCHAR NOT NULL,
            usd DOUBLE NOT NULL,
            tokens BIGINT NOT NULL,
            calls BIGINT NOT NULL,
            unpriced BIGINT NOT NULL
        )
        """
    )
    con.execute(
        "CREATE TABLE alert_running_state (key VARCHAR PRIMARY KEY, body JSON NOT NULL, updated_at TIMESTAMPTZ NOT NULL)"
    )


def a003_monitor_scope(con: duckdb.DuckDBPyConnection) -> None:
    # Monitors gained a scope (the calls they watch, as budgets have): stored ones watch every call.
    con.execute(
        """
        UPDATE alert_rules SET body = json_merge_patch(body, '{"scope": {}}')
        WHERE kind = 'monitor' AND json_extract(body, '$.scope') IS NULL
        """
    )


MIGRATIONS = [
    ("a001_alert_tables", a001_alert_tables),
    ("a002_running_totals", a002_running_totals),
    ("a003_monitor_scope", a003_monitor_scope),
]
