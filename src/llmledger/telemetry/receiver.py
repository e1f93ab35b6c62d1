"""OTLP/HTTP trace receiver: `POST /v1/traces`, protobuf or JSON, optionally gzip.

Responses follow the OTLP/HTTP spec:
- 200 with an ExportTraceServiceResponse in the request's encoding; `partial_success` carries
  the number of rejected spans and why, when some spans were unusable;
- 400 (malformed body), 401 (bearer token missing or wrong), 404 (other paths), 405 (other
  methods), 411 (no length), 413 (body over the limit, raw or after gunzip), 415 (content type or
  encoding not OTLP), 503 (the spool could not store the request: retryable), each with a
  google.rpc.Status body (protobuf for protobuf requests, JSON otherwise).

The receiver only decodes and hands the request to a `sink`, which must make it durable before
returning (the spool does); the 200 goes out after that. Any failure is answered and logged; the
server keeps serving.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from llmledger.errors import LedgerError, PayloadError
from llmledger.telemetry import intake, otlp

log = logging.getLogger(__name__)

PATH = "/v1/traces"
PATHS = intake.PATHS  # /v1/traces and /v1/logs
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: A refused body up to this size is read and discarded so the client sees our answer rather
#: than a connection reset; a bigger one gets the answer and the connection is closed.
DRAIN_LIMIT = 64 * 1024 * 1024
#: Requests handled at once; a connection beyond this is answered 503 at once and closed, so a
#: flood of idle or slow clients cannot take every thread (or every byte of memory).
MAX_CONNECTIONS = 128
#: Seconds one request may take from its first byte to the end of its body, however slowly the
#: bytes trickle in (a read timeout alone restarts with every byte).
REQUEST_SECONDS = 60.0
#: Bytes that requests being read and decoded may hold at once (bodies, gunzipped bodies, and
#: decoded JSON counted at JSON_EXPANSION times its size). A request that cannot get its share
#: within BUDGET_WAIT seconds is answered 503 with Retry-After.
INFLIGHT_BYTES = 256 * 1024 * 1024
JSON_EXPANSION = 6
BUDGET_WAIT = 5.0
_DIGITS = re.compile(rb"[0-9]{1,19}")
_CHUNK = re.compile(rb"[0-9a-fA-F]{1,16}")
# google.rpc.Code values for the Status body.
GRPC_CODES = {400: 3, 401: 16, 404: 5, 405: 12, 411: 3, 413: 8, 415: 3, 500: 13, 503: 14}

#: sink(body as received, encoding 'protobuf'|'json', gzipped, decoded or None, raw body after
#: gunzip, valid span count) stores the request durably or raises. Protobuf is only checked here
#: (decoded is None) and decoded by the loader, which keeps acknowledgements fast. Log requests
#: come with kind="logs" (and the count of usable log records).
Sink = Callable[[bytes, str, bool, "otlp.Decoded | None", bytes, int], None]
#: Extra GET endpoints served beside OTLP (e.g. `/metrics`, wired by a layer above telemetry, which
#: imports none of it): path -> callable returning (status, content type, body). The dict is kept by
#: reference, so routes may be added after the receiver is built; the bearer token applies to them.
Route = Callable[[], tuple[int, str, bytes]]


_WHERE = "OTLP traces go to POST /v1/traces, logs to POST /v1/logs"


class Reply(Exception):
    """An HTTP error answer, raised anywhere in request handling."""

    def __init__(self, status: int, message: str, close: bool = False, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.close, self.headers = status, message, close, headers or {}


def status_body(status: int, message: str, as_protobuf: bool) -> bytes:
    """A google.rpc.Status {code, message}, hand-encoded (two fields, no extra dependency)."""
    code = GRPC_CODES.get(status, 2)
    if not as_protobuf:
        return json.dumps({"code": code, "message": message}).encode()
    msg = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(msg)) + msg


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def success_body(rejects: list[str], as_protobuf: bool, kind: str = "traces") -> bytes:
    """ExportTraceServiceResponse (or ExportLogsServiceResponse); partial_success only when some
    items were rejected."""
    return intake.success_body(rejects, as_protobuf, kind)


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.accepted_spans = 0
        self.rejected_spans = 0
        self.accepted_logs = 0
        self.rejected_logs = 0
        self.errors_by_status: dict[int, int] = {}
        self.last_error: str | None = None
        self.last_request_at: float | None = None
        self.recent: list[tuple[float, int]] = []  # (time, spans accepted), last 10 s

    def request(self) -> None:
        with self.lock:
            self.requests += 1
            self.last_request_at = time.time()

    def accepted(self, spans: int, rejected: int, reason: str | None, kind: str = "traces") -> None:
        now = time.time()
        with self.lock:
            if kind == "logs":
                self.accepted_logs += spans
                self.rejected_logs += rejected
                if reason:
                    self.last_error = reason
                return
            self.accepted_spans += spans
            self.rejected_spans += rejected
            if reason:
                self.last_error = reason
            self.recent.append((now, spans))
            cutoff = now - 10
            while self.recent and self.recent[0][0] < cutoff:
                self.recent.pop(0)

    def error(self, status: int, message: str) -> None:
        with self.lock:
            self.errors_by_status[status] = self.errors_by_status.get(status, 0) + 1
            self.last_error = f"{status}: {message}"

    def spans_per_s(self, window: float = 10.0) -> float:
        now = time.time()
        with self.lock:
            n = sum(k for t, k in self.recent if t >= now - window)
        return n / window


class Budget:
    """Bytes held by requests in flight, across all handler threads."""

    def __init__(self, limit: int):
        self.limit, self.used, self.peak = limit, 0, 0
        self._cv = threading.Condition()

    def take(self, n: int, wait: float = BUDGET_WAIT) -> bool:
        """Reserve n bytes, waiting up to `wait` s for others to finish; False if not possible.
        A request larger than the whole budget may run alone."""
        deadline = time.monotonic() + wait
        with self._cv:
            while self.used and self.used + n > self.limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
            self.used += n
            self.peak = max(self.peak, self.used)
            return True

    def give(self, n: int) -> None:
        with self._cv:
            self.used -= n
            self._cv.notify_all()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        addr,
        sink: Sink,
        token: str | None,
        max_bytes: int,
        max_connections: int = MAX_CONNECTIONS,
        request_seconds: float = REQUEST_SECONDS,
        inflight_bytes: int = INFLIGHT_BYTES,
        extra_routes: dict[str, Route] | None = None,
    ):
        self.sink = sink
        self.extra_routes = extra_routes if extra_routes is not None else {}
        self.token = token
        self.max_bytes = max_bytes
        self.counters = Counters()
        self.closing = False
        self.max_connections = max_connections
        self.request_seconds = request_seconds
        self.budget = Budget(inflight_bytes)
        self._conns: dict[socket.socket, float] = {}  # open connection -> deadline of its request
        self._conns_lock = threading.Lock()
        super().__init__(addr, Handler)
        threading.Thread(target=self._reap, name="otlp-reaper", daemon=True).start()

    # Connection cap: checked before a thread is started for the connection.
    def process_request(self, request, client_address) -> None:
        with self._conns_lock:
            full = len(self._conns) >= self.max_connections
            if not full:
                self._conns[request] = time.monotonic() + self.request_seconds
        if full:
            self.counters.error(503, f"too many connections (limit {self.max_connections})")
            _refuse(request, self.max_connections)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def close_request(self, request) -> None:
        with self._conns_lock:
            self._conns.pop(request, None)
        super().close_request(request)

    def request_started(self, request) -> None:
        with self._conns_lock:
            if request in self._conns:
                self._conns[request] = time.monotonic() + self.request_seconds

    def open_connections(self) -> int:
        with self._conns_lock:
            return len(self._conns)

    def _reap(self) -> None:
        """Cut connections whose request is over its time: their blocked read returns at once."""
        while not self.closing:
            time.sleep(0.5)
            now = time.monotonic()
            with self._conns_lock:
                late = [c for c, deadline in self._conns.items() if deadline < now]
            for c in late:
                self.counters.error(408, f"request took longer than {self.request_seconds:g} s; connection closed")
                with self._conns_lock:
                    self._conns.pop(c, None)
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request, client_address) -> None:  # never a traceback on stderr
        log.debug("connection from %s failed", client_address, exc_info=True)


def _refuse(request, limit: int) -> None:
    """A 503 written straight to a connection that gets no handler thread."""
    body = status_body(503, f"too many connections (limit {limit}); retry later", False)
    head = (
        f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: {JSON}\r\nContent-Length: {len(body)}\r\n"
        "Retry-After: 5\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        request.settimeout(0.5)
        request.sendall(head + body)
    except OSError:
        pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llmledger-otlp/1"
    sys_version = ""
    timeout = 30  # seconds a client may idle mid-request or between keep-alive requests
    # TCP_NODELAY, as OTLP clients set on their side (urllib3, Go's net/http): with Nagle on, a
    # short answer written after its headers waits for the client's delayed ACK (up to 40 ms).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def handle_one_request(self) -> None:
        # The request's clock starts while waiting for its first line (keep-alive idle counts).
        self.server.request_started(self.connection)
        super().handle_one_request()

    # ------------------------------------------------------------ routing
    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def _not_post(self) -> None:
        if self._path() in self.server.extra_routes and self.command in ("GET", "HEAD"):
            self._extra_route()
            return
        self._run(lambda: self._reject_method())

    def _extra_route(self) -> None:
        """Answer an extra GET route (not an OTLP request: not counted as one). A failing route
        gets a 500 and the server keeps serving."""
        token = self.server.token
        if token:
            scheme, _, given = (self.headers.get("Authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                self._answer(
                    401,
                    b"missing or wrong bearer token\n",
                    ctype="text/plain; charset=utf-8",
                    headers={"WWW-Authenticate": 'Bearer realm="otlp"'},
                )
                return
        try:
            status, ctype, body = self.server.extra_routes[self._path()]()
        except Exception as exc:  # noqa: BLE001 - a route's bug must not take the server down
            log.exception("route %s failed", self._path())
            status, ctype, body = 500, "text/plain; charset=utf-8", f"internal error: {exc!r}\n".encode()
        self._answer(status, body, ctype=ctype)

    def _reject_method(self) -> None:
        if self._path() not in PATHS:
            raise Reply(404, f"no such endpoint {self._path()!r}: {_WHERE}")
        raise Reply(405, f"method {self.command} not allowed: use POST", headers={"Allow": "POST"})

    do_GET = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_post

    def do_HEAD(self) -> None:
        self._not_post()

    def do_POST(self) -> None:
        self._run(self._post)

    def handle_expect_100(self) -> bool:
        # Refuse before the client sends the body when the headers already say no.
        try:
            self._precheck()
        except Reply as r:
            self._answer(
                r.status, status_body(r.status, r.message, self._wants_protobuf()), close=True, headers=r.headers
            )
            return False
        return super().handle_expect_100()

    # ------------------------------------------------------------ request handling
    def _wants_protobuf(self) -> bool:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() == PROTOBUF

    def _run(self, fn) -> None:
        self._body_consumed = False  # one handler serves every request of a keep-alive connection
        self.server.counters.request()
        try:
            fn()
        except Reply as r:
            self.server.counters.error(r.status, r.message)
            if r.status >= 400 and not r.close:
                r.close = not self._drain()
            self._answer(
                r.status, status_body(r.status, r.message, self._wants_protobuf()), close=r.close, headers=r.headers
            )
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug must not take the server down
            log.exception("OTLP request failed")
            self.server.counters.error(500, repr(exc))
            self._answer(500, status_body(500, f"internal error: {exc!r}", self._wants_protobuf()), close=True)

    def _precheck(self) -> None:
        if self._path() not in PATHS:
            raise Reply(404, f"no such endpoint {self._path()!r}: {_WHERE}")
        if self.command != "POST":
            raise Reply(405, f"method {self.command} not allowed: use POST", headers={"Allow": "POST"})
        if self.server.closing:
            raise Reply(503, "receiver is shutting down", close=True, headers={"Retry-After": "5"})
        token = self.server.token
        if token:
            auth = self.headers.get("Authorization") or ""
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                raise Reply(
                    401,
                    "missing or wrong bearer token (Authorization: Bearer <token>)",
                    headers={"WWW-Authenticate": 'Bearer realm="otlp"'},
                )
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in (PROTOBUF, JSON):
            raise Reply(415, f"unsupported Content-Type {ctype or '(none)'!r}: send {PROTOBUF} or {JSON}")
        enc = (self.headers.get("Content-Encoding") or "identity").strip().lower()
        if enc not in ("gzip", "identity", ""):
            raise Reply(415, f"unsupported Content-Encoding {enc!r}: send gzip or no encoding")
        length = self.headers.get("Content-Length")
        if length is not None:
            if not _DIGITS.fullmatch(length.strip().encode("latin-1", "replace")):
                raise Reply(400, f"bad Content-Length {length[:40]!r}: expected decimal digits", close=True)
            n = int(length)
            if n > self.server.max_bytes:
                raise Reply(413, f"body of {n} bytes exceeds the limit of {self.server.max_bytes} bytes")

    def _post(self) -> None:
        self._precheck()
        budget = self.server.budget
        length = self.headers.get("Content-Length")
        held = int(length) if length is not None else 0  # chunked bodies reserve as they arrive
        if held and not budget.take(held):
            raise Reply(
                503, "receiver is busy with other requests (memory budget); retry later", headers={"Retry-After": "2"}
            )
        self._held = held
        try:
            self._post_body()
        finally:
            budget.give(self._held)

    def _hold(self, n: int) -> None:
        """Reserve n more bytes of the in-flight budget for this request, or answer 503."""
        if not self.server.budget.take(n):
            raise Reply(
                503,
                "receiver is busy with other requests (memory budget); retry later",
                close=True,
                headers={"Retry-After": "2"},
            )
        self._held += n

    def _post_body(self) -> None:
        body = self._read_body()
        self._body_consumed = True
        gzipped = (self.headers.get("Content-Encoding") or "").strip().lower() == "gzip"
        as_pb = self._wants_protobuf()
        kind = PATHS[self._path()]
        try:
            raw = otlp.gunzip(body, self.server.max_bytes) if gzipped else body
            if gzipped:
                self._hold(len(raw))
            if not as_pb:
                self._hold(len(raw) * JSON_EXPANSION)
            checked = intake.check(kind, raw, as_pb)
        except otlp.PayloadTooLarge as exc:
            raise Reply(413, exc.msg) from exc
        except PayloadError as exc:
            raise Reply(400, exc.msg) from exc
        except Reply:
            raise
        except Exception as exc:  # hostile input must stay a 400
            log.debug("decode failed", exc_info=True)
            raise Reply(400, f"cannot decode body: {exc!r:.300}") from exc
        valid, rejects = checked.valid, checked.rejects
        checked = None  # the loader decodes again from `raw`; these objects go now
        if valid:
            try:
                encoding = "protobuf" if as_pb else "json"
                if kind == "traces":
                    self.server.sink(body, encoding, gzipped, None, raw, valid)
                else:
                    self.server.sink(body, encoding, gzipped, None, raw, valid, kind=kind)
            except (OSError, LedgerError) as exc:
                log.error("cannot spool OTLP request: %s", exc)
                raise Reply(
                    503, f"cannot store the request right now ({exc}); retry later", headers={"Retry-After": "5"}
                ) from exc
        self.server.counters.accepted(valid, len(rejects), rejects[0] if rejects else None, kind)
        self._answer(200, success_body(rejects, as_pb, kind), ctype=PROTOBUF if as_pb else JSON)

    def _read_body(self) -> bytes:
        limit = self.server.max_bytes
        length = self.headers.get("Content-Length")
        if length is not None:
            n = int(length)
            body = self.rfile.read(n)
            if len(body) < n:
                raise ConnectionError("client closed the connection mid-body")
            return body
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        raise Reply(411, "Content-Length or chunked Transfer-Encoding required", close=True)

    def _read_chunked(self, limit: int) -> bytes:
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise ConnectionError("client closed the connection mid-body")
            field = line.split(b";", 1)[0].strip()
            if not _CHUNK.fullmatch(field):  # int(x, 16) would take '-1', '+1', '0x1', '1_0'
                raise Reply(400, f"malformed chunk size {field[:20]!r} in chunked body", close=True)
            size = int(field, 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > limit:
                raise Reply(413, f"body exceeds the limit of {limit} bytes", close=True)
            self._hold(size)
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise ConnectionError("client closed the connection mid-body")
            parts.append(chunk)
            self.rfile.readline(16)  # CRLF after the chunk

    def _drain(self) -> bool:
        """Read and drop an unread body so keep-alive stays in sync; False if we should close."""
        if getattr(self, "_body_consumed", False) or self.command in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return True
        length = self.headers.get("Content-Length")
        if length is None or not _DIGITS.fullmatch(length.strip().encode("latin-1", "replace")):
            return False
        n = int(length)
        if n < 0 or n > DRAIN_LIMIT:
            return False
        self.connection.settimeout(5)
        while n > 0:
            chunk = self.rfile.read(min(n, 1 << 20))
            if not chunk:
                return False
            n -= len(chunk)
        self._body_consumed = True
        return True

    def _answer(
        self, status: int, body: bytes, close: bool = False, headers: dict | None = None, ctype: str | None = None
    ) -> None:
        if ctype is None:
            ctype = PROTOBUF if self._wants_protobuf() else JSON
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            # Status line, headers and body in one write: one segment for a typical answer.
            buffered = getattr(self, "_headers_buffer", None)  # absent for an HTTP/0.9 request
            if buffered is not None and self.command != "HEAD":
                buffered.extend((b"\r\n", body))
                self.flush_headers()
            else:
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True


class Receiver:
    """The HTTP server on its own thread; one handler thread per connection."""

    def __init__(self, sink: Sink, host: str, port: int, token: str | None, max_bytes: int, **limits):
        self.sink, self.host, self.requested_port = sink, host, port
        self.token, self.max_bytes = token, max_bytes
        self.limits = limits  # max_connections, request_seconds, inflight_bytes, extra_routes (see _Server)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self.requested_port

    @property
    def counters(self) -> Counters:
        return self._server.counters if self._server else Counters()

    def start(self) -> None:
        try:
            self._server = _Server(
                (self.host, self.requested_port), self.sink, self.token, self.max_bytes, **self.limits
            )
        except OSError as exc:
            raise LedgerError(
                f"cannot listen on {self.host}:{self.requested_port} ({exc.strerror or exc}); "
                "is another receiver running? Set LLMLEDGER_OTLP_PORT or --port.",
                title="Receiver unavailable",
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="otlp-receiver", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if not self._server:
            return
        self._server.closing = True
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
