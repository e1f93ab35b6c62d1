"""Tokens of a chat request as the API bills them, where the framing is published.

OpenAI's cookbook ("How to count tokens with tiktoken") gives the framing for gpt-3.5-turbo,
gpt-4 and gpt-4o: every message costs 3 tokens plus its role, content (and name, +1), and every
reply is primed with 3 more (`<|start|>assistant<|message|>`); gpt-3.5-turbo-0301 used 4 per
message and -1 per name. Tool definitions add a published per-function/per-property overhead.
Other providers do not publish their framing, so their counts use the same formula and are
labelled approximate.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from llmledger.errors import TokenizerError
from llmledger.tokens import registry
from llmledger.tokens.counting import TokenCount
from llmledger.tokens.models import normalise_model, tokenizer_for_model

# Families whose framing OpenAI published and checked against the API.
_PUBLISHED = re.compile(r"^(gpt-4o|chatgpt-4o|gpt-4(?![.\d])|gpt-4-|gpt-3\.5-turbo)")
# Tool-definition overhead from the same cookbook: (func_init, prop_init, prop_key, enum_init,
# enum_item, func_end).
_TOOLS_O200K = (7, 3, 3, -3, 3, 12)
_TOOLS_CL100K = (10, 3, 3, -3, 3, 12)
# An image part's cost depends on its size and detail, which a message list does not carry;
# 85 tokens is OpenAI's fixed cost of a low-detail image.
IMAGE_PART_TOKENS = 85

_TEXT_PART_TYPES = ("text", "input_text", "output_text")
_IMAGE_PART_TYPES = ("image_url", "input_image", "image")


def _framing(model: str) -> tuple[int, int, bool]:
    """(tokens per message, tokens per name, published?) for `model`."""
    m = normalise_model(model)
    if "0301" in model and m.startswith("gpt-3.5-turbo"):
        return 4, -1, True
    return 3, 1, bool(_PUBLISHED.search(m))


def _content_tokens(content: Any, count, notes: set[str]) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return count(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, str):
                total += count(part)
            elif not isinstance(part, dict):
                raise TokenizerError(f"message content part must be a string or an object, not {type(part).__name__}")
            elif part.get("type") in _TEXT_PART_TYPES or ("text" in part and "type" not in part):
                total += count(str(part.get("text") or ""))
            elif part.get("type") in _IMAGE_PART_TYPES:
                total += IMAGE_PART_TOKENS
                notes.add(f"image parts estimated at {IMAGE_PART_TOKENS} tokens each (low detail)")
            else:
                total += count(json.dumps(part, ensure_ascii=False))
                notes.add(f"'{part.get('type')}' parts counted as their JSON")
        return total
    raise TokenizerError(f"message content must be a string or a list of parts, not {type(content).__name__}")


def _tool_call_tokens(calls: Iterable, count, notes: set[str]) -> int:
    total = 0
    for call in calls or []:
        fn = (call or {}).get("function") or {}
        total += count(str(fn.get("name") or "")) + count(str(fn.get("arguments") or ""))
    notes.add("tool calls counted as name + arguments (framing unpublished)")
    return total


def messages_tokens(messages: list[dict], count, per_message: int, per_name: int, notes: set[str]) -> int:
    if not isinstance(messages, list):
        raise TokenizerError("messages must be a list of {role, content} objects")
    total = 0
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or "role" not in msg:
            raise TokenizerError(f"message {i} must be an object with a 'role'")
        total += per_message
        for key, value in msg.items():
            if key == "content":
                total += _content_tokens(value, count, notes)
            elif key == "tool_calls":
                total += _tool_call_tokens(value, count, notes)
            elif key == "function_call":
                total += _tool_call_tokens([{"function": value}], count, notes)
            elif isinstance(value, str):  # role, name, tool_call_id ...
                total += count(value)
                if key == "name":
                    total += per_name
                elif key != "role":
                    notes.add(f"'{key}' counted as text")
            elif value is not None:
                total += count(json.dumps(value, ensure_ascii=False))
                notes.add(f"'{key}' counted as its JSON")
    return total + 3  # every reply is primed with <|start|>assistant<|message|>


def tools_tokens(tools: list[dict], count, consts: tuple[int, ...]) -> int:
    """OpenAI's published overhead of function definitions."""
    func_init, prop_init, prop_key, enum_init, enum_item, func_end = consts
    total = 0
    for tool in tools:
        fn = tool.get("function", tool)
        desc = str(fn.get("description") or "").removesuffix(".")
        total += func_init + count(f"{fn.get('name', '')}:{desc}")
        props = (fn.get("parameters") or {}).get("properties") or {}
        if props:
            total += prop_init
            for key, prop in props.items():
                total += prop_key
                if "enum" in prop:
                    total += enum_init
                    for item in prop["enum"]:
                        total += enum_item + count(str(item))
                p_desc = str(prop.get("description") or "").removesuffix(".")
                total += count(f"{key}:{prop.get('type', '')}:{p_desc}")
    return total + func_end if tools else 0


def count_messages(messages: list[dict], model: str, tools: list[dict] | None = None) -> TokenCount:
    """Prompt tokens of a chat request to `model`: content plus the chat framing overhead."""
    choice = tokenizer_for_model(model)
    tok = registry.get(choice.name)
    count = tok.count
    per_message, per_name, published = _framing(model)
    notes: set[str] = set()
    total = messages_tokens(messages, count, per_message, per_name, notes)
    if tools:
        consts = _TOOLS_O200K if choice.name == "o200k_base" else _TOOLS_CL100K
        total += tools_tokens(tools, count, consts)
    exact = choice.exact and published and not notes
    lead = (
        "OpenAI's published chat framing"
        if published
        else ("approximate: this provider's chat framing is unpublished; OpenAI's per-message overhead used")
    )
    parts = [lead, choice.note] + sorted(notes)
    return TokenCount(total, choice.name, exact, "; ".join(p for p in parts if p))


def parse_messages(text: str) -> list:
    """A chat messages JSON (a list, or an object with "messages"), or a TokenizerError saying
    what is wrong with it."""
    if not text.strip():
        raise TokenizerError("Paste a messages JSON first.", "Nothing to count")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TokenizerError(
            f"The messages JSON is broken at line {exc.lineno}, column {exc.colno}: {exc.msg}.", "Broken JSON"
        ) from None
    if isinstance(doc, dict) and "messages" in doc:
        doc = doc["messages"]
    if not isinstance(doc, list) or not doc:
        raise TokenizerError(
            'Expected a non-empty list of messages like [{"role": "user", "content": "…"}].', "Not a messages list"
        )
    return doc


def messages_text(messages: list) -> str:
    """The text contents of messages joined, for per-tokenizer counts (no chat framing)."""
    parts = []
    for m in messages:
        c = m.get("content") if isinstance(m, dict) else m
        if isinstance(c, list):
            c = "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in c)
        if c:
            parts.append(str(c))
    return "\n".join(parts)
