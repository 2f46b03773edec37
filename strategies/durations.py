"""Durations as people write them in manifests and chat: ``90``, ``2s``, ``30m``, ``1h30m``."""

from __future__ import annotations

import re
from typing import Any

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LONGEST = 366 * 86400.0  # no duration shipbot takes is longer than a year
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as ``30m``; ValueError otherwise."""
    seconds = _parse(value)
    if seconds != seconds or seconds > LONGEST:  # NaN, or absurdly long
        raise ValueError(f"a duration must be at most 366 days, got {value!r}")
    return seconds


def _parse(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90, 30s, 30m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if len(text) > 40 or not text.isascii():
            raise ValueError(f"expected a duration such as 90, 30s, 30m or 1h, got {value!r}")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return float(text)
        if text and re.fullmatch(f"(?:{_PART.pattern})+", text):
            return float(sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))
    raise ValueError(f"expected a duration such as 90, 30s, 30m or 1h, got {value!r}")


def format_duration(seconds: float) -> str:
    """``0.4s``, ``12s``, ``2m 5s``, ``1h 2m``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"
