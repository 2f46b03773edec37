"""The bot's own worker pool for slow work after an ack (deploys run for minutes).

Each job gets a ``CancelToken``; stopping the bot cancels the running deploys
softly (they stop at the next step boundary and put healthy servers back into
the load balancer) and waits for them, so a restart never strands a server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from strategies.cancel import CancelToken

log = logging.getLogger(__name__)


class Jobs:
    def __init__(self, *, max_workers: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="shipbot-job")
        self._running: set[CancelToken] = set()
        self._lock = threading.Lock()

    def submit(self, work: Callable[[CancelToken], object]) -> Future[None]:
        token = CancelToken()
        # Registered before it is queued, so a stop that races the start still cancels it.
        with self._lock:
            self._running.add(token)
        return self._pool.submit(self._run, work, token)

    def _run(self, work: Callable[[CancelToken], object], token: CancelToken) -> None:
        try:
            work(token)
        except Exception:
            log.exception("background job failed")
        finally:
            with self._lock:
                self._running.discard(token)

    def abort(self) -> None:
        """Kill running deploys' commands now; the thread reports who is left out."""
        with self._lock:
            for token in self._running:
                token.abort()

    def stop(self) -> None:
        """Refuse new work, cancel running jobs softly, wait until they have ended."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for token in self._running:
                token.cancel()
        self._pool.shutdown(wait=True)
