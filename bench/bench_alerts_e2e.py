"""From the acknowledgement of the span that crosses a budget threshold to the webhook receiving
the alert, at 20,000 spans/s.

    .venv/bin/python -m bench.bench_alerts_e2e [--senders 4] [--rate 20000] [--seconds 30]

`serve-otlp` runs in its own process with its budget evaluator (alerts/cli.py's SERVE_HOOKS hook:
incremental checks after loads). Several sender processes post 512-span protobuf batches of
realistic GenAI traces (bench_receiver's templates, every trace id unique to its sender and
request) on a fixed schedule, and record when each request was acknowledged. One budget on the
day's spend has thresholds every 5% of an amount sized to what the run will spend, and notifies a
local HTTP server through apprise's json:// URL, which records when each post arrives.

Afterwards the ledger tells each request's spend (trace ids carry the sender and request number);
in acknowledgement order, the request that brings the cumulative spend to a threshold holds the
crossing span. Latency = webhook arrival - that request's acknowledgement.

Writes bench/results/bench_alerts_e2e.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.bench_receiver import BATCH, _Connection, _env, _free_port, _pct, _templates, _unique

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "bench_alerts_e2e.json"
THRESHOLDS = list(range(5, 101, 5))


def sender_main(args) -> None:
    """One sender: posts on schedule; prints {"acks": [[k, wall time of the 200], ...], ...}."""
    templates = [_now(t) for t in _templates(seed=100 + args.sender)]
    conn = _Connection("127.0.0.1", args.port, timeout=30)
    headers = {"Content-Type": "application/x-protobuf"}
    interval = BATCH / args.rate
    bodies = [_unique(templates[k % len(templates)], args.sender, k) for k in range(args.requests)]
    while time.time() < args.start_at:
        time.sleep(0.001)
    t_start = time.perf_counter()
    acks, errors = [], 0
    for k, body in enumerate(bodies):
        due = t_start + (k + args.sender / args.senders) * interval
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        try:
            conn.request("POST", "/v1/traces", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                acks.append([k, time.time()])
            else:
                errors += 1
        except OSError:
            errors += 1
            conn.close()
            conn = _Connection("127.0.0.1", args.port, timeout=30)
    print(json.dumps({"acks": acks, "errors": errors, "elapsed": time.perf_counter() - t_start}))


def _now(template):
    """Every trace of the template moved to end a second ago (the templates spread their traces
    over 30 days; the budget is on today's spend)."""
    spans = [sp for rs in template.resource_spans for ss in rs.scope_spans for sp in ss.spans]
    ends: dict[bytes, int] = {}
    for sp in spans:
        ends[sp.trace_id] = max(ends.get(sp.trace_id, 0), sp.end_time_unix_nano)
    now = time.time_ns() - 1_000_000_000
    for sp in spans:
        shift = now - ends[sp.trace_id]
        sp.start_time_unix_nano += shift
        sp.end_time_unix_nano += shift
    return template


class Hook:
    """json:// receiver: (arrival wall time, title) of every post."""

    def __init__(self):
        self.posts: list[tuple[float, str]] = []
        box = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                box.append((time.time(), json.loads(body or b"{}").get("title", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def request_costs(db: Path) -> dict[tuple[int, int], float]:
    """Actual spend of every request (sender, k), from the trace ids' first 8 bytes."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT substr(trace_id, 1, 4), substr(trace_id, 5, 12), sum(actual_cost_usd)::DOUBLE "
            "FROM llm_calls GROUP BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    return {(int(s, 16), int(k, 16)): c or 0.0 for s, k, c in rows}


def stages(db: Path) -> tuple[dict[tuple[int, int], float], dict[int, float]]:
    """When each request's spans were committed (ingest_log.loaded_at of its batch), and when
    each threshold's event was committed (alert_events.fired_at), as epoch seconds."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT substr(s.trace_id, 1, 4), substr(s.trace_id, 5, 12), max(epoch(l.loaded_at)) "
            "FROM spans s JOIN ingest_log l USING (batch_id) GROUP BY 1, 2"
        ).fetchall()
        events = con.execute("SELECT threshold, epoch(fired_at) FROM alert_events").fetchall()
    finally:
        con.close()
    loaded = {(int(a, 16), int(b, 16)): t for a, b, t in rows}
    fired = {int(float(th.split(":")[1])): t for th, t in events if th.startswith("actual:")}
    return loaded, fired


def template_spend(senders: int, requests: int) -> float:
    """What the run will spend: every sender's requests, priced through the real ingest."""
    from llmledger.store.db import connect
    from llmledger.telemetry.ingest import ingest_blobs

    with tempfile.TemporaryDirectory() as tmp:
        con = connect(Path(tmp) / "probe.duckdb")
        total = 0.0
        for s in range(senders):
            t = _templates(seed=100 + s)
            ingest_blobs(con, [(f"t{s}_{i}.pb", _unique(x, s, i)) for i, x in enumerate(t)], "bench")
            per = dict(
                con.execute(
                    "SELECT substr(trace_id, 5, 12), sum(actual_cost_usd)::DOUBLE FROM llm_calls "
                    "WHERE substr(trace_id, 1, 4) = ? GROUP BY 1",
                    [f"{s:04x}"],
                ).fetchall()
            )
            costs = [per.get(f"{i:012x}", 0.0) or 0.0 for i in range(len(t))]
            total += sum(costs[k % len(t)] for k in range(requests))
        con.close()
    return total


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--rate", type=float, default=20_000, help="spans/s offered by all senders together")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--sender", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--requests", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sender is not None:
        args.rate = args.rate / args.senders
        sender_main(args)
        return {}

    requests = int(args.rate / args.senders * args.seconds / BATCH)
    spend = template_spend(args.senders, requests)
    hook = Hook()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "e2e.duckdb"
        from llmledger.alerts import budgets
        from llmledger.store.db import connect

        con = connect(db)
        budgets.save(
            con,
            budgets.Budget.build("e2e-day", round(spend, 6), "day", thresholds=THRESHOLDS, notify=[hook.url], tz="UTC"),
        )
        con.close()
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "llmledger", "serve-otlp", "--port", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_env(LLMLEDGER_DB=db),
        )
        assert "OTLP receiver on" in server.stdout.readline()
        start_at = time.time() + 6 + requests * 0.004
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.bench_alerts_e2e",
                    *("--sender", str(i), "--senders", str(args.senders), "--port", str(port)),
                    *("--rate", str(args.rate), "--requests", str(requests), "--start-at", str(start_at)),
                ],
                stdout=subprocess.PIPE,
                text=True,
                env=_env(),
            )
            for i in range(args.senders)
        ]
        outs = [json.loads(p.communicate(timeout=args.seconds + 600)[0]) for p in procs]
        deadline = time.time() + 120  # the last thresholds' alerts are still on their way
        while time.time() < deadline and len(hook.posts) < len(THRESHOLDS):
            time.sleep(0.2)
        time.sleep(1)
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=600)
        costs = request_costs(db)
        loaded, fired = stages(db)
    hook.server.shutdown()

    acks = sorted((t, s, k) for s, o in enumerate(outs) for k, t in o["acks"])
    budget = round(spend, 6)
    crossing: dict[int, float] = {}
    crossing_loaded: dict[int, float] = {}
    cum, todo = 0.0, list(THRESHOLDS)
    for t, s, k in acks:
        cum += costs.get((s, k), 0.0)
        while todo and cum >= budget * todo[0] / 100 - 1e-9:
            crossing_loaded[todo[0]] = loaded.get((s, k), float("nan"))
            crossing[todo.pop(0)] = t
    arrived: dict[int, float] = {}
    for t, title in hook.posts:
        m = re.search(r"passed (\d+(?:\.\d+)?)%", title)
        if m:
            arrived.setdefault(int(float(m[1])), t)
    latency = {p: arrived[p] - crossing[p] for p in THRESHOLDS if p in arrived and p in crossing}
    values = sorted(latency.values())
    # Where the time goes: acknowledged -> committed by the loader -> event committed -> webhook.
    split = {
        "ack_to_loaded": [crossing_loaded[p] - crossing[p] for p in latency],
        "loaded_to_fired": [fired[p] - crossing_loaded[p] for p in latency if p in fired],
        "fired_to_webhook": [arrived[p] - fired[p] for p in latency if p in fired],
    }
    elapsed = max(o["elapsed"] for o in outs)
    out = {
        "senders": args.senders,
        "offered_spans_per_s": args.rate,
        "acked_spans_per_s": round(len(acks) * BATCH / elapsed),
        "requests": len(acks),
        "errors": sum(o["errors"] for o in outs),
        "budget_usd": budget,
        "thresholds_crossed": len(crossing),
        "alerts_received": len(arrived),
        "posts_received": len(hook.posts),
        "latency_s": {str(p): round(v, 3) for p, v in sorted(latency.items())},
        "latency_p50_s": round(_pct(values, 0.5), 3) if values else None,
        "latency_max_s": round(max(values), 3) if values else None,
        "stages_p50_s": {k: round(_pct(sorted(v), 0.5), 3) if v else None for k, v in split.items()},
        "stages_max_s": {k: round(max(v), 3) if v else None for k, v in split.items()},
        "target_s": 5.0,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "latency_s"}, indent=2))
    print(f"wrote {RESULTS}")
    return out


if __name__ == "__main__":
    main()
