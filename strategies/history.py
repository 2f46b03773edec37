"""The deploy history as an event listener: every step's start and end is
written to the store as it happens, so a crash leaves a readable journal.

A write returns only once it is committed: a step is in the journal before it
runs. Writes from many servers at once are *group-committed*: while one
thread's transaction is being written, the writes that arrive queue up, and
the next thread to find the store free writes all of them in one transaction
(a burst of 200 servers starting costs a few commits, not 200), then wakes the
threads whose writes it carried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from strategies.events import Event, ServerFinished, ServerStarted, StepFinished, StepStarted
from strategies.store import DeployJournal

log = logging.getLogger(__name__)

Write = Callable[[], None]

# Steps that only look or wait: their start need not reach the disk before they run.
_LOOKING = frozenset({"connect", "wait_removed", "wait_added", "health"})


class HistoryRecorder:
    def __init__(self, store: DeployJournal) -> None:
        self._store = store
        self._ready = threading.Condition()
        self._queue: list[tuple[Write, bool]] = []
        self._queued = 0  # writes ever queued; a write's ticket is its number
        self._committed = 0  # every write up to this ticket is done
        self._writing = False

    def __call__(self, event: Event) -> None:
        write = self._write_for(event)
        if write is not None:
            self._commit(write, durable=_acts(event))

    def _write_for(self, event: Event) -> Write | None:
        store = self._store
        if isinstance(event, StepStarted):
            kind, label = event.step.kind, event.step.label
            return lambda: store.record_step_start(
                event.deploy_id, event.server, event.index, kind, label, event.at
            )
        if isinstance(event, StepFinished):
            return lambda: store.record_step_end(
                event.deploy_id, event.server, event.index, event.ok, event.detail, event.at
            )
        if isinstance(event, ServerStarted):
            return lambda: store.record_server_start(event.deploy_id, event.server, event.at)
        if isinstance(event, ServerFinished):
            return lambda: store.record_server(event.deploy_id, event.outcome, event.at)
        return None

    def _commit(self, write: Write, *, durable: bool) -> None:
        """Queue ``write`` and return once it is committed, writing the queue if
        nobody else is."""
        with self._ready:
            self._queue.append((write, durable))
            self._queued += 1
            ticket = self._queued
            while self._committed < ticket:
                if self._writing:
                    self._ready.wait()
                    continue
                batch, upto = self._queue, self._queued
                self._queue, self._writing = [], True
                self._ready.release()
                try:
                    self._write(batch)
                finally:
                    self._ready.acquire()
                    self._writing, self._committed = False, upto
                    self._ready.notify_all()

    def _write(self, queued: list[tuple[Write, bool]]) -> None:
        batch = [write for write, _ in queued]
        try:
            with self._store.journal_batch(durable=any(durable for _, durable in queued)):
                for write in batch:
                    write()
            return
        except Exception:
            if len(batch) == 1:
                log.exception("could not write the deploy journal")
                return
        # One bad write must not lose the others of its batch: write them one by one.
        for write in batch:
            try:
                write()
            except Exception:
                log.exception("could not write the deploy journal")


def _acts(event: Event) -> bool:
    """Whether the journal must be on disk before what ``event`` announces happens:
    a step that changes a server or the load balancer is about to start. What has
    happened (a step's end, a server's outcome) may wait for the next such write;
    lost with the machine before that, the journal only says less was done."""
    return isinstance(event, StepStarted) and event.step.kind not in _LOOKING
