"""One-off timers (approval expiry) on APScheduler 3's background scheduler.

Jobs live in memory only: the store is the source of truth, and the bot
re-creates a job for every pending approval when it starts, so APScheduler's
SQLAlchemy job store would only be a second copy that can disagree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler


class ApSchedulerTimers:
    """``at(key, when, action)`` runs ``action()`` once at ``when`` (at once if past)."""

    def __init__(self) -> None:
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def start(self) -> None:
        self._scheduler.start()

    def at(self, key: str, when: datetime, action: Callable[[], None]) -> None:
        # misfire_grace_time=None: a timer that comes due late (a busy machine,
        # a paused process) still fires, however late.
        self._scheduler.add_job(
            action,
            "date",
            run_date=when,
            id=key,
            name=f"timer {key}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def armed(self, key: str) -> bool:
        return self._scheduler.get_job(key) is not None

    def cancel(self, key: str) -> None:
        with contextlib.suppress(JobLookupError):  # already fired, or never scheduled
            self._scheduler.remove_job(key)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
