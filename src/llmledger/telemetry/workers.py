"""Decode worker processes (file ingest and the receiver's loader) and scheduling priority."""

from __future__ import annotations

import os
import threading
import time


def worker_pool(workers: int, nice: int = 0):
    """Processes that decode and map (ingest, the receiver's loader). Spawned, not forked: the
    creating process has DuckDB's threads running. Each runs at least at niceness `nice` and
    exits if this process dies."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=worker_init, initargs=(os.getpid(), nice)
    )


def lower_priority(thread_id: int, nice: int) -> None:
    """Niceness at least `nice` for one thread (0: the caller; Linux keeps niceness per thread),
    so decoding and loading yield the CPU to the receiver's threads."""
    try:
        os.setpriority(os.PRIO_PROCESS, thread_id, max(os.getpriority(os.PRIO_PROCESS, thread_id), nice))
    except (OSError, AttributeError):  # not permitted, or no such call on this platform
        pass


def worker_init(parent: int, nice: int = 0) -> None:
    """Initializer of decode worker processes (`parent`: the creating process's pid, passed
    along because it may be gone before this runs). A worker whose parent was killed (kill -9,
    OOM) would block forever handing its result to nobody; it exits instead."""
    if nice:
        lower_priority(0, nice)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
