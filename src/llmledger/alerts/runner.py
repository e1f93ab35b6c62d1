"""The background evaluator: checks budgets after loads and on a timer, and delivers the outbox.

`AlertRunner(con).start()` runs one daemon thread. The receiver's loader calls `poke()` after
each committed load (`service.on_loaded.append(runner.poke)`): poke only sets a flag, so it never
slows the loader, and the receiver's request threads never evaluate anything. The thread waits
`debounce_s` after the first poke (a burst of loads becomes one check), checks at most every
`min_interval_s` (0.2 s and 1 s: checking every 0.5 s measured no faster end to end, its
checks competing with the loader in the same process), checks anyway every `interval_s` (period roll-overs, forecasts moving with the
clock) and wakes when a failed delivery is due for a retry. A check after loads is incremental
(running.py: only the calls of those loads are read, a full scan when that could differ); the
timer's check and the first one scan fully. A failing check or destination is logged and kept
in `stats()`; it never stops the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from llmledger.alerts import notify
from llmledger.store import background

log = logging.getLogger(__name__)


class AlertRunner:
    def __init__(
        self,
        con,
        interval_s: float = 60.0,
        debounce_s: float = 0.2,
        min_interval_s: float = 1.0,
        base_backoff_s: float = notify.BACKOFF_S,
        check_on_start: bool = True,
        explain_quiet_s: float = 1.0,
        explain_max_wait_s: float = 15.0,
        start_delay_s: float = 0.0,
    ):
        """`start_delay_s`: the first check waits that long (the dashboard draws its first page
        before the evaluator's full scan and forecasts compete with it for the CPU); a poke from a
        load in that time is checked once the delay is over."""
        self.con = con
        self.interval_s = interval_s
        self.debounce_s = debounce_s
        self.min_interval_s = min_interval_s
        self.base_backoff_s = base_backoff_s
        self.check_on_start = check_on_start
        self.explain_quiet_s = explain_quiet_s
        self.explain_max_wait_s = explain_max_wait_s
        self.start_delay_s = start_delay_s
        self._last_poke = 0.0
        self._wake = threading.Event()
        self._poked = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._busy = False
        self.checks = 0
        self.new_events = 0
        self.last_check_at: datetime | None = None
        self.last_seconds: float | None = None
        self.last_error: str | None = None
        self.deliveries = {"delivered": 0, "failed": 0, "retrying": 0}
        self.modes = {"full": 0, "incremental": 0}
        self.last_mode: str | None = None
        self.explained = 0
        self._explaining = False
        self._explain_again = False
        self._explaining_lock = threading.Lock()

    # ------------------------------------------------------------ lifecycle
    def start(self) -> "AlertRunner":
        if self._thread is None:
            self._poked = self.check_on_start
            if self.check_on_start:
                self._wake.set()
            self._thread = threading.Thread(target=self._loop, name="llmledger-alerts", daemon=True)
            background.register(self._thread, self.stop)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def poke(self) -> None:
        """New data landed: check soon (cheap; safe to call from the loader thread)."""
        self._poked = True
        self._last_poke = time.monotonic()
        self._wake.set()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until no check is pending or running and no explanation is being computed (tests,
        benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy or self._poked or self._explaining:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    # ------------------------------------------------------------ loop
    def _loop(self) -> None:
        last = 0.0
        if self.start_delay_s > 0:
            self._stop.wait(self.start_delay_s)
        while not self._stop.is_set():
            timeout = self.interval_s
            due = self._next_delivery_in()
            if due is not None:
                timeout = min(timeout, max(due, 0.05))
            woke = self._wake.wait(timeout)
            if self._stop.is_set():
                break
            after_load = woke and self._poked and self.checks > 0
            if woke and self._poked:
                time.sleep(self.debounce_s)  # let a burst of loads finish
                wait = self.min_interval_s - (time.monotonic() - last)
                if wait > 0:
                    time.sleep(wait)
            self._wake.clear()
            with self._idle:
                self._busy = True
                self._poked = False
            try:
                self._check(incremental=after_load)
            finally:
                last = time.monotonic()
                with self._idle:
                    self._busy = False
                    self._idle.notify_all()

    def _check(self, incremental: bool = False) -> None:
        from llmledger.alerts import evaluate

        t0 = time.perf_counter()
        try:
            out = evaluate.check(
                self.con, datetime.now(UTC), base_backoff=self.base_backoff_s, incremental=incremental, explain=False
            )
        except Exception as exc:  # noqa: BLE001 - an evaluation bug must not stop the next check
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("budget check failed")
            return
        self.checks += 1
        self.last_mode = out.get("mode")
        self.modes[self.last_mode] = self.modes.get(self.last_mode, 0) + 1
        self.new_events += len(out["new_events"])
        for k, v in out["deliveries"].items():
            self.deliveries[k] = self.deliveries.get(k, 0) + v
        self.last_check_at = datetime.now(UTC)
        self.last_seconds = time.perf_counter() - t0
        self.last_error = None
        from llmledger.alerts import record

        if out["new_events"] or record._maybe_pending:  # a crash may have left some: the first check looks
            self._explain_later()

    def _explain_later(self) -> None:
        """Explain new events (and any a crash left pending) on a thread of their own: the memo
        refresh and scans they need must not delay the next check. One at a time; a request made
        while one runs makes it look again when it ends. While loads keep arriving it waits for
        `explain_quiet_s` without one, at most `explain_max_wait_s`: bringing the memo up to date
        costs about a second of CPU after a load, which the loader needs more (the alert itself
        has been delivered; its explanation follows)."""
        with self._explaining_lock:
            if self._explaining:
                self._explain_again = True
                return
            self._explaining = True

        def run() -> None:
            from llmledger.alerts import record

            asked = time.monotonic()
            while not self._stop.is_set():
                now = time.monotonic()
                if now - self._last_poke >= self.explain_quiet_s or now - asked >= self.explain_max_wait_s:
                    break
                self._stop.wait(0.1)
            while True:
                try:
                    self.explained += record.explain_pending(self.con, [])
                except Exception:  # noqa: BLE001 - the events stand; the next check tries again
                    log.exception("explaining alerts failed")
                with self._explaining_lock:
                    if not self._explain_again or self._stop.is_set():
                        self._explaining = False
                        return
                    self._explain_again = False

        background.spawn(run, "llmledger-alert-explain")

    def _next_delivery_in(self) -> float | None:
        try:
            due = notify.next_due(self.con)
        except Exception:  # noqa: BLE001 - a closed connection at shutdown
            return None
        if due is None:
            return None
        return (due - datetime.now(UTC)).total_seconds()

    def stats(self) -> dict[str, Any]:
        return {
            "running": bool(self._thread and self._thread.is_alive()),
            "checks": self.checks,
            "new_events": self.new_events,
            "last_check_at": self.last_check_at,
            "last_seconds": self.last_seconds,
            "last_mode": self.last_mode,
            "modes": dict(self.modes),
            "last_error": self.last_error,
            "deliveries": dict(self.deliveries),
            "explained": self.explained,
        }
