"""The Calls page's drill-down into one call of a trace: where its tokens came from, its tools and
its messages. Message text is untrusted input: it is shown only through st.code (literal text,
never Markdown or HTML), and every label built from telemetry goes through fmt.plain_markdown."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from llmledger.reads import messages as rm
from llmledger.ui import call_reads
from llmledger.ui import format as fmt

ROLE_ICONS = {"system": "⚙️", "user": "🧑", "assistant": "🤖", "tool": "🛠️"}
TOKEN_SOURCES = {
    "span attribute": "reported on the call's span",
    "GenAI event": "reported on a GenAI log event of the call",
    "tokenizer estimate": "estimated by counting the call's text with its model's tokenizer",
    "none reported": "not reported, and no text to count",
}


@st.cache_data(show_spinner=False, max_entries=32)
def _trace_calls(db: str, trace_id: str) -> pd.DataFrame:
    with call_reads.cursor() as cur:
        return rm.trace_calls(cur, trace_id)


@st.cache_data(show_spinner=False, max_entries=64)
def _messages(db: str, trace_id: str, span_id: str) -> dict:
    with call_reads.cursor() as cur:
        return rm.call_messages(cur, trace_id, span_id)


def drilldown(trace_id: str, key: str = "calls_call") -> None:
    """Pick a call of the trace; show its token source, tools and messages."""
    db = call_reads.db()
    calls = _trace_calls(db, trace_id)
    if calls.empty:
        return
    st.markdown("**Calls in this trace**")
    labels = {
        r.span_id: fmt.plain_markdown(
            f"{r.model or 'unknown model'} · {r.operation or 'call'} · span {r.span_id[:8]}"
            f" · {fmt.count(r.input_tokens)} in / {fmt.count(r.output_tokens)} out"
        )
        for r in calls.itertuples()
    }
    # One widget per trace: another trace's call is never this one's selection.
    span_id = st.selectbox("Call", list(labels), format_func=labels.get, key=f"{key}_{trace_id}")
    row = calls[calls.span_id == span_id].iloc[0]
    detail = _messages(db, trace_id, span_id)
    c1, c2, c3 = st.columns(3)
    c1.metric("Tokens in / out", f"{fmt.count(row.input_tokens)} / {fmt.count(row.output_tokens)}")
    c2.metric("Token source", row.token_source, help=TOKEN_SOURCES.get(row.token_source))
    c3.metric("Messages", len(detail["messages"]), help=f"from {detail['source'] or 'nowhere: none captured'}")
    if row.token_source == "tokenizer estimate":
        st.caption("These token counts are estimated (tokenizer), not reported by the instrumentation.")
    _tools(detail)
    _messages_list(detail)


def _tools(detail: dict) -> None:
    offered, called = detail["tools_offered"], detail["tool_calls"]
    if not offered and not called:
        return
    if offered:
        st.caption("Tools offered: " + ", ".join(fmt.plain_markdown(n) for n in offered))
    if called:
        st.dataframe(
            pd.DataFrame(
                [
                    {"tool": t.get("name"), "call id": t.get("id"), "arguments": t.get("arguments") or "(not kept)"}
                    for t in called
                ]
            ),
            hide_index=True,
            key="calls_call_tools",
        )


def _messages_list(detail: dict) -> None:
    msgs = detail["messages"]
    if not msgs:
        st.caption(
            "No messages captured for this call. Turn on content capture in the instrumentation "
            "(e.g. OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true) to see them here."
        )
        return
    if all(m["text"] is None for m in msgs):
        st.caption(
            f"Message text is not stored (content policy: {fmt.plain_markdown(detail['policy'])}); "
            "roles, hashes and token counts are shown instead."
        )
    for i, m in enumerate(msgs):
        role = m["role"] or m["kind"]
        head = f"{ROLE_ICONS.get(role, '💬')} **{fmt.plain_markdown(role)}**"
        if m["kind"] != role:  # e.g. an assistant turn sent back as input (history)
            head += f" · {m['kind']}"
        if m["finish_reason"]:
            head += f" · finished: {fmt.plain_markdown(m['finish_reason'])}"
        if m["tokens"] is not None:
            head += f" · {fmt.count(m['tokens'])} tokens"
        st.markdown(head)
        if m["text"] is not None:
            st.code(m["text"], language=None, wrap_lines=True)
        elif m["sha256"]:
            st.caption(f"sha256 {m['sha256'][:16]}… (text not stored)")
        for t in m["tool_calls"]:
            st.caption("calls tool " + fmt.plain_markdown(t.get("name") or "?"))
        if i >= 199:
            st.caption(f"… {len(msgs) - 200} more messages not shown.")
            break
