"""A number of servers as people write it: a count (``2``) or a share (``"25%"``).

Used by limits such as ``deploy.max_failures``. A share is always rounded
*down* to whole servers (25% of 7 servers is 1, not 2): a limit a person
wrote must never be exceeded by rounding.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


@dataclass(frozen=True)
class Amount:
    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, value: Any) -> Amount:
        """From ``3``, ``"3"`` or ``"25%"``; ValueError with what is allowed otherwise."""
        if isinstance(value, Amount):
            return value
        if isinstance(value, bool):
            raise ValueError("expected a count such as 2 or a percentage such as '25%'")
        if isinstance(value, int):
            if value < 0:
                raise ValueError("a count cannot be negative")
            return cls(count=value)
        if isinstance(value, str):
            text = value.strip()
            if text.isascii() and text.isdigit() and len(text) <= 9:
                return cls(count=int(text))
            match = _PERCENT.fullmatch(text)
            if match:
                percent = float(match[1])
                if percent > 100:
                    raise ValueError(f"{value!r}: a percentage cannot exceed 100%")
                return cls(percent=percent)
        raise ValueError(f"expected a count such as 2 or a percentage such as '25%', got {value!r}")

    def floor_of(self, total: int) -> int:
        """Whole servers of ``total``: a count as it is (at most ``total``), a share
        rounded down."""
        if self.count is not None:
            return min(self.count, total)
        assert self.percent is not None
        # A small epsilon: 0.3 * 10 is 2.9999999999999996 in binary floating point.
        return min(total, math.floor(self.percent * total / 100 + 1e-9))

    def ceil_of(self, total: int) -> int:
        """Whole servers of ``total``, a share rounded *up*: for floors that must be
        met (``min_healthy: 50%`` of 7 servers is 4)."""
        if self.count is not None:
            return min(self.count, total)
        assert self.percent is not None
        return min(total, math.ceil(self.percent * total / 100 - 1e-9))

    def __str__(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent:g}%"
