"""Text from commands and people, made safe to show: no control characters.

A deploy command's output (or a request) may carry terminal escapes that
retitle a window, clear a screen or hide lines; shown raw in a terminal or a
log they act. ``printable`` writes them as visible escapes instead.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, and the C1 controls (ESC's 8-bit twins).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character but tab and newline as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def one_line(text: str) -> str:
    """``printable`` on one line: newlines and tabs escaped too."""
    return printable(text).replace("\n", "\\n").replace("\t", "\\t")


_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")


def person(user: str) -> str:
    """``<@U0LEAD>`` for a Slack user id (Slack shows the name), the name otherwise."""
    return f"<@{user}>" if _SLACK_USER.fullmatch(user) else user


def sentence(text: str) -> str:
    """``text`` with a capital first letter (the rest as it is)."""
    return text[:1].upper() + text[1:]
