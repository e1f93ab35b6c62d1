"""`ingest` (import trace files) and `serve-otlp` (the receiver and loader, headless).

Exit codes of `ingest`: 0 when at least one span could be read, even if some files, lines or
spans were rejected (they are listed in the report, and under `reject_reasons` with --json);
1 with one line when a path does not exist, no importable file was found, or nothing at all could
be read. `serve-otlp` exits 0 after SIGTERM/SIGINT once everything accepted is loaded.
"""

from __future__ import annotations

import signal
import sys
import threading

from llmledger.cli import add_common
from llmledger.errors import LedgerError


def register(sub) -> None:
    p = sub.add_parser("ingest", help="import OTLP trace files or folders (.json, .jsonl, .pb, optionally .gz)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (walked recursively)")
    add_common(p)
    p.set_defaults(func=run_ingest)

    s = sub.add_parser("serve-otlp", help="run the OTLP/HTTP receiver and loader until SIGTERM/SIGINT")
    s.add_argument("--db", help="DuckDB file (default: $LLMLEDGER_DB or data/ledger.duckdb)")
    s.add_argument("--host", help="address to bind (default: $LLMLEDGER_OTLP_HOST or 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default: $LLMLEDGER_OTLP_PORT or 4318; 0 picks a free one)")
    s.set_defaults(func=run_serve)


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
    if result.files_read == 0 or (result.spans_new + result.duplicates == 0 and result.rejects):
        first = result.rejects[0] if result.rejects else "no spans"
        raise LedgerError(f"nothing readable in {len(files)} file(s): {first}"
                          + (f" (and {len(result.rejects) - 1} more rejects)" if len(result.rejects) > 1 else ""))
    lines = [
        f"files: {result.files_read} read, {result.files_failed} rejected",
        f"spans read: {result.spans_read}  new: {result.spans_new}  duplicates skipped: {result.duplicates}",
        f"LLM calls: {result.calls_new}",
        f"rejects: {len(result.rejects)}",
    ]
    lines += [f"  - {r}" for r in result.rejects[:20]]
    if len(result.rejects) > 20:
        lines.append(f"  ... and {len(result.rejects) - 20} more (see --json)")
    return data, "\n".join(lines)


def run_serve(args):
    from llmledger import config
    from llmledger.store.db import connect
    from llmledger.telemetry.service import Service

    db = args.db or config.db_path()
    con = connect(db)
    service = Service(con, db_path=db, host=args.host, port=args.port)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    # Handler threads and the loader share one GIL; a shorter switch interval keeps the loader's
    # long Python loops from delaying acknowledgements (this process does nothing else).
    sys.setswitchinterval(0.001)
    try:
        service.start()
        print(f"llmledger: OTLP receiver on http://{service.host}:{service.port}/v1/traces "
              f"(db {db}, spool {service.spool_dir}); SIGTERM or Ctrl-C stops it", flush=True)
        while not stop.wait(0.5):
            pass
        print("llmledger: stopping; loading what is spooled", file=sys.stderr, flush=True)
    finally:
        service.stop()
        con.close()
    s = service.stats()
    return s, (f"stopped: {s['requests']} requests, {s['accepted_spans']} spans accepted, "
               f"{s['loaded_spans']} new spans loaded, {s['pending_batches']} batch(es) left in the spool")
