"""What the store keeps, as the core reads it back: deploys, their servers and
steps, approvals and accepted chat jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from strategies.requests import DeployRequest
from strategies.text import person


class DeployLocked(RuntimeError):
    """The app's lock is held: by a running deploy, or by an interrupted one that
    left servers out of the load balancer until someone recovers it."""

    def __init__(
        self,
        app: str,
        holder: str,
        since: datetime,
        deploy_id: int,
        *,
        kind: str = "deploy",
        detail: str = "",
    ) -> None:
        if kind == "canary":
            message = (
                f"deploy #{deploy_id} of {app} is a canary waiting for Promote or Abort: "
                f"/deploy promote {app} or /deploy abort {app}"
            )
        elif kind == "hold":
            message = f"{app} is locked by {person(holder)} since {since:%Y-%m-%d %H:%M %Z}"
            message += f": {detail}" if detail else ""
        elif kind == "recovery":
            message = (
                f"deploy #{deploy_id} of {app} was interrupted and left servers out of the "
                f"load balancer ({detail or 'see status'}): run /deploy recover {app} first"
            )
        else:
            message = (
                f"deploy of {app} in progress by {holder} since {since:%Y-%m-%d %H:%M:%S} "
                f"(deploy #{deploy_id})"
            )
        super().__init__(message)
        self.app, self.holder, self.since, self.deploy_id = app, holder, since, deploy_id
        self.kind = kind


@dataclass(frozen=True)
class ServerRecord:
    server: str
    position: int
    status: str  # pending | running | ok | failed | skipped | cancelled | unreachable | interrupted
    lb: str
    detail: str
    output_tail: str
    started_at: datetime | None
    finished_at: datetime | None
    planned: tuple[str, ...] = ()  # the kinds of its planned steps, in order
    batch: int | None = None  # which batch it went in (0 first; a canary's is 0)


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
    status: str  # running | succeeded | failed | cancelled | interrupted | refused
    summary: str
    servers: tuple[ServerRecord, ...]
    recovers: int | None = None  # a recovery: the deploy whose servers it put back
    channel: str | None = None  # its Slack thread, when it has one
    thread_ts: str | None = None
    cancel_requested_by: str | None = None
    override: str | None = None
    request: DeployRequest | None = None  # as typed, for deploys recorded since it was kept
    approved_by: str | None = None  # who approved it in Slack (read by deploys_since only)


@dataclass(frozen=True)
class NewDeploy:
    app: str
    strategy: str
    reason: str
    ref: str
    requested_by: str
    servers: tuple[str, ...]
    started_at: datetime
    planned: tuple[tuple[str, ...], ...] = ()  # per server, the kinds of its steps
    recovers: int | None = None
    lease_until: datetime | None = None
    override: str | None = None  # "reason (by U)": run outside the windows or in a freeze
    request_json: str = ""  # the request as typed (requests.request_json)
    continues: int | None = None  # a promoted or aborted canary: takes over its lock
    batches: tuple[int | None, ...] = ()  # per server, its batch (0 first); empty: not known


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
    plan_facts: str = ""  # what the approver is shown (strategies.plan_facts), as JSON
    force: bool = False
    request_json: str = ""  # the whole DeployRequest, strategy resolved (requests.request_json)


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    request: NewApproval
    message_ts: str | None  # the request message, once posted
    status: ApprovalStatus
    decided_by: str | None
    decided_at: datetime | None


JobKind = Literal["deploy", "approved"]
JobStatus = Literal["accepted", "started", "done", "not_run"]


@dataclass(frozen=True)
class NewJob:
    """Work a chat front end acknowledged and has yet to start: recorded first, so
    that a stop or a crash before it starts is found and announced, never lost."""

    kind: JobKind  # a typed /deploy, or a deploy an approver approved
    app: str
    requested_by: str
    channel: str
    text: str  # what was asked, as it could be typed again: "/deploy shop --serial"
    created_at: datetime
    approval_id: int | None = None
    thread_ts: str | None = None  # where to announce it (an approval's request message)


@dataclass(frozen=True)
class JobRecord:
    id: int
    job: NewJob
    status: JobStatus
    owner: str  # the bot process that accepted it


HoldKind = Literal["lock", "freeze"]


@dataclass(frozen=True)
class Hold:
    """A person's lock on an app (no deploy until unlocked), or an ad hoc freeze."""

    app: str
    kind: HoldKind
    by: str
    reason: str
    since: datetime
    until: datetime | None  # None: until someone lifts it

    def active(self, at: datetime) -> bool:
        return self.until is None or at < self.until


ScheduleStatus = Literal[
    "scheduled",  # waiting for its time (and, where required, approved already)
    "awaiting_approval",  # waiting for its time and an approver
    "running",  # fired: its deploy started
    "missed",  # its time passed while no bot was running: waits for a person
    "cancelled",
    "refused",  # fired, and could not run (locked, frozen, plan changed, not approved)
]


@dataclass(frozen=True)
class NewSchedule:
    request: DeployRequest  # as typed; requested_by filled in
    channel: str
    run_at: datetime
    created_at: datetime
    plan_facts: str  # what was planned when it was scheduled (strategies.plan_facts)


@dataclass(frozen=True)
class ScheduleRecord:
    id: int
    schedule: NewSchedule
    status: ScheduleStatus
    message_ts: str | None  # its announcement, whose thread the deploy runs in
    approval_id: int | None
    decided_by: str | None  # who cancelled or confirmed it


@dataclass(frozen=True)
class QueuedDeploy:
    id: int
    request: DeployRequest
    channel: str
    created_at: datetime
    expires_at: datetime
    status: Literal["waiting", "started", "expired", "cancelled"]


@dataclass(frozen=True)
class ProcessRecord:
    """A bot process as the store saw it: what ``shipbot db check`` lists."""

    kind: str  # serve | socket | terminal
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    alive: bool  # running now, by its pid (same host) or its unexpired lease


@dataclass(frozen=True)
class SchemaStatus:
    applied: tuple[str, ...]  # migrations the database records
    pending: tuple[str, ...]  # known to this shipbot, not applied yet
    unknown: tuple[str, ...]  # applied by a newer shipbot


@dataclass(frozen=True)
class InterruptedThread:
    """An interrupted deploy shown in Slack, with what has been done about it since."""

    deploy: DeployRecord
    recovered_by: str | None  # who recovered it (or closed it with nothing to put back)
    recovery: DeployRecord | None  # the latest deploy that put its servers back
