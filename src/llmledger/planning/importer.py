"""Reading a plan from a JSON export: any bytes in, a requirement set or a clear refusal out.

A file is a plan only if it looks like one: a JSON object with a `name` and a `use_cases` list,
every field of the type the form edits (numbers finite, choices known, the start month a real
YYYY-MM, the horizon 12 to 24 months). Anything else is refused with a PlanningError naming the
first problem, and the caller keeps the plan it had: an unrelated JSON file must never turn into
an empty plan. Values that are well-typed but out of range (a negative volume, say) are let in:
the form shows them with their errors, as it does while typing.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from llmledger.errors import PlanningError
from llmledger.planning.requirements import LOCK_IN, MAX_CANDIDATES, MODALITIES, PRIVACY, RequirementSet, UseCase

#: A plan export is a few kilobytes; this leaves room for thousands of token samples.
MAX_BYTES = 5 * 2**20
_CHOICES = {"privacy": PRIVACY, "lock_in": LOCK_IN}


def _refuse(msg: str) -> PlanningError:
    return PlanningError(f"not a plan export: {msg}")


def _number(where: str, v: Any, *, optional: bool, integer: bool = False) -> float | int | None:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _refuse(f"{where} must be a number{' or null' if optional else ''}, not {_show(v)}")
    try:
        finite = math.isfinite(v)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite:
        raise _refuse(f"{where} must be a finite number, not {str(v)[:20]}")
    if integer:
        if not float(v).is_integer():
            raise _refuse(f"{where} must be a whole number, not {v}")
        return int(v)
    return float(v)


def _text(where: str, v: Any) -> str:
    if not isinstance(v, str):
        raise _refuse(f"{where} must be text, not {_show(v)}")
    return v


def _list(where: str, v: Any) -> list:
    if not isinstance(v, list):
        raise _refuse(f"{where} must be a list, not {_show(v)}")
    return v


def _show(v: Any) -> str:
    kind = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}
    return kind.get(type(v), repr(v)[:40])


def _use_case(i: int, d: Any) -> UseCase:
    if not isinstance(d, dict):
        raise _refuse(f"use case {i + 1} must be an object, not {_show(d)}")
    known = {f.name: f for f in dataclasses.fields(UseCase)}
    unknown = sorted(k for k in d if k not in known)
    if unknown:
        raise _refuse(f"use case {i + 1} has unknown field(s) {', '.join(map(repr, unknown[:5]))}")
    values: dict[str, Any] = {}
    for name, v in d.items():
        where = f"use case {i + 1} field {name!r}"
        kind = known[name].type
        if kind in ("float", "float | None", "int | None"):
            values[name] = _number(where, v, optional=kind != "float", integer=kind == "int | None")
        elif kind == "str":
            values[name] = _text(where, v)
        elif kind == "list[str]":
            values[name] = [_text(f"{where} item", x) for x in _list(where, v)]
        elif kind in ("list[int]", "list[float]"):
            values[name] = [_number(f"{where} item", x, optional=False) for x in _list(where, v)]
            if kind == "list[int]":
                values[name] = [int(round(x)) for x in values[name]]
        else:  # a field type this reader does not know: refuse rather than guess
            raise _refuse(f"{where} cannot be read")
    uc = UseCase(**values)
    for name, options in _CHOICES.items():
        if getattr(uc, name) not in options:
            raise _refuse(f"use case {i + 1}: {name} {getattr(uc, name)!r} is not one of {', '.join(options)}")
    bad = [m for m in uc.modalities if m not in MODALITIES]
    if bad:
        raise _refuse(
            f"use case {i + 1}: unknown modality {', '.join(map(repr, bad))} (one of {', '.join(MODALITIES)})"
        )
    return uc


def _start_month(v: Any) -> str:
    text = _text("start_month", v)
    parts = text.split("-")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts) or len(parts[0]) != 4:
        raise _refuse(f"start_month {text[:20]!r} is not YYYY-MM")
    y, m = int(parts[0]), int(parts[1])
    if not (1 <= m <= 12 and 1900 < y < 3000):
        raise _refuse(f"start_month {text[:20]!r} is not a month between 1901 and 2999")
    return f"{y:04d}-{m:02d}"


def plan_from_dict(d: Any) -> RequirementSet:
    """A requirement set from a parsed export, or a PlanningError naming the first problem."""
    if not isinstance(d, dict):
        raise _refuse(f"the file holds {_show(d)}, not an object with a plan's name and use cases")
    missing = [k for k in ("name", "use_cases") if k not in d]
    if missing:
        raise _refuse(f"no {' or '.join(map(repr, missing))} field (a JSON export from the Plan page has both)")
    known = {f.name for f in dataclasses.fields(RequirementSet)}
    unknown = sorted(k for k in d if k not in known)
    if unknown:
        raise _refuse(f"unknown field(s) {', '.join(map(repr, unknown[:5]))}")
    rs = RequirementSet(name=_text("name", d["name"]))
    if "description" in d:
        rs.description = _text("description", d["description"])
    if "start_month" in d:
        rs.start_month = _start_month(d["start_month"])
    if "horizon_months" in d:
        rs.horizon_months = _number("horizon_months", d["horizon_months"], optional=False, integer=True)
        if not 12 <= rs.horizon_months <= 24:
            raise _refuse(f"horizon_months must be 12 to 24, not {rs.horizon_months}")
    if "sheet" in d:
        rs.sheet = _text("sheet", d["sheet"])
    if "candidates" in d:
        rs.candidates = list(dict.fromkeys(_text("candidates item", x) for x in _list("candidates", d["candidates"])))
        if len(rs.candidates) > MAX_CANDIDATES:
            raise _refuse(f"at most {MAX_CANDIDATES} candidate models, not {len(rs.candidates)}")
    if "version" in d:
        rs.version = _number("version", d["version"], optional=False, integer=True)
    rs.use_cases = [_use_case(i, u) for i, u in enumerate(_list("use_cases", d["use_cases"]))]
    return rs


def plan_from_bytes(data: bytes) -> RequirementSet:
    """A requirement set from an uploaded file's bytes: UTF-8 JSON of a plan export."""
    if len(data) > MAX_BYTES:
        raise _refuse(f"the file is {len(data):,} bytes; a plan export is at most {MAX_BYTES:,}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(
            f"the file is not UTF-8 text (byte {exc.start} cannot be decoded); is it a JSON export?"
        ) from None
    return plan_from_text(text)


def plan_from_text(text: str) -> RequirementSet:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _refuse(f"not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise _refuse("the JSON nests too deeply") from None
    return plan_from_dict(data)
