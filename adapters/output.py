"""What a command printed, as reports keep it: a bounded tail, safe to show.

Only the last ``KEEP`` bytes are ever held, however much a command prints;
the tail shown is its last 20 lines (4,000 characters at most), with the
bot's secrets redacted and control characters escaped.
"""

from __future__ import annotations

from adapters.secrets import redact
from strategies.text import printable

TAIL_LINES = 20
TAIL_CHARS = 4000
KEEP = 64 * 1024  # bytes kept per command


def output_tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last ``lines`` lines of ``text``, at most ``chars`` characters, safe to show."""
    tail = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return printable(redact(tail[-chars:]))


class TailBuffer:
    """Bytes appended as they arrive; only the last ``keep`` are held."""

    def __init__(self, keep: int = KEEP) -> None:
        self.data = bytearray()
        self._keep = keep

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * self._keep:  # trim in big steps, not on every chunk
            del self.data[: -self._keep]

    def tail(self) -> str:
        return output_tail(bytes(self.data[-self._keep :]).decode("utf-8", "replace"))
