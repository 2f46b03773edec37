"""Events a deploy emits. The console, the CLI progress bar, the history and
(later) the Slack thread are all listeners; the core knows none of them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from strategies.plan import DeployPlan, Step
from strategies.preflight import PreflightReport
from strategies.results import CommandResult, DeployResult, ServerOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeployStarted:
    deploy_id: int
    plan: DeployPlan
    at: datetime


@dataclass(frozen=True)
class PreflightFinished:
    """Every server checked before anything changed; ``plan`` is what will run
    (without the servers ``--force`` skipped)."""

    deploy_id: int
    report: PreflightReport
    plan: DeployPlan
    at: datetime


@dataclass(frozen=True)
class ServerStarted:
    deploy_id: int
    server: str
    at: datetime


@dataclass(frozen=True)
class StepStarted:
    deploy_id: int
    server: str
    index: int
    step: Step
    at: datetime


@dataclass(frozen=True)
class StepFinished:
    deploy_id: int
    server: str
    index: int
    step: Step
    ok: bool
    duration: float
    at: datetime
    detail: str = ""  # waits: "waited 1.0s (fixed)"; failures: what went wrong
    result: CommandResult | None = None  # command and migrations steps


@dataclass(frozen=True)
class ServerFinished:
    deploy_id: int
    outcome: ServerOutcome
    at: datetime


@dataclass(frozen=True)
class DeployFinished:
    deploy_id: int
    result: DeployResult
    at: datetime


Event = (
    DeployStarted
    | PreflightFinished
    | ServerStarted
    | StepStarted
    | StepFinished
    | ServerFinished
    | DeployFinished
)
Listener = Callable[[Event], None]


class EventBus:
    """Writes each event to the journal, then fans it out to listeners, one event
    at a time, in order.

    A listener that raises is logged and skipped: a broken progress display
    must never stop a deploy half way through a fleet.
    """

    def __init__(
        self, listeners: Iterable[Listener] = (), *, journal: Listener | None = None
    ) -> None:
        self._listeners = list(listeners)
        self._journal = journal
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        # The journal first, outside the lock: the servers' threads write it at once
        # (it commits them together) and the listeners then see a journalled event.
        if self._journal is not None:
            try:
                self._journal(event)
            except Exception:
                log.exception("the journal failed on %s", type(event).__name__)
        with self._lock:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("event listener %r failed on %s", listener, type(event).__name__)
