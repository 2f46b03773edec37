"""A Slack message that is or will be posted: its ``ts`` arrives when Slack answers.

The poster hands one back at once, so a deploy never waits for Slack; what
needs the timestamp (a thread reply, an update) waits on it instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class MessageNotPosted(Exception):
    """The message could not be posted; the reason was logged."""


class MessageRef:
    """A message that is or will be posted; ``ts`` resolves once Slack answers."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._settled = threading.Event()
        self._ts: str | None = None
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[str], None]] = []
        self._failed: list[Callable[[], None]] = []

    @classmethod
    def existing(cls, channel: str, ts: str) -> MessageRef:
        """A message posted earlier (an approval request, even after a restart)."""
        ref = cls(channel)
        ref.settle(ts)
        return ref

    def ts(self, timeout: float | None = None) -> str:
        """Block until the message is delivered; its Slack timestamp."""
        if not self._settled.wait(timeout):
            raise TimeoutError(f"message to {self.channel} not delivered in {timeout}s")
        if self._ts is None:
            raise MessageNotPosted(f"message to {self.channel} could not be posted")
        return self._ts

    def peek(self) -> str | None:
        """The timestamp if delivered, else None (not yet, or never)."""
        return self._ts

    def wait(self, timeout: float) -> str | None:
        """The timestamp once Slack answered (waiting up to ``timeout``); None if never."""
        self._settled.wait(timeout)
        return self._ts

    @property
    def settled(self) -> bool:
        return self._settled.is_set()

    def settle(self, ts: str | None) -> None:
        """Set by the poster when Slack answered: the ts, or None if it never will."""
        with self._lock:
            self._ts = ts
            self._settled.set()
            callbacks, self._callbacks = self._callbacks, []
            failed, self._failed = self._failed, []
        if ts is not None:
            for callback in callbacks:
                _call(callback, ts)
        else:
            for on_failure in failed:
                _call_failed(on_failure)

    def when_posted(
        self, callback: Callable[[str], None], failed: Callable[[], None] | None = None
    ) -> None:
        """Call ``callback(ts)`` once the message is posted (now, if it is already),
        or ``failed()`` if it never will be."""
        with self._lock:
            if not self._settled.is_set():
                self._callbacks.append(callback)
                if failed is not None:
                    self._failed.append(failed)
                return
        if self._ts is not None:
            _call(callback, self._ts)
        elif failed is not None:
            _call_failed(failed)

    def __repr__(self) -> str:
        return f"MessageRef({self.channel!r}, ts={self._ts!r})"


def _call(callback: Callable[[str], None], ts: str) -> None:
    try:
        callback(ts)
    except Exception:  # whoever waits for the message must not lose it to a callback
        log.exception("callback on a posted message failed")


def _call_failed(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:
        log.exception("callback on a message that could not be posted failed")
