"""Keeps posted messages true when another process changes what they show: an
interrupted deploy's parent once ``shipbot recover`` (in a terminal, or on another
replica) puts its servers back.

``tick`` runs on the housekeeping thread every second: one cheap read of the
store's change mark; only when it moved, one query for the interrupted deploys
touched since the last look (with an overlap, for clock skew between processes
and transactions still open), rendered with the announcement's own rendering.
A message is updated only when what it would show changed: each rendering's
digest is claimed in the store first, so of several replicas one updates it.
The live path (a deploy's own thread, an approval's decision) keeps its
messages true itself; this covers only what no live listener saw.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import timedelta
from typing import Protocol

from bot.slack.interrupted import digest, interrupted_parent
from bot.slack.message import MessageRef
from bot.slack.posters import Poster
from strategies.ports import Clock
from strategies.records import InterruptedThread
from strategies.store import ChangeFeed, ShownMessages

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
REMEMBERED = 1000  # digests kept in memory, to spare the store unchanged claims


class TruthStore(ChangeFeed, ShownMessages, Protocol):
    """What keeping messages true needs of the store."""


class MessageTruth:
    def __init__(
        self, *, store: TruthStore, poster: Poster, clock: Clock, overlap: timedelta = OVERLAP
    ) -> None:
        self._store, self._poster, self._clock = store, poster, clock
        self._overlap = overlap
        self._mark: str | None = None
        self._since = clock.now() - overlap
        self._shown: OrderedDict[tuple[str, str], str] = OrderedDict()

    def tick(self) -> None:
        """Re-render the messages whose state another process may have changed."""
        mark = self._store.change_mark()
        if mark == self._mark:
            return
        now = self._clock.now()
        for thread in self._store.interrupted_threads_since(self._since):
            try:
                self._show(thread)
            except Exception:  # one message's trouble must not keep the others stale
                log.exception("could not re-render deploy #%s's message", thread.deploy.id)
        self._mark, self._since = mark, now - self._overlap

    def _show(self, thread: InterruptedThread) -> None:
        channel, ts = thread.deploy.channel, thread.deploy.thread_ts
        if channel is None or ts is None:
            return
        text, parts = interrupted_parent(thread)
        shown = digest(text, parts)
        if self._shown.get((channel, ts)) == shown:
            return
        if self._store.claim_shown(channel, ts, shown, self._clock.now()):
            self._poster.update(MessageRef.existing(channel, ts), text, blocks=parts)
        self._remember((channel, ts), shown)

    def _remember(self, key: tuple[str, str], shown: str) -> None:
        self._shown[key] = shown
        self._shown.move_to_end(key)
        while len(self._shown) > REMEMBERED:
            self._shown.popitem(last=False)
