"""Message content: the policy that decides at ingest what is stored, and the messages of a call.

`LLMLEDGER_CONTENT=keep|hash|drop` (or the `content_policy` setting in DuckDB; the environment
wins when set):
- `keep` stores the text (span attributes, event messages, the call's input/output text);
- `hash` stores, per message, only a sha256 of its normalised text and its token count: repeats
  are still recognisable (cache what-ifs) but no text is kept;
- `drop` stores neither: roles, tool names and finish reasons only.

The policy is applied while a batch's tables are built, before anything reaches DuckDB: content
attributes of spans (every dialect the convention mapping reads, see CONTENT_KEYS and
CONTENT_PREFIXES) and of span events are replaced by a marker, and the call's text columns stay
NULL. Token counts need a tokenizer, which lives beside telemetry (not below it): an area above
registers a counter in TOKEN_COUNTERS (pricing/schema.py does), and the loader counts at commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable

from llmledger.config import ENV_CONTENT
from llmledger.errors import LedgerError
from llmledger.telemetry.conv_common import TEXT_CAP, collect_text, maybe_json

POLICIES = ("keep", "hash", "drop")
DEFAULT_POLICY = "keep"
SETTING_KEY = "content_policy"
#: What replaces a content attribute under `hash` and `drop` (the key stays, so it shows that
#: the instrumentation sent content).
MARKERS = {"hash": "[content hashed: see call_messages]", "drop": "[content dropped]"}

#: (text, model or None) -> token count. Registered by an area that may use the tokenizers.
TOKEN_COUNTERS: list[Callable[[str, str | None], int | None]] = []

# Span attributes that carry message text, per dialect (conventions.py reads the same keys).
CONTENT_KEYS = frozenset(
    {
        # OTel GenAI, current and deprecated
        "gen_ai.system_instructions",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        # OpenInference
        "input.value",
        "output.value",
        "llm.prompt_template.variables",
        "llm.prompt_template.template",
        # OpenLLMetry / Traceloop
        "traceloop.entity.input",
        "traceloop.entity.output",
        # Vercel AI SDK
        "ai.prompt",
        "ai.prompt.messages",
        "ai.response.text",
        "ai.response.toolCalls",
        "ai.response.object",
        "ai.value",
        "ai.values",
        "ai.toolCall.args",
        "ai.toolCall.result",
        # Langfuse
        "langfuse.observation.input",
        "langfuse.observation.output",
        # pydantic-ai / logfire's events-in-an-attribute
        "events",
        "all_messages_events",
    }
)
CONTENT_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "gen_ai.input.messages.",
    "gen_ai.output.messages.",
    "llm.prompts.",
    "llm.completions.",
    "llm.input_messages.",
    "llm.output_messages.",
    "embedding.embeddings.",
    "langfuse.observation.input.",
    "langfuse.observation.output.",
    "traceloop.entity.input.",
    "traceloop.entity.output.",
)
# Keys of span-event and log-record attributes that carry text in GenAI events.
EVENT_CONTENT_KEYS = CONTENT_KEYS | {"content", "message", "body", "gen_ai.event.content"}


class ContentPolicyError(LedgerError):
    title = "Content policy"


def check_policy(value: str, where: str = ENV_CONTENT) -> str:
    v = (value or "").strip().lower()
    if v not in POLICIES:
        raise ContentPolicyError(f"{where}={value!r} is not a content policy: use keep, hash or drop")
    return v


def env_policy() -> str | None:
    """The policy the environment sets, or None; ContentPolicyError for a value that is not one."""
    raw = os.environ.get(ENV_CONTENT)
    if raw is None or not raw.strip():
        return None
    return check_policy(raw)


def stored_policy(con) -> str | None:
    try:
        rows = con.execute("SELECT value FROM settings WHERE key = ?", [SETTING_KEY]).fetchall()
    except Exception:  # a ledger without the settings table (very old) has no stored policy
        return None
    if not rows or rows[0][0] not in POLICIES:
        return None
    return rows[0][0]


def policy(con=None) -> str:
    """The policy in force: the environment's, else the stored setting, else keep."""
    return env_policy() or (stored_policy(con) if con is not None else None) or DEFAULT_POLICY


def save_policy(con, value: str) -> str:
    """Persist the policy setting (the environment still wins while it is set)."""
    v = check_policy(value, "content policy")
    con.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [SETTING_KEY, v],
    )
    return v


# ---------------------------------------------------------------- hashing and counting

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The form hashed: Unicode NFC, whitespace runs collapsed to one space, ends trimmed (two
    prompts that differ only in line breaks or padding hash alike)."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def digest(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8", "surrogatepass")).hexdigest()


def count_tokens(text: str, model: str | None) -> int | None:
    for counter in TOKEN_COUNTERS:
        try:
            return counter(text, model)
        except Exception:  # a tokenizer's failure leaves the count unknown, never the load
            return None
    return None


# ---------------------------------------------------------------- scrubbing


def is_content_key(key: str) -> bool:
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES)


def scrub_attributes(attrs: dict, policy: str, keys=CONTENT_KEYS) -> dict:
    """attrs with content replaced by the policy's marker (the same dict when there is none)."""
    if policy == "keep" or not attrs:
        return attrs
    hit = [k for k in attrs if k in keys or k.startswith(CONTENT_PREFIXES)]
    if not hit:
        return attrs
    out = dict(attrs)
    marker = MARKERS[policy]
    for k in hit:
        out[k] = marker
    return out


def scrub_events(events: list, policy: str) -> list:
    """Span events with their content attributes replaced (gen_ai.content.prompt, ...)."""
    if policy == "keep" or not events:
        return events
    out = []
    for e in events:
        a = e.get("attributes") or {}
        s = scrub_attributes(a, policy, EVENT_CONTENT_KEYS)
        out.append(e if s is a else {**e, "attributes": s})
    return out


# ---------------------------------------------------------------- messages


@dataclass(slots=True)
class Message:
    kind: str  # 'system' | 'input' | 'output'
    role: str | None
    text: str | None
    tool_calls: list[dict] = field(default_factory=list)  # {id, name, arguments}
    finish_reason: str | None = None


def _text_of(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str) and v[:1] not in ("[", "{"):
        return v[:TEXT_CAP] or None
    out: list[str] = []
    collect_text(v, out, [TEXT_CAP])
    if not out:
        return None
    return "\n".join(out)[:TEXT_CAP]


def _tool_call(tc: Any) -> dict | None:
    if not isinstance(tc, dict):
        return None
    fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
    name = tc.get("name") or fn.get("name")
    args = tc.get("arguments", fn.get("arguments"))
    if args is not None and not isinstance(args, str):
        args = json.dumps(args, ensure_ascii=False, default=str)
    return {"id": tc.get("id"), "name": None if name is None else str(name), "arguments": args}


def _otel_messages(raw: Any, kind: str) -> list[Message]:
    """gen_ai.input.messages / output.messages / system_instructions (current conventions): a list
    of {role, parts: [{type: text|tool_call|tool_call_response|..., ...}], finish_reason}, or a
    list of parts for system instructions. Older OpenAI-shaped lists ({role, content}) too."""
    val = maybe_json(raw)
    if isinstance(val, dict):
        val = [val]
    if not isinstance(val, list):
        text = _text_of(val)
        return [Message(kind, "system" if kind == "system" else None, text)] if text else []
    if kind == "system":  # a list of parts
        text = _text_of([p.get("content") if isinstance(p, dict) else p for p in val])
        return [Message("system", "system", text)] if text else []
    out = []
    for m in val:
        if not isinstance(m, dict):
            t = _text_of(m)
            if t:
                out.append(Message(kind, None, t))
            continue
        role = m.get("role")
        texts, tools = [], []
        parts = m.get("parts")
        if isinstance(parts, list):
            for p in parts:
                if not isinstance(p, dict):
                    continue
                ptype = p.get("type")
                if ptype == "tool_call":
                    tc = _tool_call(p)
                    if tc:
                        tools.append(tc)
                elif ptype == "tool_call_response":
                    texts.append(_text_of(p.get("response") if "response" in p else p.get("result")))
                else:
                    texts.append(_text_of(p.get("content") if "content" in p else p.get("text")))
        else:
            texts.append(_text_of(m.get("content")))
            for tc in m.get("tool_calls") or []:
                t = _tool_call(tc)
                if t:
                    tools.append(t)
        text = "\n".join(t for t in texts if t) or None
        mkind = "system" if role == "system" and kind == "input" else kind
        out.append(Message(mkind, None if role is None else str(role), text, tools, _opt_str(m.get("finish_reason"))))
    return out


def _opt_str(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)


_INDEX = re.compile(r"^(\d+)\.(.+)$")


def _flat_messages(a: dict, prefix: str, kind: str) -> list[Message]:
    """Flattened indexed messages: gen_ai.prompt.0.role / .content, llm.input_messages.0.message.role
    (OpenInference), tool calls under .tool_calls.N. (Traceloop) or .message.tool_calls.N.tool_call."""
    by_index: dict[int, dict[str, Any]] = {}
    lp = len(prefix)
    for k, v in a.items():
        if not k.startswith(prefix):
            continue
        m = _INDEX.match(k[lp:])
        if m:
            by_index.setdefault(int(m.group(1)), {})[m.group(2).removeprefix("message.")] = v
    out = []
    for _, f in sorted(by_index.items()):
        role = _opt_str(f.get("role"))
        text = _text_of(f.get("content"))
        if text is None:
            parts = sorted(
                (k, v) for k, v in f.items() if k.startswith("contents.") and k.endswith("message_content.text")
            )
            text = "\n".join(str(v) for _, v in parts) or None
        tools: dict[str, dict] = {}
        for k, v in f.items():
            tm = re.match(r"^tool_calls\.(\d+)\.(?:tool_call\.)?(?:function\.)?(name|arguments|id)$", k)
            if tm:
                tools.setdefault(tm.group(1), {"id": None, "name": None, "arguments": None})[tm.group(2)] = (
                    None if v is None else str(v)
                )
        if "function_call.name" in f or "function_call.arguments" in f:
            tools["fc"] = {
                "id": None,
                "name": _opt_str(f.get("function_call.name")),
                "arguments": _opt_str(f.get("function_call.arguments")),
            }
        if text is None and not tools and role is None:
            continue
        mkind = "system" if role == "system" and kind == "input" else kind
        out.append(Message(mkind, role, text, [tools[k] for k in sorted(tools)], _opt_str(f.get("finish_reason"))))
    return out


def span_messages(attrs: dict, events: list | None = None) -> list[Message]:
    """The messages a call's span carries, in order: system, input, output. Reads the same keys as
    the convention mapping; a dialect's structured form first, its plain form otherwise."""
    a = attrs
    out: list[Message] = []
    if "gen_ai.system_instructions" in a:
        out += _otel_messages(a["gen_ai.system_instructions"], "system")
    ins: list[Message] = []
    outs: list[Message] = []
    for key, kind, target in (
        ("gen_ai.input.messages", "input", ins),
        ("gen_ai.output.messages", "output", outs),
        ("ai.prompt.messages", "input", ins),
        ("llm.input_messages.", "input", ins),
        ("llm.output_messages.", "output", outs),
        ("gen_ai.prompt.", "input", ins),
        ("gen_ai.completion.", "output", outs),
        ("llm.prompts.", "input", ins),
        ("llm.completions.", "output", outs),
    ):
        if target:
            continue
        if key.endswith("."):
            if any(k.startswith(key) for k in a):
                target += _flat_messages(a, key, kind)
        elif key in a:
            target += _otel_messages(a[key], kind)
    # Plain single values, when nothing structured was found for that side.
    for key, kind, target in (
        ("gen_ai.prompt", "input", ins),
        ("gen_ai.completion", "output", outs),
        ("input.value", "input", ins),
        ("output.value", "output", outs),
        ("traceloop.entity.input", "input", ins),
        ("traceloop.entity.output", "output", outs),
        ("ai.prompt", "input", ins),
        ("ai.response.text", "output", outs),
        ("langfuse.observation.input", "input", ins),
        ("langfuse.observation.output", "output", outs),
    ):
        if not target and key in a:
            if isinstance(maybe_json(a[key]), list):
                target += _otel_messages(a[key], kind)
            else:
                t = _text_of(a[key])
                if t:
                    target.append(Message(kind, "assistant" if kind == "output" else None, t))
    for e in events or ():
        name = e.get("name") or ""
        ea = e.get("attributes") or {}
        if name in EVENT_KINDS or name.startswith("gen_ai.content."):
            out_msgs = event_messages(name, ea.get("gen_ai.prompt") or ea.get("gen_ai.completion") or ea, ea)
            for m in out_msgs:
                (outs if m.kind == "output" else ins).append(m)
    sys_in = [m for m in ins if m.kind == "system"]
    return out + sys_in + [m for m in ins if m.kind != "system"] + outs


# ---------------------------------------------------------------- GenAI events

#: Event name -> (kind, role) for the per-message events of the older conventions.
EVENT_KINDS = {
    "gen_ai.system.message": ("system", "system"),
    "gen_ai.user.message": ("input", "user"),
    "gen_ai.assistant.message": ("input", "assistant"),
    "gen_ai.tool.message": ("input", "tool"),
    "gen_ai.choice": ("output", "assistant"),
    "gen_ai.content.prompt": ("input", None),
    "gen_ai.content.completion": ("output", "assistant"),
}
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
GENAI_EVENTS = frozenset({*EVENT_KINDS, DETAILS_EVENT})


def is_genai_event(name: str) -> bool:
    return name in GENAI_EVENTS or (name.startswith("gen_ai.") and name.endswith(".message"))


def event_messages(name: str, body: Any, attrs: dict) -> list[Message]:
    """The messages one GenAI event gives: the details event carries lists of messages in its
    attributes (or body); the per-message events one message in their body."""
    if name == DETAILS_EVENT:
        src = attrs
        if isinstance(body, dict) and any(k.startswith("gen_ai.") for k in body):
            src = {**body, **attrs}
        out = []
        if "gen_ai.system_instructions" in src:
            out += _otel_messages(src["gen_ai.system_instructions"], "system")
        if "gen_ai.input.messages" in src:
            out += _otel_messages(src["gen_ai.input.messages"], "input")
        if "gen_ai.output.messages" in src:
            out += _otel_messages(src["gen_ai.output.messages"], "output")
        return out
    kind, role = EVENT_KINDS.get(name, ("input", None))
    if name.endswith(".message") and name not in EVENT_KINDS:
        role = name.removeprefix("gen_ai.").removesuffix(".message") or None
    b = maybe_json(body)
    finish = None
    if isinstance(b, dict):
        msg = b.get("message") if isinstance(b.get("message"), dict) else b
        finish = _opt_str(b.get("finish_reason"))
        role = _opt_str(msg.get("role")) or _opt_str(attrs.get("gen_ai.role")) or role
        text = _text_of(msg.get("content"))
        tools = [t for t in (_tool_call(tc) for tc in msg.get("tool_calls") or []) if t]
    else:
        text, tools = _text_of(b), []
        if text is None:
            text = _text_of(attrs.get("content"))
    if role == "system" and kind == "input":
        kind = "system"
    if text is None and not tools and finish is None and role is None:
        return []
    return [Message(kind, role, text, tools, finish)]


def tool_calls_json(tools: list[dict], policy: str) -> str | None:
    """Tool calls as stored: names and ids always, arguments only under keep."""
    if not tools:
        return None
    if policy != "keep":
        tools = [{"id": t.get("id"), "name": t.get("name")} for t in tools]
    return json.dumps(tools, ensure_ascii=False)
