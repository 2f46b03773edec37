"""The narrow interfaces the core needs; adapters implement them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from strategies.manifest import Server
from strategies.results import CommandResult, ServerOutcome
from strategies.waits import AppliedWait, EffectiveWait

# What a load balancer says of one server: "serving" (in rotation and healthy),
# "starting" (added, not yet healthy), "draining" (removed, connections still
# open) or "drained" (out, nothing left on it).
LbReport = Literal["serving", "starting", "draining", "drained"]


class Executor(Protocol):
    """Runs a command on a server. ``env`` is passed as environment, never as text."""

    def run(
        self,
        server: Server,
        command: str,
        *,
        env: Mapping[str, str],
        timeout: float,
        abort: threading.Event,
    ) -> CommandResult: ...

    def close(self) -> None: ...


class LoadBalancerError(RuntimeError):
    """A load balancer call failed; the message is what the load balancer said.

    ``refused=True`` means the load balancer rejected the call and changed
    nothing (an unknown target group, say), so the server is where it was.
    """

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class LoadBalancer(Protocol):
    def remove(self, server: Server) -> None: ...

    def add(self, server: Server) -> None: ...

    def report(self, server: Server) -> LbReport | None:
        """What the load balancer says of ``server`` now; None if it cannot tell."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Sleep; return False early if ``cancel`` is set."""
        ...


class DeployLocked(RuntimeError):
    def __init__(self, app: str, holder: str, since: datetime, deploy_id: int) -> None:
        super().__init__(
            f"deploy of {app} in progress by {holder} since {since:%Y-%m-%d %H:%M:%S} "
            f"(deploy #{deploy_id})"
        )
        self.app, self.holder, self.since, self.deploy_id = app, holder, since, deploy_id


@dataclass(frozen=True)
class ServerRecord:
    server: str
    position: int
    status: str  # pending | running | ok | failed | skipped | cancelled
    lb: str
    detail: str
    output_tail: str
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class StepRecord:
    server: str
    index: int
    kind: str
    label: str
    status: str  # running | ok | failed
    started_at: datetime
    finished_at: datetime | None
    detail: str


@dataclass(frozen=True)
class DeployRecord:
    id: int
    app: str
    strategy: str
    reason: str
    ref: str
    requested_by: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | succeeded | failed | cancelled | interrupted
    summary: str
    servers: tuple[ServerRecord, ...]


ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]


@dataclass(frozen=True)
class NewApproval:
    """A deploy waiting for an approver: what was asked, where, and until when."""

    app: str
    requested_by: str
    strategy: str | None  # None: the app's deploy.parallel setting decides when it runs
    ref: str | None
    servers: tuple[str, ...] | None
    channel: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    request: NewApproval
    message_ts: str | None  # the request message, once posted
    status: ApprovalStatus
    decided_by: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class NewDeploy:
    app: str
    strategy: str
    reason: str
    ref: str
    requested_by: str
    servers: tuple[str, ...]
    started_at: datetime


class Store(Protocol):
    """Everything shipbot keeps: settings, applied waits, history, journal, locks,
    pending approvals and the chat events already handled."""

    def get_settings(self, app: str) -> dict[str, Any]: ...

    def set_setting(self, app: str, key: str, value: Any, *, by: str) -> None: ...

    def unset_setting(self, app: str, key: str) -> bool: ...

    def applied_waits(self, app: str) -> dict[str, AppliedWait]: ...

    def apply_waits(
        self, app: str, deploy_id: int, waits: Iterable[EffectiveWait], at: datetime
    ) -> None: ...

    def begin_deploy(self, deploy: NewDeploy, *, holder: str) -> int:
        """Take the app's lock and record the deploy, atomically; DeployLocked if held."""
        ...

    def record_step_start(
        self, deploy_id: int, server: str, index: int, kind: str, label: str, at: datetime
    ) -> None: ...

    def record_step_end(
        self, deploy_id: int, server: str, index: int, ok: bool, detail: str, at: datetime
    ) -> None: ...

    def record_server_start(self, deploy_id: int, server: str, at: datetime) -> None: ...

    def record_server(self, deploy_id: int, outcome: ServerOutcome, at: datetime) -> None: ...

    def finish_deploy(self, deploy_id: int, status: str, summary: str, at: datetime) -> None:
        """Record the end and release the app's lock."""
        ...

    def request_cancel(self, app: str, *, by: str) -> int | None:
        """Flag the app's running deploy for cancellation; its id, or None if none runs."""
        ...

    def cancel_requested(self, deploy_id: int) -> bool: ...

    def running_deploy(self, app: str) -> DeployRecord | None: ...

    def get_deploy(self, deploy_id: int) -> DeployRecord | None: ...

    def history(self, app: str, limit: int = 10) -> list[DeployRecord]: ...

    def steps(self, deploy_id: int) -> list[StepRecord]: ...

    # Approvals and chat events: persisted so a restart loses no request and
    # handles no event twice.

    def create_approval(self, approval: NewApproval) -> int: ...

    def set_approval_message(self, approval_id: int, ts: str) -> None: ...

    def get_approval(self, approval_id: int) -> ApprovalRecord | None: ...

    def approval_for_message(self, channel: str, ts: str) -> ApprovalRecord | None: ...

    def pending_approvals(self) -> list[ApprovalRecord]: ...

    def decide_approval(
        self, approval_id: int, status: ApprovalStatus, *, by: str, at: datetime
    ) -> bool:
        """Move a pending approval to ``status``; False if it was already decided.

        Atomic across threads and processes: of two racing decisions exactly one wins.
        """
        ...

    def mark_event_seen(self, event_id: str, at: datetime) -> bool:
        """Record a chat event id; False if it was seen before (a retry)."""
        ...
