"""Keeps opened Home tabs true: publish on ``app_home_opened``, and again whenever
the store's change mark moves, whichever process (a CLI lock, another replica,
a reaction) made the change.

``tick`` runs on the housekeeping thread every second: one cheap read of the
mark, then at most one ``views.publish`` per user per ``min_gap`` seconds
(a burst of changes is coalesced into one publish). Only users who opened
their Home within ``window`` seconds are followed, at most ``max_users``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.home import home_view
from bot.wiring import Services

log = logging.getLogger(__name__)


class HomeTabs:
    def __init__(
        self,
        *,
        client: WebClient,
        services: Services,
        window: float = 8 * 3600.0,
        min_gap: float = 1.0,
        max_users: int = 500,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._services = client, services
        self._window, self._min_gap, self._max_users = window, min_gap, max_users
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._opened: dict[str, float] = {}  # user -> when they last opened Home
        self._published: dict[str, float] = {}  # user -> when we last published it
        self._dirty: set[str] = set()
        self._mark: str | None = None

    def opened(self, user: str) -> None:
        """``app_home_opened``: follow this user, and publish their Home now."""
        mark = self._services.store.change_mark() if self._mark is None else None
        now = self._monotonic()
        with self._lock:
            if mark is not None and self._mark is None:
                self._mark = mark  # what this first publish shows
            self._opened[user] = now
            if len(self._opened) > self._max_users:
                oldest = min(self._opened, key=self._opened.__getitem__)
                self._forget(oldest)
            self._dirty.discard(user)
            self._published[user] = now
        self._publish(user)

    def tick(self) -> None:
        """Republish the opened Homes if what they show may have changed."""
        mark = self._services.store.change_mark()
        now = self._monotonic()
        with self._lock:
            for user in [u for u, at in self._opened.items() if now - at > self._window]:
                self._forget(user)
            if mark != self._mark:
                if self._mark is not None:
                    self._dirty |= set(self._opened)
                self._mark = mark
            due = [u for u in self._dirty if now - self._published.get(u, 0.0) >= self._min_gap]
            for user in due:
                self._dirty.discard(user)
                self._published[user] = now
        for user in due:
            self._publish(user)

    def _forget(self, user: str) -> None:
        self._opened.pop(user, None)
        self._published.pop(user, None)
        self._dirty.discard(user)

    def _publish(self, user: str) -> None:
        try:
            self._client.views_publish(user_id=user, view=home_view(self._services, user))
        except SlackApiError as exc:
            log.warning("views.publish for %s failed: %s", user, exc.response.get("error"))
        except (SlackClientError, OSError) as exc:
            log.warning("views.publish for %s failed: %s", user, exc)
