"""The loader and its decode worker run a fixed number of levels below the server's own
niceness (telemetry/workers.py), however the server was started."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, os, threading
from llmledger.telemetry import workers

out = {}

def loader():
    workers.lower_priority(0, 10)
    out["thread"] = os.getpriority(os.PRIO_PROCESS, 0)

t = threading.Thread(target=loader)
t.start()
t.join()
out["main"] = os.getpriority(os.PRIO_PROCESS, 0)
pool = workers.worker_pool(1, 10)
out["worker"] = pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=60)
pool.shutdown()
print(json.dumps(out))
"""


@pytest.mark.parametrize("start_nice, loader, worker", [(0, 10, 10), (4, 14, 14), (12, 19, 19)])
def test_loader_and_worker_run_ten_levels_below_the_server(start_nice, loader, worker):
    cmd = ["nice", "-n", str(start_nice), sys.executable, "-c", PROBE]
    got = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout)
    assert got == {"main": start_nice, "thread": loader, "worker": worker}
