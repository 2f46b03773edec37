"""The bot's own worker pool for slow work after an ack (deploys run for minutes).

Work the bot acknowledged is a row in the store (``accept_job``) before the
ack; the pool moves it to ``started`` when a worker picks it up. Stopping the
bot lets no acknowledged job vanish: jobs still queued are marked ``not_run``
and announced, running deploys are cancelled softly (they stop at the next
step boundary and put healthy servers back into the load balancer) and
waited for. A job left ``accepted`` by a process that died is found and
announced by the next bot to start (``bot.slack.maintenance``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from strategies.cancel import CancelToken
from strategies.store import JobStore

log = logging.getLogger(__name__)

STOPPED = "the bot was stopped before it started"


@dataclass
class _Queued:
    job_id: int | None
    not_run: Callable[[str], None] | None
    token: CancelToken
    started: bool = False


class Jobs:
    def __init__(self, store: JobStore, *, max_workers: int = 16) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="shipbot-job")
        self._queued: dict[int, _Queued] = {}
        self._lock = threading.Lock()
        self._next = 0
        self._stopping = False

    def submit(
        self,
        work: Callable[[CancelToken], object],
        *,
        job_id: int | None = None,
        not_run: Callable[[str], None] | None = None,
    ) -> Future[None]:
        """Queue ``work``. ``job_id``: its accepted row in the store, started here;
        ``not_run(reason)``: how to tell the requester if it never starts."""
        entry = _Queued(job_id, not_run, CancelToken())
        with self._lock:
            if self._stopping:
                key = -1
            else:
                self._next += 1
                key = self._next
                self._queued[key] = entry
        if key < 0:
            self._abandon(entry, STOPPED)
            done: Future[None] = Future()
            done.set_result(None)
            return done
        return self._pool.submit(self._run, key, work)

    def _run(self, key: int, work: Callable[[CancelToken], object]) -> None:
        with self._lock:
            entry = self._queued.get(key)
            if entry is None or self._stopping:
                return  # stop() announces it
            entry.started = True
        try:
            if entry.job_id is not None and not self._store.start_job(entry.job_id):
                return  # announced as not run by whoever abandoned it
            work(entry.token)
        except Exception:
            log.exception("background job failed")
        finally:
            if entry.job_id is not None:
                try:
                    self._store.finish_job(entry.job_id)
                except Exception:
                    log.exception("could not record job %s as done", entry.job_id)
            with self._lock:
                self._queued.pop(key, None)

    def abort(self) -> None:
        """Kill running deploys' commands now; the thread reports who is left out."""
        with self._lock:
            running = [entry.token for entry in self._queued.values() if entry.started]
        for token in running:
            token.abort()

    def stop(self) -> None:
        """Refuse new work, announce what never started, cancel running jobs softly,
        wait until they have ended."""
        with self._lock:
            self._stopping = True
            waiting = [e for e in self._queued.values() if not e.started]
            running = [e for e in self._queued.values() if e.started]
            for key in [k for k, e in self._queued.items() if not e.started]:
                del self._queued[key]
        for entry in waiting:
            self._abandon(entry, STOPPED)
        for entry in running:
            entry.token.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _abandon(self, entry: _Queued, reason: str) -> None:
        try:
            mine = entry.job_id is None or self._store.abandon_job(entry.job_id, reason=reason)
            if mine and entry.not_run is not None:
                entry.not_run(reason)
            elif entry.not_run is None:
                log.warning("a queued job was dropped at stop: %s", reason)
        except Exception:
            log.exception("could not announce a job that was not run")
