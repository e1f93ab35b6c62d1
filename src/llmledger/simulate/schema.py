"""What-if tables: saved scenarios (a policy or a lever applied to a feature's traffic, for the Plan page)."""

from __future__ import annotations

import duckdb


def w001_whatif_scenarios(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE whatif_scenarios (
            name VARCHAR PRIMARY KEY,
            saved_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            feature VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,               -- 'router' | 'cascade' | a lever ('prompt-cache', ...)
            policy VARCHAR NOT NULL,             -- the policy in words
            sheet VARCHAR NOT NULL,
            period_start TIMESTAMPTZ NOT NULL,
            period_end TIMESTAMPTZ NOT NULL,
            calls BIGINT NOT NULL,
            monthly_baseline_usd DECIMAL(18, 9) NOT NULL,
            monthly_policy_usd DECIMAL(18, 9) NOT NULL,
            monthly_saving_usd DECIMAL(18, 9) NOT NULL,
            monthly_saving_low_usd DECIMAL(18, 9) NOT NULL,
            monthly_saving_high_usd DECIMAL(18, 9) NOT NULL,
            body JSON NOT NULL                   -- the whole result (traffic.TrafficWhatIf.to_dict)
        )
        """
    )


def w002_lever_scenarios(con: duckdb.DuckDBPyConnection) -> None:
    """Levers (simulate/levers) are saved as scenarios too, and one may cover every feature: its
    feature is NULL (the Plan page applies it to every use case)."""
    con.execute("ALTER TABLE whatif_scenarios ALTER COLUMN feature DROP NOT NULL")


MIGRATIONS = [("w001_whatif_scenarios", w001_whatif_scenarios), ("w002_lever_scenarios", w002_lever_scenarios)]
