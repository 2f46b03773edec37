"""Typed app settings: a plain registry of keys, their types and defaults."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_TRUE = {"true", "yes", "on", "1"}
_COUNT = re.compile(r"[0-9]{1,6}")
MAX_COUNT = 999_999
_FALSE = {"false", "no", "off", "0"}


class SettingError(ValueError):
    """An unknown key or a bad value; the message names what is allowed."""


@dataclass(frozen=True)
class SettingSpec:
    key: str
    kind: str  # shown to users: "true or false", "an integer >= 0"
    default: Any
    help: str
    parse: Callable[[str], Any]


def _parse_bool(key: str) -> Callable[[str], bool]:
    def parse(raw: str) -> bool:
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise SettingError(f"{key}: expected true or false, got {raw!r}")

    return parse


def _parse_count(key: str) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        # ASCII digits only: str.isdigit() also accepts "²" and "١٢", and int() not all of them.
        text = raw.strip()
        if not _COUNT.fullmatch(text):
            raise SettingError(f"{key}: expected an integer from 0 to {MAX_COUNT:,}, got {raw!r}")
        return int(text)

    return parse


SETTINGS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec(
            "deploy.parallel",
            "true or false",
            False,
            "deploy every server at once instead of one at a time",
            _parse_bool("deploy.parallel"),
        ),
        SettingSpec(
            "deploy.max_parallel",
            "an integer >= 0",
            0,
            "at most this many servers at once in a parallel deploy (0 = all)",
            _parse_count("deploy.max_parallel"),
        ),
    )
}


def spec_for(key: str) -> SettingSpec:
    try:
        return SETTINGS[key]
    except KeyError:
        raise SettingError(
            f"unknown setting {key!r} (settings: {', '.join(sorted(SETTINGS))})"
        ) from None


def parse_setting(key: str, raw: str) -> Any:
    """The typed value of ``raw`` for ``key``; SettingError if the key or value is bad."""
    return spec_for(key).parse(raw)


def effective_settings(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Every known key with its stored value, or its default."""
    return {key: stored.get(key, spec.default) for key, spec in SETTINGS.items()}


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
