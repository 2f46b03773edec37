"""A bot process's housekeeping, every few seconds: renew its heartbeat, find
deploys whose process died and acknowledged jobs nobody will start, and
announce them (``SlackAnnouncer``). Run once at start, then periodically, so
a crash of another bot process is announced within ``interval`` plus the
dead process's lease."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from bot.slack.announce import SlackAnnouncer
from strategies.ports import Clock
from strategies.store import DeployHistory, JobStore

log = logging.getLogger(__name__)

DIED = "the bot process that accepted it stopped before it started"


class MaintenanceStore(DeployHistory, JobStore, Protocol):
    """What housekeeping needs of the store."""


class Maintenance:
    def __init__(
        self,
        *,
        store: MaintenanceStore,
        clock: Clock,
        announcer: SlackAnnouncer,
        process_id: str,
        interval: float = 5.0,
        ticks: list[Callable[[], None]] | None = None,
        tick_interval: float = 1.0,
        sweeps: list[Callable[[], None]] | None = None,
    ) -> None:
        self._store, self._clock, self._announcer = store, clock, announcer
        self._process_id, self._interval = process_id, interval
        self._ticks = ticks if ticks is not None else []  # quick work, every tick_interval
        self._tick_interval = tick_interval
        self._sweeps = sweeps if sweeps is not None else []  # with each run, every interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="maintenance", daemon=True)

    def start(self) -> None:
        self.run_once()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def run_once(self) -> None:
        store, now = self._store, self._clock.now()
        store.heartbeat(self._process_id, now)
        store.sweep_interrupted(now)
        for record in store.unannounced_interruptions():
            self._announcer.interrupted(record)
        for orphan in store.orphaned_jobs(now):
            if store.abandon_job(orphan.id, reason=DIED):
                self._announcer.job_not_run(orphan.job, DIED)
        for sweep in self._sweeps:
            sweep()

    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self._tick_interval):
            for tick in self._ticks:
                try:
                    tick()
                except Exception:
                    log.exception("housekeeping tick failed")
            if time.monotonic() - last < self._interval:
                continue
            last = time.monotonic()
            try:
                self.run_once()
            except Exception:  # the database may be briefly unavailable: try again later
                log.exception("housekeeping failed")
