"""`ingest` (import trace files) and `serve-otlp` (the receiver and loader, headless).

Exit codes of `ingest`: 0 when at least one span could be read, even if some files, lines or
spans were rejected (they are listed in the report, and under `reject_reasons` with --json);
1 with one line when a path does not exist, no importable file was found, or nothing at all could
be read. `serve-otlp` exits 0 after SIGTERM/SIGINT once everything accepted is loaded.
"""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

from llmledger.cli_common import add_common
from llmledger.errors import LedgerError


def register(sub) -> None:
    p = sub.add_parser("ingest", help="import OTLP trace and log files or folders (.json, .jsonl, .pb, optionally .gz)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (walked recursively)")
    add_common(p)
    p.set_defaults(func=run_ingest)

    s = sub.add_parser("serve-otlp", help="run the OTLP/HTTP and OTLP/gRPC receivers and loader until SIGTERM/SIGINT")
    s.add_argument("--db", help="DuckDB file (default: $LLMLEDGER_DB or data/ledger.duckdb)")
    s.add_argument("--host", help="address to bind (default: $LLMLEDGER_OTLP_HOST or 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default: $LLMLEDGER_OTLP_PORT or 4318; 0 picks a free one)")
    s.add_argument(
        "--grpc-port",
        type=int,
        help="OTLP/gRPC port (default: $LLMLEDGER_OTLP_GRPC_PORT or 4317; 0 picks a free one; -1 serves no gRPC)",
    )
    s.set_defaults(func=run_serve)

    q = sub.add_parser("quarantine", help="list, retry or drop spooled batches the loader could not load")
    q.add_argument("action", choices=("list", "retry", "drop"))
    q.add_argument("names", nargs="*", metavar="NAME", help="batch names as `quarantine list` shows them")
    q.add_argument("--all", action="store_true", help="every quarantined batch (retry, drop)")
    add_common(q)
    q.set_defaults(func=run_quarantine)


def run_ingest(args):
    from llmledger.store.db import connect
    from llmledger.telemetry.ingest import expand, ingest_paths

    files = expand(args.paths)  # a missing path fails before the database is touched
    if not files:
        raise LedgerError("no importable files found (expected .json, .jsonl, .pb, optionally .gz)")
    con = connect(args.db) if args.db else connect()
    try:
        result = ingest_paths(con, files)
    finally:
        con.close()
    data = result.as_dict()
    if result.files_read == 0 or (result.spans_new + result.duplicates + result.logs_read == 0 and result.rejects):
        first = result.rejects[0] if result.rejects else "no spans"
        raise LedgerError(
            f"nothing readable in {len(files)} file(s): {first}"
            + (f" (and {len(result.rejects) - 1} more rejects)" if len(result.rejects) > 1 else "")
        )
    lines = [
        f"files: {result.files_read} read, {result.files_failed} rejected",
        f"spans read: {result.spans_read}  new: {result.spans_new}  duplicates skipped: {result.duplicates}",
        f"LLM calls: {result.calls_new}",
        f"log records read: {result.logs_read}  GenAI events new: {result.events_new}  "
        f"dropped (not GenAI events of a call): {result.logs_dropped}",
        f"rejects: {len(result.rejects)}",
    ]
    lines += [f"  - {r}" for r in result.rejects[:20]]
    if len(result.rejects) > 20:
        lines.append(f"  ... and {len(result.rejects) - 20} more (see --json)")
    return data, "\n".join(lines)


#: Callables (service, con) -> optional stop function, run by `serve-otlp` once its service exists.
#: alerts/cli.py registers the budget evaluator here (register() runs before any command).
SERVE_HOOKS: list = []


def run_serve(args):
    from llmledger import config
    from llmledger.store.db import connect
    from llmledger.telemetry.service import Service

    db = args.db or config.db_path()
    host = args.host or config.otlp_host()
    port = config.otlp_port() if args.port is None else args.port
    grpc_port = config.otlp_grpc_port() if args.grpc_port is None else args.grpc_port
    check_port_free(host, port)  # before the database and spool exist: a busy port leaves no files
    con = connect(db)
    service = Service(con, db_path=db, host=host, port=port, grpc_port=None if grpc_port < 0 else grpc_port)
    # Areas above telemetry (alerts) attach to the service here without telemetry importing them;
    # each hook may return a function called at shutdown.
    stoppers = [hook(service, con) for hook in SERVE_HOOKS]
    # A flag, not a threading.Event: the handler runs on the main thread between two bytecodes, and
    # when that falls inside Event.wait re-taking its lock, Event.set in the handler waits for the
    # same lock forever (a Ctrl-C in the first seconds hung serve-otlp that way).
    stopping: list[int] = []

    def on_signal(signum, frame):
        stopping.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    # Handler threads and the loader share one GIL; a shorter switch interval keeps the loader's
    # long Python loops from delaying acknowledgements (this process does nothing else).
    sys.setswitchinterval(0.001)
    try:
        service.start()
        grpc_note = (
            f", OTLP/gRPC on {service.host}:{service.grpc_port}"
            if service.grpc
            else f" (no gRPC: {service.grpc_error})"
            if service.grpc_error
            else ""
        )
        print(
            f"llmledger: OTLP receiver on http://{service.host}:{service.port}/v1/traces and /v1/logs{grpc_note} "
            f"(db {db}, spool {service.spool_dir}); SIGTERM or Ctrl-C stops it",
            flush=True,
        )
        while not stopping:
            time.sleep(0.2)
        print("llmledger: stopping; loading what is spooled", file=sys.stderr, flush=True)
    finally:
        from llmledger.store import background

        service.stop()
        for stopper in stoppers:
            if stopper is not None:
                stopper()
        # Work still in flight on the connection (a /metrics read starts as the server does) ends
        # before it closes: DuckDB refuses to close a connection that a thread is using, and a
        # Ctrl-C in the first seconds ended with that traceback and exit status 1.
        left = background.shutdown()
        if not left:
            con.close()
        background.want_quiet_exit()  # __main__ ends without the interpreter's sweep (no nanobind wall)
    s = service.stats()
    summary = (
        f"stopped: {s['requests']} requests, {s['accepted_spans']} spans accepted, "
        f"{s['loaded_spans']} new spans loaded, {s['pending_batches']} batch(es) left in the spool"
    )
    if s["pending_batches"]:  # kept on disk, loaded by the next start; but this run did not finish
        raise LedgerError(f"{summary} (they load on the next start; last error: {s['last_error']})")
    return s, summary


def check_port_free(host: str, port: int) -> None:
    """Fail with the receiver's own one-line reason if host:port cannot be bound (port 0 always
    can). A probe, not a reservation: the receiver binds for real moments later."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # Same option as the receiver's server, so TIME_WAIT leftovers do not count as busy.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except (OSError, OverflowError) as exc:
        raise LedgerError(
            f"cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc}); "
            "is another receiver running? Set LLMLEDGER_OTLP_PORT or --port."
        ) from exc


def run_quarantine(args):
    from llmledger import config
    from llmledger.telemetry import quarantine

    db = Path(args.db) if args.db else config.db_path()
    spool = config.spool_dir(db)
    if args.action == "list":
        if args.names or args.all:
            raise LedgerError("`quarantine list` takes no names and no --all")
        items = quarantine.list_quarantined(spool)
        data = {"spool_dir": str(spool), "quarantined": [q.as_dict() for q in items]}
        if not items:
            return data, f"no quarantined batches in {quarantine.failed_dir(spool)}"
        lines = [f"{len(items)} quarantined batch(es) in {quarantine.failed_dir(spool)}:"]
        for q in items:
            spans = "?" if q.spans is None else q.spans
            reason = " ".join(q.reason.split()) or "(no reason recorded)"
            lines.append(
                f"  {q.name}  {q.size_bytes:,} B  {spans} spans  {q.quarantined_at:%Y-%m-%d %H:%M:%S}Z  {reason}"
            )
        return data, "\n".join(lines)
    if args.names and args.all:
        raise LedgerError(f"`quarantine {args.action}`: give batch names or --all, not both")
    if not args.names and not args.all:
        raise LedgerError(f"`quarantine {args.action}` needs batch names or --all (see `quarantine list`)")
    names = None if args.all else args.names
    if args.action == "drop":
        n = quarantine.drop(spool, names)
        return {"dropped": n}, f"dropped {n} quarantined batch(es)"
    return _retry(db, spool, names)


def _retry(db: Path, spool: Path, names: list[str] | None):
    from llmledger.errors import DatabaseLocked
    from llmledger.store.db import connect
    from llmledger.telemetry import quarantine

    if not quarantine.list_quarantined(spool):
        if names:
            quarantine.retry(spool, names)  # raises, naming the unknown batches
        return {"retried": [], "loaded": None, "held": False}, "nothing is quarantined"
    try:
        con = connect(db)
    except DatabaseLocked:
        con = None  # the running dashboard or serve-otlp loads them
    try:
        moved = quarantine.retry(spool, names)
        data = {"retried": [p.name for p in moved], "loaded": None, "held": con is None}
        text = f"moved {len(moved)} batch(es) back to {spool}"
        if con is None:
            return data, (
                text + f"; {db} is held by another process (dashboard or serve-otlp), "
                "whose loader picks them up on its next spool rescan"
            )
        from llmledger.telemetry.service import load_spool

        loaded = data["loaded"] = load_spool(con, spool)
    finally:
        if con is not None:
            con.close()
    pending = loaded.get("pending", loaded.get("pending_batches", 0))
    return data, (
        text + f"; loaded {loaded['loaded_batches']} batch(es), {loaded['loaded_spans']} new spans; "
        f"{loaded['quarantined']} quarantined again, {pending} still pending"
    )
