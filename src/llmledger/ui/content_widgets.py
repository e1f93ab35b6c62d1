"""Ingest page pieces for telemetry reach: the endpoints (HTTP traces and logs, gRPC), the log
records received (GenAI events kept, others counted and dropped), and the content policy setting.
Streamlit glue only: the reads and the setting live in reads/ingest.py."""

from __future__ import annotations

from typing import Any

import streamlit as st

from llmledger import config
from llmledger.reads import ingest
from llmledger.ui import common
from llmledger.ui import format as fmt

POLICY_HELP = {
    "keep": "keep: message text is stored (drill-down, re-tokenisation on a model swap, estimates).",
    "hash": "hash: only a sha256 of each message's normalised text and its token count are stored "
    "(exact repeats stay recognisable); no text.",
    "drop": "drop: neither text nor hash is stored; roles, tool names and finish reasons only.",
}


def endpoints(service: Any) -> None:
    """Where to send traces and logs, over HTTP and gRPC."""
    stats = service.stats() if service is not None and hasattr(service, "stats") else {}
    if not stats.get("port"):
        return
    host = stats.get("host") or "127.0.0.1"
    lines = [
        f"- OTLP/HTTP: `http://{host}:{stats['port']}/v1/traces` and `/v1/logs` (protobuf or JSON, gzip)",
    ]
    if stats.get("grpc_endpoint"):
        lines.append(f"- OTLP/gRPC: `{stats['grpc_endpoint']}` (TraceService and LogsService, gzip)")
    elif stats.get("grpc_error"):
        lines.append("- OTLP/gRPC: not serving: " + fmt.plain_markdown(stats["grpc_error"]))
    st.markdown("\n".join(lines))


def log_records() -> None:
    """How many log records arrived, how many were GenAI events, and how many were dropped."""
    with common.connection() as cur:
        t = ingest.log_totals(cur)
    if not t["logs_read"]:
        st.caption(
            "No log records received yet. GenAI log events (message content from "
            "opentelemetry-instrumentation-openai-v2 and the GenAI conventions) go to `/v1/logs` or gRPC."
        )
        return
    st.caption(
        f"{t['logs_read']:,} log records received: {t['events_new']:,} GenAI events stored and joined to "
        f"their calls; {t['logs_dropped']:,} other records (not GenAI events of a call) counted and dropped."
    )


def content_policy() -> None:
    """The content policy setting; the environment variable wins and the page says so."""
    with common.connection() as cur:
        p = ingest.content_policy(cur)
    env_name = config.ENV_CONTENT
    if p["env_error"]:
        st.error(fmt.plain_markdown(p["env_error"]))
    if p["env"]:
        st.info(f"{env_name}={p['env']} is set: it wins over the setting below until it is unset.")
    options = list(POLICY_HELP)
    choice = st.radio(
        "What is stored of message content at ingest",
        options,
        index=options.index(p["stored"]),
        horizontal=True,
        key="ingest_content_policy",
        help="Applies to what arrives from now on; what is stored already stays as it is.",
    )
    st.caption(POLICY_HELP[choice])
    if choice != p["stored"] and st.button("Save content policy", key="ingest_content_save", type="primary"):
        with common.connection() as cur:
            saved = ingest.save_content_policy(cur, choice)
        st.success(f"Content policy saved: {saved}. It applies to the next batches loaded.")
    st.caption(f"In force now: **{p['policy']}**" + (f" (from {env_name})" if p["env"] else ""))
