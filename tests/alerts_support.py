"""Real destinations and data for the budget and alert tests: a loopback HTTP server that
receives apprise's json:// posts, an aiosmtpd SMTP server that receives mailto:// mail, and calls
written straight into a ledger with a reported cost (so each call's actual cost is known)."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from helpers import free_port


class Webhook:
    """json://127.0.0.1:PORT/hook receiver. `status` is what it answers (500 = a broken destination)."""

    def __init__(self, status: int = 200):
        self.posts: list[dict] = []
        self.status = status
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {"raw": body.decode("utf-8", "replace")}
                if hook.status < 300:
                    hook.posts.append({"path": self.path, **doc})
                else:
                    hook.rejected += 1
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.rejected = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> "Webhook":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class Smtp:
    """A local SMTP server (aiosmtpd) collecting messages; `url` is the apprise mailto:// URL."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[dict] = []
        box = self.messages

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                box.append(
                    {
                        "from": envelope.mail_from,
                        "to": list(envelope.rcpt_tos),
                        "data": envelope.content.decode("utf-8", "replace"),
                    }
                )
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return (
            f"mailto://127.0.0.1:{self.port}?from=ledger@example.com&to=reviewer@example.com"
            f"&mode=insecure&smtp=127.0.0.1"
        )

    def __enter__(self) -> "Smtp":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


UNPRICED_MODEL = "acme-inhouse-7b"  # no sheet prices it: its reported cost is its actual cost

INSERT_CALL_SQL = """
INSERT INTO calls (trace_id, span_id, start_time, duration_ms, provider, operation, request_model, response_model,
                   input_tokens, output_tokens, usage_source, convention, status, reported_cost_usd,
                   service, environment, feature, team, user_id)
VALUES (?, ?, ?, 100, ?, 'chat', ?, ?, ?, ?, ?, 'test', ?, ?, 'svc', 'prod', ?, ?, ?)
"""


def add_call(
    con,
    at: datetime,
    usd: float | None,
    feature: str = "chat",
    user: str | None = "u1",
    team: str = "core",
    model: str = UNPRICED_MODEL,
    provider: str = "acme",
    tokens: int = 100,
    status: str = "ok",
) -> None:
    """One call whose actual cost is `usd` (reported; None = an unpriced call)."""
    con.execute(
        INSERT_CALL_SQL,
        [
            uuid.uuid4().hex,
            uuid.uuid4().hex[:16],
            at,
            provider,
            model,
            model,
            tokens,
            0,
            "reported",
            status,
            usd,
            feature,
            team,
            user,
        ],
    )
