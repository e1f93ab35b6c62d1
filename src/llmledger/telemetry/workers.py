"""Decode worker processes (file ingest and the receiver's loader) and scheduling priority."""

from __future__ import annotations

import os
import threading
import time


def worker_pool(workers: int, nice: int = 0):
    """Processes that decode and map (ingest, the receiver's loader). Spawned, not forked: the
    creating process has DuckDB's threads running. Each runs `nice` levels below this process
    and exits if this process dies."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=worker_init, initargs=(os.getpid(), nice)
    )


def lower_priority(thread_id: int, nice: int, base_pid: int | None = None) -> None:
    """One thread (0: the caller; Linux keeps niceness per thread) `nice` levels below the process
    `base_pid` (default this one: its main thread's niceness), so decoding and loading yield the
    CPU to the receiver's threads by the same margin however the server was started: under
    `nice -n -10`, an absolute 10 put the loader 20 levels (about 90x in CPU weight) below them."""
    try:
        base = os.getpriority(os.PRIO_PROCESS, base_pid or os.getpid())
        target = min(19, base + nice)
        os.setpriority(os.PRIO_PROCESS, thread_id, max(os.getpriority(os.PRIO_PROCESS, thread_id), target))
    except (OSError, AttributeError):  # not permitted, no such process, or no such call here
        pass


def worker_init(parent: int, nice: int = 0) -> None:
    """Initializer of decode worker processes (`parent`: the creating process's pid, passed
    along because it may be gone before this runs). A worker whose parent was killed (kill -9,
    OOM) would block forever handing its result to nobody; it exits instead."""
    if nice:
        lower_priority(0, nice, base_pid=parent)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
