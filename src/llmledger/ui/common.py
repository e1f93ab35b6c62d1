"""Shared page setup: the one DuckDB connection, the embedded receiver, and error display."""

from __future__ import annotations

import contextlib
import threading

import streamlit as st

from llmledger import config
from llmledger.errors import LedgerError
from llmledger.ui.format import plain_markdown

#: Seconds the dashboard's background reads wait after start (the budget evaluator's first check,
#: /metrics' first read): the first page a browser asks for is drawn first. On a new ledger the
#: metrics read imports the default price sheet; on a big one the first check scans every call.
STARTUP_QUIET_S = 5.0


@st.cache_resource(show_spinner=False)
def _resources(db_path: str):
    """One connection per process (DuckDB has one writer); receiver and loader share it."""
    from llmledger.store.db import connect

    con = connect(db_path)
    service = collector = None
    if config.receiver_enabled():
        try:
            from llmledger.alerts import metrics
            from llmledger.telemetry.service import Service

            service = Service(con, db_path=db_path, grpc_port=config.otlp_grpc_port())
            service.on_loaded.append(lambda: st.cache_data.clear())
            collector = metrics.attach(
                service, con, warm_after_s=STARTUP_QUIET_S
            )  # GET /metrics on the receiver's port
            service.start()
        except (ImportError, OSError, LedgerError) as exc:  # the dashboard still works without it
            service = _Unavailable(str(exc))
    # Budgets are checked on their own thread after each load (poke only sets a flag, so the
    # loader and the receiver's request threads never wait on it) and every minute.
    from llmledger.alerts.runner import AlertRunner

    alerts = AlertRunner(con, start_delay_s=STARTUP_QUIET_S).start()
    if collector is not None:
        collector.runner = alerts  # the evaluator's checks and failures on /metrics too
    if service is not None and hasattr(service, "on_loaded"):
        service.on_loaded.append(alerts.poke)
    return {"con": con, "service": service, "lock": threading.Lock(), "alerts": alerts}


class _Unavailable:
    def __init__(self, reason: str):
        self.reason = reason

    def stats(self) -> dict:
        return {"running": False, "last_error": self.reason}


def resources() -> dict:
    return _resources(str(config.db_path()))


def connection():
    """A fresh cursor on the shared connection (each query gets its own)."""
    return resources()["con"].cursor()


def service():
    return resources()["service"]


def alert_runner():
    return resources()["alerts"]


def page_setup(title: str, icon: str = "📒", layout: str = "wide") -> None:
    """Idempotent: safe when the page runs alone under AppTest or inside st.navigation."""
    with contextlib.suppress(st.errors.StreamlitAPIException):
        st.set_page_config(page_title=f"{title} · LLM Ledger", page_icon=icon, layout=layout)


@contextlib.contextmanager
def show_errors():
    """Turn LedgerError into st.error with its title; anything else still surfaces. Messages
    quote input (file names, models, payload fields), so they are shown as literal text."""
    try:
        yield
    except LedgerError as exc:
        st.error(f"**{plain_markdown(exc.title)}**: {plain_markdown(exc.msg)}")
