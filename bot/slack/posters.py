"""One ``SlackPoster`` per channel, behind the poster's own interface.

Slack rate-limits ``chat.postMessage`` per channel, and a poster delivers its
calls in order: with one poster for the whole bot, a 429 (or a failure storm
paced by the token bucket) in one channel would hold back every other
channel's deploy thread. Per channel, order is kept where it matters (within
a thread) and one busy channel never delays another.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from slack_sdk import WebClient

from bot.slack.message import MessageRef
from bot.slack.poster import Blocks, SlackPoster


class Poster(Protocol):
    """What the deploy thread, approvals and replies need to send to Slack."""

    def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: Blocks | None = None,
        thread: MessageRef | None = None,
    ) -> MessageRef: ...

    def update(self, message: MessageRef, text: str, *, blocks: Blocks | None = None) -> None: ...

    def ephemeral(
        self, channel: str, user: str, text: str, *, thread: MessageRef | None = None
    ) -> None: ...

    def react(self, message: MessageRef, name: str) -> None: ...

    def upload(
        self,
        channel: str,
        content: bytes,
        *,
        filename: str,
        title: str,
        thread: MessageRef,
        on_failure: Callable[[str], None],
    ) -> None: ...

    def flush(self, timeout: float = 30) -> bool: ...

    def close(self, timeout: float = 30) -> None: ...


class ChannelPosters:
    """A ``Poster`` that keeps one ordered ``SlackPoster`` (one worker) per channel."""

    def __init__(self, client: WebClient, **options: Any) -> None:
        self._client = client
        self._options = options
        self._posters: dict[str, SlackPoster] = {}
        self._lock = threading.Lock()

    def _for(self, channel: str) -> SlackPoster:
        with self._lock:
            if channel not in self._posters:
                self._posters[channel] = SlackPoster(self._client, **self._options)
            return self._posters[channel]

    def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: Blocks | None = None,
        thread: MessageRef | None = None,
    ) -> MessageRef:
        return self._for(channel).post(channel, text, blocks=blocks, thread=thread)

    def update(self, message: MessageRef, text: str, *, blocks: Blocks | None = None) -> None:
        self._for(message.channel).update(message, text, blocks=blocks)

    def ephemeral(
        self, channel: str, user: str, text: str, *, thread: MessageRef | None = None
    ) -> None:
        self._for(channel).ephemeral(channel, user, text, thread=thread)

    def react(self, message: MessageRef, name: str) -> None:
        self._for(message.channel).react(message, name)

    def upload(
        self,
        channel: str,
        content: bytes,
        *,
        filename: str,
        title: str,
        thread: MessageRef,
        on_failure: Callable[[str], None],
    ) -> None:
        self._for(channel).upload(
            channel, content, filename=filename, title=title, thread=thread, on_failure=on_failure
        )

    def flush(self, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            posters = list(self._posters.values())
        return all(p.flush(max(0.0, deadline - time.monotonic())) for p in posters)

    def close(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            posters = list(self._posters.values())
        for poster in posters:
            poster.close(max(0.0, deadline - time.monotonic()))
