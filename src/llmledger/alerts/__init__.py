"""Budgets, forecasts, monitors, alert events and their notifications (no Streamlit here).

- `budgets`: what a budget is, its validation and storage (`alert_rules`).
- `periods`: calendar periods in a time zone and rolling windows.
- `reads`: the grouped spend queries budgets are evaluated with (actual cost, active sheet).
- `evaluate`: budget status at a moment, and the crossings it records as events (the outbox).
- `events`: listing, acknowledging, snoozing and resolving events.
- `notify`: delivering events through apprise, retried with backoff, every attempt logged.
- `runner`: the background evaluator the dashboard and `serve-otlp` poke after each load.
- `forecast`: period-end forecasts (its own module).
"""
