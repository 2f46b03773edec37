"""Logging for the long-running front ends (serve, socket): one line per record,
the bot's secrets redacted, control characters escaped; request bodies are
never logged."""

from __future__ import annotations

import logging
import sys

from adapters.secrets import RedactingFilter
from strategies.text import printable


class _PrintableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("%(asctime)s %(name)s %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
