"""Pydantic validation errors as one line per bad key, named by its dotted path."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError


class PathError(ValueError):
    """Raised inside validators to point at a nested key."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def explain(exc: ValidationError) -> list[str]:
    errors = exc.errors()
    paths = [tuple(error["loc"]) for error in errors]
    lines = []
    for error in errors:
        here = tuple(error["loc"])
        if error["type"] == "too_short" and any(
            p[: len(here)] == here and p != here for p in paths
        ):
            continue  # a bad item was dropped; its own error says what is wrong
        path: tuple[str | int, ...] = here
        message = _message(error)
        context = error.get("ctx") or {}
        inner = context.get("error")
        if isinstance(inner, PathError):
            path, message = path + inner.path, inner.message
        lines.append(f"{dotted(path)}: {message}")
    return lines


def dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_.-]+", part) and "." not in part:
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "(top level)"


_MESSAGES = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
}


def _message(error: Any) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "literal_error":
        key = error["loc"][-1] if error["loc"] else "value"
        what = f"unknown {str(key).replace('_', ' ')}" if key == "type" else "unknown value"
        if len(error["loc"]) >= 2 and key == "type":
            what = f"unknown {str(error['loc'][-2]).replace('_', ' ')} type"
        return f"{what} {error['input']!r} (choose from: {context.get('expected', '')})"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} is not a valid name (letters, digits, '.', '_', '-')"
    if kind in ("too_short",) and context.get("min_length"):
        return f"needs at least {context['min_length']} item(s)"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal"):
        return str(error["msg"]).replace("Input should be", "must be")
    if kind == "value_error" and isinstance(context.get("error"), PathError):
        return str(context["error"])
    if kind == "value_error":
        return str(context.get("error", error["msg"]))
    return _MESSAGES.get(kind, str(error["msg"]))
