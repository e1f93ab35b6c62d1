"""Background threads that touch DuckDB, wound down before the interpreter finalises.

A daemon thread still inside DuckDB's C++ code when Python finalises is ended as it takes the GIL
back (glibc's forced unwind through `pthread_exit`). The unwind meets a `catch (...)` in the
bindings and the whole process aborts with "FATAL: exception not rethrown", after its work is done
but with a failing exit status. `make test` went red that way once (every test had passed).

So every thread that may run a query registers here: one-shot work with `spawn`, loops with
`register(thread, stop)`. At exit (and from the test session's end) `shutdown()` asks the loops to
stop and waits, within a deadline, for all of them. Nothing here imports the rest of the package.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import Callable, NoReturn

log = logging.getLogger(__name__)

SHUTDOWN_S = 20.0  # the longest an exit waits for background work (a query in flight)

_lock = threading.Lock()
_threads: dict[threading.Thread, Callable[[], None] | None] = {}
_atexit_registered = False
_quiet_exit = False


def _ensure_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(shutdown)
        _atexit_registered = True


def register(thread: threading.Thread, stop: Callable[[], None] | None = None) -> threading.Thread:
    """Track `thread` (started or not). `stop` asks a loop to end; one-shot work needs none."""
    with _lock:
        _ensure_atexit()
        for t in [t for t in _threads if not t.is_alive() and t.ident is not None]:
            del _threads[t]  # finished: forget it
        _threads[thread] = stop
    return thread


def spawn(target: Callable[[], None], name: str) -> threading.Thread:
    """Run `target` once on a tracked daemon thread."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    register(thread)
    thread.start()
    return thread


def alive() -> list[str]:
    """Names of the tracked threads still running."""
    with _lock:
        return sorted(t.name for t in _threads if t.is_alive())


def shutdown(timeout: float = SHUTDOWN_S) -> list[str]:
    """Stop the loops, wait for everything tracked; return the names still running after `timeout`."""
    with _lock:
        items = list(_threads.items())
    for thread, stop in items:
        if stop is not None and thread.is_alive():
            try:
                stop()
            except Exception:  # noqa: BLE001 - one stop failing must not keep the others running
                log.warning("stopping %s failed", thread.name, exc_info=True)
    deadline = time.monotonic() + timeout
    for thread, _ in items:
        if thread is threading.current_thread() or thread.ident is None:
            continue
        thread.join(max(deadline - time.monotonic(), 0.0))
    left = [t.name for t, _ in items if t.is_alive()]
    if left:
        log.warning("background threads still running at exit: %s", ", ".join(left))
    return left


def want_quiet_exit() -> None:
    """A server (`serve-otlp`, the dashboard) asks to end through `exit_quietly`."""
    global _quiet_exit
    _quiet_exit = True


def quiet_exit_wanted() -> bool:
    return _quiet_exit


def exit_quietly(code: int) -> NoReturn:
    """End the process without the interpreter's final sweep. The exit handlers run first (this
    module's shutdown: the receiver, loader and evaluator stop and the ledger's writes finish; any
    weakref.finalize cleanup); the sweep itself would only make DuckDB's bindings (nanobind) list
    every object a server still holds, dozens of "nanobind: leaked ..." lines after each Ctrl-C."""
    import os
    import sys

    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
