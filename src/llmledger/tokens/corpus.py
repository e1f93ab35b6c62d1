"""Reading an uploaded corpus (the Estimate page) into a list of documents.

- `.txt`: split into documents at blank lines (one or more empty lines), because a prompt file
  usually holds one example per paragraph; a file without blank lines is one document. Pass
  `txt_split=False` to keep the whole file as one document.
- `.csv`: one document per row, from `column` or, if not given, the first column named like
  text/prompt/content/input/question/message/body, else the column with the longest values.
- `.jsonl` / `.ndjson`: one document per line, from a `text`, `prompt`, `input`, `content` or
  `messages` field (messages are joined as their text contents, one per line); OpenAI batch
  lines (`{"body": {"messages": ...}}`) work too.
- `.json`: a list of strings or of objects read as the JSONL lines are.
"""

from __future__ import annotations

import csv
import io
import json
import re

from llmledger.errors import TokenizerError

TEXT_FIELDS = ("text", "prompt", "input", "content", "question", "query", "message", "body")
SUPPORTED = (".txt", ".md", ".csv", ".jsonl", ".ndjson", ".json")


def decode_text(name: str, data: bytes) -> str:
    """UTF-8 text of an uploaded file, or a TokenizerError saying why it is not text."""
    if not isinstance(data, (bytes, bytearray)):
        raise TokenizerError(f"{name}: expected bytes, got {type(data).__name__}")
    if not data.strip():
        raise TokenizerError(f"{name} is empty")
    if b"\x00" in data[:8192]:
        raise TokenizerError(f"{name} looks binary (it contains NUL bytes), not text")
    try:
        return bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TokenizerError(f"{name} is not UTF-8 text (bad byte at offset {exc.start})") from exc


def read_corpus(name: str, data: bytes, column: str | None = None, txt_split: bool = True) -> list[str]:
    """The documents in an uploaded file; `name` (its file name) picks the format."""
    suffix = "." + name.lower().rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in SUPPORTED:
        raise TokenizerError(f"{name}: unsupported file type '{suffix or name}' (use {', '.join(SUPPORTED)})")
    text = decode_text(name, data)
    if suffix in (".txt", ".md"):
        docs = [d.strip("\n") for d in re.split(r"\n[ \t]*\n+", text.replace("\r\n", "\n"))] if txt_split else [text]
        docs = [d for d in docs if d.strip()]
    elif suffix == ".csv":
        docs = _read_csv(name, text, column)
    elif suffix == ".json":
        docs = _read_json(name, text)
    else:
        docs = _read_jsonl(name, text)
    if not docs:
        raise TokenizerError(f"{name} holds no documents")
    return docs


def _pick_column(name: str, header: list[str], rows: list[list[str]], column: str | None) -> int:
    lowered = [h.strip().lower() for h in header]
    if column is not None:
        if column.strip().lower() not in lowered:
            raise TokenizerError(f"{name}: no column '{column}' (columns: {', '.join(header)})")
        return lowered.index(column.strip().lower())
    for field in TEXT_FIELDS:
        if field in lowered:
            return lowered.index(field)
    lengths = [0] * len(header)
    for row in rows[:500]:
        for i, v in enumerate(row[: len(header)]):
            lengths[i] += len(v)
    return max(range(len(header)), key=lambda i: lengths[i])


def _read_csv(name: str, text: str, column: str | None) -> list[str]:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise TokenizerError(f"{name}: broken CSV ({exc})") from exc
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise TokenizerError(f"{name} is empty")
    header, body = rows[0], rows[1:]
    if not body:
        raise TokenizerError(f"{name}: a header row but no data rows")
    idx = _pick_column(name, header, body, column)
    for n, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise TokenizerError(f"{name}: row {n} has {len(row)} fields, the header has {len(header)}")
    return [row[idx] for row in body if row[idx].strip()]


def _message_text(messages, where: str) -> str:
    if not isinstance(messages, list):
        raise TokenizerError(f"{where}: 'messages' must be a list")
    out = []
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else m
        if isinstance(content, list):
            content = "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
        if content:
            out.append(str(content))
    return "\n".join(out)


def _record_text(obj, where: str) -> str:
    if isinstance(obj, str):
        return obj
    if not isinstance(obj, dict):
        raise TokenizerError(f"{where}: expected an object or a string, got {type(obj).__name__}")
    if isinstance(obj.get("body"), dict):  # OpenAI batch input line
        obj = obj["body"]
    if "messages" in obj:
        return _message_text(obj["messages"], where)
    for field in TEXT_FIELDS:
        value = obj.get(field)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and field == "input":  # Responses API input items
            return _message_text(value, where)
    fields = ", ".join(list(obj)[:8]) or "none"
    raise TokenizerError(f"{where}: no text field (looked for messages, {', '.join(TEXT_FIELDS)}; found {fields})")


def _read_jsonl(name: str, text: str) -> list[str]:
    docs = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TokenizerError(f"{name}: line {n} is not valid JSON ({exc.msg})") from exc
        docs.append(_record_text(obj, f"{name} line {n}"))
    return docs


def _read_json(name: str, text: str) -> list[str]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TokenizerError(f"{name}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if isinstance(obj, dict):
        obj = [obj]
    if not isinstance(obj, list):
        raise TokenizerError(f"{name}: expected a list of documents")
    return [_record_text(o, f"{name} item {i}") for i, o in enumerate(obj)]
