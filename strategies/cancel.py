"""Cancelling a deploy: softly between steps, or at once."""

from __future__ import annotations

import threading
from collections.abc import Callable


class CancelToken:
    """``cancel`` stops the deploy at the next step boundary; ``abort`` also
    kills running commands and cuts waits short.

    ``remote`` is polled too, so a cancel requested by another process (through
    the store) reaches a running deploy.
    """

    def __init__(self, remote: Callable[[], bool] | None = None) -> None:
        self.cancel_event = threading.Event()
        self.abort_event = threading.Event()
        self._remote = remote

    def bind_remote(self, remote: Callable[[], bool]) -> None:
        self._remote = remote

    def cancel(self) -> None:
        self.cancel_event.set()

    def abort(self) -> None:
        self.cancel_event.set()
        self.abort_event.set()

    @property
    def aborted(self) -> bool:
        return self.abort_event.is_set()

    def requested(self) -> bool:
        if not self.cancel_event.is_set() and self._remote is not None and self._remote():
            self.cancel_event.set()
        return self.cancel_event.is_set()
