"""Prometheus exposition (`GET /metrics`): spend, tokens and calls, budgets, receiver health.

A prometheus_client custom collector reads DuckDB through its own cursor, on a thread of its own:
a scrape never waits for a read. It answers with the last figures read and their age
(`llmledger_metrics_part_age_seconds`), and when those are older than their TTL it starts a new
read for the next scrape. The first read starts when the collector is attached (the receiver's
start), so the first scrape after start is fast too; until that read is done the ledger and budget
families are absent and `llmledger_metrics_part_ready` is 0:

- `llmledger_spend_usd_total`, `llmledger_calls_total`, `llmledger_unpriced_calls_total`,
  `llmledger_tokens_total{direction="input"|"output"}` by feature, team, model and provider.
  Spend is actual cost (pricing.engine.ACTUAL_COST_RULE) under the active sheet, read from the
  sheet's memo of the priced calls, the rows `llm_calls` returns (reads/spend_cache.py), as on
  the Spend page and in budgets. They are counters over the whole ledger; changing the active
  sheet or removing demo data lowers them, which Prometheus reads as a counter reset.
- per budget (and member of an "each" budget, the closest TOP_MEMBERS to their limit): amount,
  spend so far in the current period, utilisation (spent / amount), the period-end forecast
  P10/P50/P90 and forecast utilisation (P50 / amount), through alerts.evaluate.status.
- the receiver and loader (Service.stats()) and the budget evaluator (AlertRunner.stats()).

`attach(service, con, runner)` serves it on the OTLP receiver's port through the receiver's
generic `extra_routes` (telemetry imports nothing from here).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from llmledger.store import background

log = logging.getLogger(__name__)

PATH = "/metrics"
#: Seconds a scrape reuses the ledger sums it read (spend, tokens, calls).
LEDGER_TTL_S = 10.0
#: Seconds budget figures are reused: a status prices every budget's period and forecasts it.
BUDGETS_TTL_S = 30.0
DIMS = ("feature", "team", "model", "provider")

LEDGER_SQL = """
SELECT coalesce(feature, '') AS feature, coalesce(team, '') AS team,
       coalesce(request_model, response_model, '') AS model, coalesce(provider, '') AS provider,
       count(*) AS calls,
       coalesce(sum(actual_cost_usd), 0)::DOUBLE AS usd,
       count_if(cost_basis = 'unpriced') AS unpriced,
       coalesce(sum(input_tokens), 0)::HUGEINT AS input_tokens,
       coalesce(sum(output_tokens), 0)::HUGEINT AS output_tokens
FROM {table}
GROUP BY ALL
ORDER BY ALL
"""

#: Service.stats() key -> (metric name, help, counter?)
RECEIVER_STATS = {
    "requests": ("llmledger_receiver_requests", "OTLP requests received", True),
    "accepted_spans": ("llmledger_receiver_accepted_spans", "Spans accepted (spooled) by the receiver", True),
    "rejected_spans": ("llmledger_receiver_rejected_spans", "Spans rejected by the receiver", True),
    "loaded_spans": ("llmledger_loader_loaded_spans", "Spans committed to DuckDB by the loader", True),
    "quarantined_batches": ("llmledger_loader_quarantined_batches", "Batches quarantined by the loader", True),
    "load_failures": ("llmledger_loader_load_failures", "Failed load attempts (retried or quarantined)", True),
    "loader_restarts": ("llmledger_loader_restarts", "Unforeseen loader errors caught and restarted", True),
    "pending_batches": ("llmledger_loader_pending_batches", "Accepted batches not yet committed", False),
    "spool_bytes": ("llmledger_spool_bytes", "Bytes in the spool", False),
    "spool_max_bytes": ("llmledger_spool_max_bytes", "Spool capacity in bytes", False),
    "quarantine_waiting": ("llmledger_quarantine_waiting_batches", "Quarantined batch files waiting", False),
    "open_connections": ("llmledger_receiver_open_connections", "Open receiver connections", False),
    "inflight_bytes": ("llmledger_receiver_inflight_bytes", "Bytes held by requests in flight", False),
    "spans_per_s": ("llmledger_receiver_spans_per_second", "Spans accepted per second (last 10 s)", False),
}


class _Cached:
    """The last value computed, recomputed on a background thread once it is older than `ttl_s`
    (one computation at a time). `get()` never waits: it returns the last value (None before the
    first one is done) and starts a computation when the value is stale."""

    def __init__(self, ttl_s: float, compute: Callable[[], Any], clock: Callable[[], float] = time.monotonic):
        self.ttl_s, self.compute, self.clock = ttl_s, compute, clock
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._running = False
        self._at: float | None = None
        self._value: Any = None
        self.seconds = 0.0
        self.error: str | None = None

    def get(self) -> Any:
        with self._lock:
            if self._at is None or self.clock() - self._at >= self.ttl_s:
                self._start()
            return self._value

    def age(self) -> float | None:
        """Seconds since the value was computed (None: not yet)."""
        return None if self._at is None else max(self.clock() - self._at, 0.0)

    def refresh(self, wait: float | None = None) -> bool:
        """Start a computation (unless one runs); with `wait`, until it is done. True when done."""
        with self._lock:
            self._start()
        return self._done.wait(wait) if wait is not None else True

    def _start(self) -> None:  # under self._lock
        if self._running:
            return
        self._running = True
        self._done.clear()
        background.spawn(self._run, "llmledger-metrics")

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            value, error = self.compute(), None
        except Exception as exc:  # noqa: BLE001 - a scrape reports the failure, never raises
            log.warning("metrics: %s", exc, exc_info=True)
            value, error = None, f"{type(exc).__name__}: {exc}"
        with self._lock:
            if error is None or self._value is None:
                self._value = value
            self.error = error
            self.seconds = time.perf_counter() - t0
            self._at = self.clock()
            self._running = False
            self._done.set()


class LedgerCollector(Collector):
    """Everything `/metrics` exposes. `service` and `runner` are optional (anything with stats())."""

    def __init__(
        self,
        con,
        service=None,
        runner=None,
        ledger_ttl_s: float = LEDGER_TTL_S,
        budgets_ttl_s: float = BUDGETS_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.con, self.service, self.runner = con, service, runner
        self.warm_timer: threading.Timer | None = None  # attach(warm_after_s=...): the deferred first read
        # One read at a time (the first ones may both import the default sheet into a new ledger).
        self._reading = threading.Lock()
        self._ledger = _Cached(ledger_ttl_s, self._one_at_a_time(self._read_ledger), clock)
        self._budgets = _Cached(budgets_ttl_s, self._one_at_a_time(self._read_budgets), clock)

    def _one_at_a_time(self, read: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with self._reading:
                return read()

        return run

    def warm(self, wait: float | None = None) -> bool:
        """Read the ledger and budget figures now (in the background; with `wait`, until done)."""
        ok = self._ledger.refresh(wait)
        return self._budgets.refresh(wait) and ok

    # ------------------------------------------------------------ reads
    def _read_ledger(self) -> list[tuple]:
        from llmledger.alerts import reads

        table = reads.source(self.con)  # the active sheet's memo, brought up to date
        cur = self.con.cursor()
        try:
            return cur.execute(LEDGER_SQL.format(table=table)).fetchall()
        finally:
            cur.close()

    def _read_budgets(self) -> list[dict[str, Any]]:
        from llmledger.alerts import evaluate

        rows = []
        for s in evaluate.status(self.con, forecasts="all"):
            b = s.budget
            for f in s.rows:
                rows.append(
                    {
                        "budget": b.name,
                        "member": f.member,
                        "unit": b.unit,
                        "period": b.period,
                        "amount": f.amount,
                        "spent": f.spent,
                        "p10": f.p10,
                        "p50": f.p50,
                        "p90": f.p90,
                        "method": f.method,
                        "state": s.state(f),
                    }
                )
        return rows

    # ------------------------------------------------------------ exposition
    def collect(self) -> Iterable:
        yield from self._ledger_families()
        yield from self._budget_families()
        yield from self._service_families()
        up = GaugeMetricFamily(
            "llmledger_metrics_part_up", "1 if this part of /metrics was read, 0 if it failed", labels=["part"]
        )
        took = GaugeMetricFamily(
            "llmledger_metrics_part_seconds", "Seconds the last read of this part took", labels=["part"]
        )
        ready = GaugeMetricFamily(
            "llmledger_metrics_part_ready", "1 once this part has been read since start", labels=["part"]
        )
        age = GaugeMetricFamily(
            "llmledger_metrics_part_age_seconds", "Age of the figures this scrape shows", labels=["part"]
        )
        for part, cached in (("ledger", self._ledger), ("budgets", self._budgets)):
            up.add_metric([part], 0.0 if cached.error else 1.0)
            took.add_metric([part], cached.seconds)
            ready.add_metric([part], 0.0 if cached.age() is None else 1.0)
            if cached.age() is not None:
                age.add_metric([part], cached.age())
        yield from (up, took, ready, age)

    def _ledger_families(self):
        rows = self._ledger.get()
        if rows is None:
            return
        labels = list(DIMS)
        spend = CounterMetricFamily(
            "llmledger_spend_usd", "Actual cost in USD (active sheet; unpriced calls add nothing)", labels=labels
        )
        calls = CounterMetricFamily("llmledger_calls", "LLM calls", labels=labels)
        unpriced = CounterMetricFamily(
            "llmledger_unpriced_calls", "Calls with neither a price nor a reported cost", labels=labels
        )
        tokens = CounterMetricFamily(
            "llmledger_tokens", "Tokens (input includes cache reads and writes)", labels=labels + ["direction"]
        )
        for feature, team, model, provider, n, usd, n_unpriced, tin, tout in rows:
            key = [str(feature), str(team), str(model), str(provider)]
            spend.add_metric(key, float(usd))
            calls.add_metric(key, float(n))
            unpriced.add_metric(key, float(n_unpriced))
            tokens.add_metric(key + ["input"], float(tin))
            tokens.add_metric(key + ["output"], float(tout))
        yield from (spend, calls, unpriced, tokens)

    def _budget_families(self):
        rows = self._budgets.get()
        if rows is None:
            return
        base = ["budget", "member", "unit", "period"]
        amount = GaugeMetricFamily("llmledger_budget_amount", "Budget amount (USD or tokens, see unit)", labels=base)
        spent = GaugeMetricFamily("llmledger_budget_spent", "Spent so far in the current period", labels=base)
        util = GaugeMetricFamily("llmledger_budget_utilisation_ratio", "Spent so far / amount", labels=base)
        fcast = GaugeMetricFamily(
            "llmledger_budget_forecast", "Forecast total at the period end", labels=base + ["quantile", "method"]
        )
        futil = GaugeMetricFamily(
            "llmledger_budget_forecast_utilisation_ratio", "P50 forecast at period end / amount", labels=base
        )
        over = GaugeMetricFamily("llmledger_budget_state", "1 for the budget's current state", labels=base + ["state"])
        for r in rows:
            key = [r["budget"], r["member"], r["unit"], r["period"]]
            amount.add_metric(key, r["amount"])
            spent.add_metric(key, r["spent"])
            if r["amount"]:
                util.add_metric(key, r["spent"] / r["amount"])
            for q, name in (("0.1", "p10"), ("0.5", "p50"), ("0.9", "p90")):
                if r[name] is not None:
                    fcast.add_metric(key + [q, r["method"]], float(r[name]))
            if r["p50"] is not None and r["amount"]:
                futil.add_metric(key, float(r["p50"]) / r["amount"])
            over.add_metric(key + [r["state"]], 1.0)
        yield from (amount, spent, util, fcast, futil, over)

    def _service_families(self):
        stats = _stats(self.service)
        if stats:
            running = GaugeMetricFamily("llmledger_receiver_running", "1 if the receiver service runs")
            running.add_metric([], 1.0 if stats.get("running") else 0.0)
            yield running
            alive = GaugeMetricFamily("llmledger_loader_alive", "1 if the loader thread is alive")
            alive.add_metric([], 1.0 if stats.get("loader_alive") else 0.0)
            yield alive
            for key, (name, doc, counter) in RECEIVER_STATS.items():
                if isinstance(stats.get(key), (int, float)):
                    fam = (CounterMetricFamily if counter else GaugeMetricFamily)(name, doc)
                    fam.add_metric([], float(stats[key]))
                    yield fam
            errors = CounterMetricFamily(
                "llmledger_receiver_errors", "Requests answered with an error, by HTTP status", labels=["status"]
            )
            for status, n in sorted((stats.get("errors_by_status") or {}).items()):
                errors.add_metric([str(status)], float(n))
            yield errors
            if stats.get("last_loaded_at"):
                last = GaugeMetricFamily(
                    "llmledger_loader_last_load_timestamp_seconds", "When the loader last committed"
                )
                last.add_metric([], float(stats["last_loaded_at"]))
                yield last
        rstats = _stats(self.runner)
        if rstats:
            checks = CounterMetricFamily("llmledger_alert_checks", "Budget checks run by the evaluator")
            checks.add_metric([], float(rstats.get("checks") or 0))
            events = CounterMetricFamily("llmledger_alert_events", "Alert events the evaluator created")
            events.add_metric([], float(rstats.get("new_events") or 0))
            failing = GaugeMetricFamily("llmledger_alert_check_failing", "1 if the last budget check failed")
            failing.add_metric([], 1.0 if rstats.get("last_error") else 0.0)
            yield from (checks, events, failing)


def _stats(obj) -> dict:
    if obj is None or not hasattr(obj, "stats"):
        return {}
    try:
        return obj.stats() or {}
    except Exception:  # noqa: BLE001 - a stopped service must not fail the scrape
        log.debug("stats() failed", exc_info=True)
        return {}


def registry_for(collector: LedgerCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def route(registry: CollectorRegistry) -> Callable[[], tuple[int, str, bytes]]:
    """A receiver extra route answering with the registry's text exposition."""
    return lambda: (200, CONTENT_TYPE_LATEST, generate_latest(registry))


def attach(service, con, runner=None, warm_after_s: float = 0.0, **ttl) -> LedgerCollector:
    """Serve `/metrics` on `service`'s receiver port. Call before service.start(): the route goes
    into the receiver's `extra_routes` (telemetry keeps the dict by reference). The collector is
    returned so that a runner started later can be set as its `runner`. The figures are read in
    the background right away, or after `warm_after_s` (the dashboard's first page comes first:
    on a new ledger that read imports the default price sheet); a scrape before then starts it."""
    collector = LedgerCollector(con, service, runner, **ttl)
    service.limits.setdefault("extra_routes", {})[PATH] = route(registry_for(collector))
    if warm_after_s > 0:
        timer = threading.Timer(warm_after_s, collector.warm)
        timer.daemon = True
        timer.name = "llmledger-metrics-warm"
        background.register(timer, timer.cancel)
        collector.warm_timer = timer
        timer.start()
    else:
        collector.warm()  # the first scrape after start then finds figures already read
    return collector


def serve_hook(service, con):
    """serve-otlp (telemetry.cli.SERVE_HOOKS): /metrics on the receiver's port."""
    attach(service, con)
    return None
