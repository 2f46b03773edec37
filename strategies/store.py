"""The store's interface, split by concern; ``Store`` is all of them.

The core needs only settings and the deploy journal; the front ends read
history, decide approvals and keep their accepted jobs. ``SqliteStore`` is
the embedded implementation, ``PostgresStore`` the shared one (several replicas).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from strategies.records import (
    ApprovalRecord,
    ApprovalStatus,
    DeployRecord,
    Hold,
    HoldKind,
    InterruptedThread,
    JobRecord,
    NewApproval,
    NewDeploy,
    NewJob,
    NewSchedule,
    ProcessRecord,
    QueuedDeploy,
    ScheduleRecord,
    ScheduleStatus,
    SchemaStatus,
    StepRecord,
)
from strategies.requests import DeployRequest
from strategies.results import ServerOutcome
from strategies.setting_changes import SettingChange, Via
from strategies.waits import AppliedWait, EffectiveWait


class StoreError(ValueError):
    """The store cannot be used (a corrupt or read-only file, no server); one line."""


class SettingsStore(Protocol):
    def get_settings(self, app: str) -> dict[str, Any]: ...

    def change_setting(
        self,
        app: str,
        key: str,
        value: Any | None,
        *,
        default: Any,
        by: str,
        via: Via,
        channel: str | None,
        at: datetime,
    ) -> SettingChange | None:
        """Set ``key`` to ``value`` (None: unset it) and record the change, atomically.

        None, and nothing written, when nothing changes: a set to the value the key
        has (its ``default`` when not set), or an unset of a key that is not set."""
        ...

    def setting_history(self, app: str, key: str | None, limit: int) -> list[SettingChange]:
        """The app's latest changes (of ``key``, or of every key), newest first."""
        ...

    def setting_origins(self, app: str) -> dict[str, SettingChange]:
        """For each key that is set: the change that set its current value."""
        ...

    def unannounced_setting_changes(self, limit: int = 50) -> list[SettingChange]:
        """Changes the team has not been told of yet, oldest first."""
        ...

    def claim_setting_announcement(self, change_id: int, at: datetime) -> bool:
        """Mark the change announced; False if another bot process did already."""
        ...

    def applied_waits(self, app: str) -> dict[str, AppliedWait]: ...

    def apply_waits(
        self, app: str, deploy_id: int, waits: Iterable[EffectiveWait], at: datetime
    ) -> None: ...


class DeployJournal(Protocol):
    """What a running deploy writes: its lock and lease, every step, every outcome."""

    def begin_deploy(self, deploy: NewDeploy, *, holder: str) -> int:
        """Take the app's lock and record the deploy, atomically; DeployLocked if held.

        A recovery (``deploy.recovers``) takes over the lock that the interrupted
        deploy it recovers left behind."""
        ...

    def renew_lease(self, deploy_id: int, until: datetime) -> bool:
        """Extend the running deploy's lease; False if it no longer holds its lock."""
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

    def cancel_requested(self, deploy_id: int) -> bool: ...

    def journal_batch(self, *, durable: bool = True) -> AbstractContextManager[None]:
        """Journal writes made inside go in one transaction: all of them or none.

        ``durable=False``: the transaction survives the process dying, but may be
        lost with the machine until the next durable one commits (which makes it
        durable too). For facts after the event; a step about to act is durable."""
        ...


class DeployHistory(Protocol):
    """Reading deploys back, cancelling them, and finding those whose process died."""

    def request_cancel(self, app: str, *, by: str, deploy_id: int | None = None) -> int | None:
        """Flag the app's running deploy (only if it is ``deploy_id``, when given) for
        cancellation; its id, or None if none runs."""
        ...

    def set_deploy_thread(self, deploy_id: int, channel: str, ts: str) -> None:
        """Where the deploy is shown in Slack, so a crash can be announced there."""
        ...

    def running_deploy(self, app: str) -> DeployRecord | None: ...

    def get_deploy(self, deploy_id: int) -> DeployRecord | None: ...

    def history(self, app: str, limit: int = 10) -> list[DeployRecord]: ...

    def deploys_since(self, app: str, since: datetime | None) -> list[DeployRecord]:
        """Every deploy of ``app`` started at or after ``since`` (None: all), oldest
        first, each with ``approved_by`` filled in; for audits."""
        ...

    def steps(self, deploy_id: int) -> list[StepRecord]: ...

    def sweep_interrupted(self, at: datetime) -> list[DeployRecord]:
        """Mark every running deploy whose process is dead ``interrupted``; those marked now.

        Its lock stays (as a recovery lock) while the journal shows servers out of
        the load balancer; otherwise it is released."""
        ...

    def unannounced_interruptions(self) -> list[DeployRecord]:
        """Interrupted deploys with a Slack thread not yet told so."""
        ...

    def claim_announcement(self, deploy_id: int, at: datetime) -> bool:
        """True once per interrupted deploy: whoever gets True announces it."""
        ...

    def last_interrupted(self, app: str) -> DeployRecord | None:
        """The app's latest interrupted deploy that no recovery has handled yet."""
        ...

    def canary_lock(self, app: str) -> int | None:
        """The paused canary deploy holding ``app`` (waiting for Promote or Abort)."""
        ...

    def recovery_lock(self, app: str) -> int | None:
        """The interrupted deploy whose recovery lock holds ``app``, if any."""
        ...

    def close_recovery(self, deploy_id: int, *, by: str, at: datetime, note: str) -> None:
        """Mark an interrupted deploy handled (by a person or a recovery) and release
        its recovery lock, if it still holds one."""
        ...


class ApprovalStore(Protocol):
    """Approvals and chat events: persisted so a restart loses no request and
    handles no event twice."""

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

    def approve_into_job(
        self, approval_id: int, *, by: str, at: datetime, job: NewJob, owner: str
    ) -> int | None:
        """Approve and accept the deploy job in one transaction; the job's id, or None
        if the approval was already decided."""
        ...

    def mark_event_seen(self, event_id: str, at: datetime) -> bool:
        """Record a chat event id; False if it was seen before (a retry)."""
        ...

    def mark_request_seen(self, signature: str, at: datetime) -> bool:
        """Record a signed request's signature; False if it was seen before (a replay)."""
        ...


class JobStore(Protocol):
    """Bot processes and the chat jobs they acknowledged."""

    def register_process(self, kind: str, at: datetime) -> str:
        """Record this bot process (host, pid, start); its id, renewed by ``heartbeat``."""
        ...

    def heartbeat(self, process_id: str, at: datetime) -> None: ...

    def retire_process(self, process_id: str, at: datetime) -> None: ...

    def live_bots(self, at: datetime) -> list[str]:
        """The kinds of the bot processes alive now ("serve", "socket")."""
        ...

    def accept_job(self, job: NewJob, *, owner: str) -> int: ...

    def start_job(self, job_id: int) -> bool:
        """accepted -> started; False if it was not accepted any more (announced not run)."""
        ...

    def finish_job(self, job_id: int) -> None: ...

    def abandon_job(self, job_id: int, *, reason: str) -> bool:
        """accepted -> not_run; True once, for whoever then announces it."""
        ...

    def orphaned_jobs(self, at: datetime) -> list[JobRecord]:
        """Accepted jobs whose process has died before starting them."""
        ...


class HostKeyStore(Protocol):
    """SSH host keys accepted on first use (``accept_unknown_host_keys``), pinned."""

    def pinned_host_key(self, host: str) -> tuple[str, str, datetime] | None:
        """(key type, base64 key, when pinned) for ``host`` ("[addr]:port"), or None."""
        ...

    def pin_host_key(self, host: str, key_type: str, key: str, at: datetime) -> bool:
        """Pin ``key`` for ``host``; False if a key was pinned first (by a racing process)."""
        ...


class CalendarStore(Protocol):
    """Locks and freezes people set, scheduled deploys, and the queue."""

    def set_hold(self, hold: Hold) -> None:
        """Lock or freeze an app (replacing the same kind of hold)."""
        ...

    def clear_hold(self, app: str, kind: HoldKind) -> Hold | None:
        """Lift it; the hold that was lifted, or None if there was none."""
        ...

    def holds(self, app: str, at: datetime) -> list[Hold]:
        """The app's holds in force at ``at``."""
        ...

    def create_schedule(
        self, schedule: NewSchedule, *, status: ScheduleStatus, approval_id: int | None
    ) -> int: ...

    def get_schedule(self, schedule_id: int) -> ScheduleRecord | None: ...

    def schedules(
        self, app: str | None, statuses: tuple[ScheduleStatus, ...]
    ) -> list[ScheduleRecord]: ...

    def schedule_for_approval(self, approval_id: int) -> ScheduleRecord | None: ...

    def set_schedule_message(self, schedule_id: int, ts: str) -> None: ...

    def set_schedule_approval(self, schedule_id: int, approval_id: int) -> None: ...

    def move_schedule(
        self,
        schedule_id: int,
        old: tuple[ScheduleStatus, ...],
        new: ScheduleStatus,
        *,
        by: str | None = None,
    ) -> bool:
        """Change the status if it is one of ``old``; True for exactly one caller."""
        ...

    def enqueue(
        self, request: DeployRequest, channel: str, at: datetime, until: datetime
    ) -> int: ...

    def queued(self, app: str | None) -> list[QueuedDeploy]:
        """Deploys waiting for their turn, oldest first."""
        ...

    def claim_queued(self, app: str, at: datetime) -> QueuedDeploy | None:
        """The app's oldest waiting deploy, marked started; None if none waits."""
        ...

    def expire_queued(self, at: datetime) -> list[QueuedDeploy]:
        """Waiting deploys past their time, marked expired (each returned once)."""
        ...


class ChangeFeed(Protocol):
    """How a front end that shows state (the App Home) notices another process changed it."""

    def change_mark(self) -> str:
        """A short text that changes whenever a deploy starts, progresses or ends, an
        approval is asked or decided, a lock or freeze is set or lifted, or a deploy is
        scheduled or unscheduled; cheap enough to read every second."""
        ...


class ShownMessages(Protocol):
    """How a chat front end keeps the messages it posted true when another process
    changed what they show."""

    def interrupted_threads_since(self, since: datetime) -> list[InterruptedThread]:
        """Interrupted deploys with a Slack thread that were interrupted, recovered, or
        had a recovery start or end at or after ``since``, oldest first."""
        ...

    def claim_shown(self, channel: str, ts: str, digest: str, at: datetime) -> bool:
        """Record that message ``ts`` shows ``digest``; False if it showed it already
        (whoever gets True updates the message)."""
        ...


class OpsStore(Protocol):
    """The store itself, for operators: ``shipbot db``, ``GET /healthz``."""

    applied: list[str]  # migrations this process applied when it opened the store

    def ping(self) -> None:
        """Raise if the database does not answer."""
        ...

    def schema_status(self) -> SchemaStatus: ...

    def processes_seen(self, since: datetime, now: datetime) -> list[ProcessRecord]: ...


class Store(
    OpsStore,
    SettingsStore,
    DeployJournal,
    DeployHistory,
    ApprovalStore,
    JobStore,
    HostKeyStore,
    CalendarStore,
    ChangeFeed,
    ShownMessages,
    Protocol,
):
    """Everything shipbot keeps."""

    def close(self) -> None: ...
