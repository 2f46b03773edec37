"""The running deploy's lease: renewed every few seconds while it runs.

Another process (or replica) that finds the lease expired knows the deploy's
process died, even from another host, where it cannot look at the process
itself. If a renewal finds that the deploy was declared dead meanwhile (the
process was frozen longer than the lease), the deploy is cancelled: it stops
at the next step boundary rather than race whoever took over.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from strategies.ports import Clock

log = logging.getLogger(__name__)

DEFAULT_LEASE = 30.0  # seconds; renewed every third of it


class LeaseKeeper:
    def __init__(
        self,
        renew: Callable[[datetime], bool],
        clock: Clock,
        *,
        seconds: float = DEFAULT_LEASE,
        lost: Callable[[], None],
    ) -> None:
        self._renew, self._clock, self._seconds, self._lost = renew, clock, seconds, lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deploy-lease", daemon=True)

    def expiry(self) -> datetime:
        return self.expiry_after(self._clock.now(), self._seconds)

    @staticmethod
    def expiry_after(now: datetime, seconds: float) -> datetime:
        return now + timedelta(seconds=seconds)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            try:
                if not self._renew(self.expiry()):
                    log.error("the deploy's lease was taken over: cancelling it")
                    self._lost()
                    return
            except Exception:  # a store hiccup: the next renewal tries again
                log.exception("could not renew the deploy's lease")
