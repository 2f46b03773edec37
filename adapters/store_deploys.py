"""Deploys, their lock and lease, the step journal and history, in SQLite."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import UTC, datetime

from adapters.liveness import Holder
from adapters.sql_base import Row
from adapters.store_recovery import RecoveryTables
from adapters.store_schema import deploy_record, parse_time, step_record, time_text
from strategies.records import DeployLocked, DeployRecord, NewDeploy, StepRecord
from strategies.results import ServerOutcome


class DeployTables(RecoveryTables):
    def begin_deploy(self, deploy: NewDeploy, *, holder: str) -> int:
        """Take the app's lock and record the deploy, atomically; DeployLocked if held.

        A lock whose holder is known dead is broken first, its deploy marked
        ``interrupted``; one it leaves as a recovery lock only yields to the
        recovery of that deploy.
        """
        with self._transaction():
            hold = self._row(
                "SELECT * FROM holds WHERE app = ? AND kind = 'lock' "
                "AND (until IS NULL OR until > ?)",
                [deploy.app, time_text(deploy.started_at)],
            )
            lock = self._row("SELECT * FROM locks WHERE app = ?", [deploy.app])
            if hold is not None and lock is None and deploy.recovers is None:
                raise DeployLocked(
                    deploy.app,
                    hold["held_by"],
                    parse_time(hold["since"]),
                    0,
                    kind="hold",
                    detail=_until(hold) + hold["reason"],
                )
            if lock is not None and self._lock_dead(lock, deploy.started_at):
                self._interrupt(lock, deploy.started_at)
                lock = self._row("SELECT * FROM locks WHERE app = ?", [deploy.app])
            if lock is None:
                return self._insert_deploy(deploy, holder)
            if lock["kind"] == "recovery" and deploy.recovers == lock["deploy_id"]:
                self._mark_recovered(lock["deploy_id"], holder, deploy.started_at, "")
                return self._insert_deploy(deploy, holder)
            if lock["kind"] == "canary" and deploy.continues == lock["deploy_id"]:
                ended = (
                    "aborted" if '"rollback_to": null' not in deploy.request_json else ("promoted")
                )
                self._execute(
                    "UPDATE deploys SET status = ? WHERE id = ? AND status = 'paused'",
                    [ended, lock["deploy_id"]],
                )
                self._execute("DELETE FROM locks WHERE app = ?", [deploy.app])
                return self._insert_deploy(deploy, holder)
        # Raised after the commit: the interruption found on the way is kept.
        raise _locked(lock)

    def _insert_deploy(self, deploy: NewDeploy, holder: str) -> int:
        started = time_text(deploy.started_at)
        me = Holder.current()
        deploy_id = self._insert(
            "deploys",
            {
                "app": deploy.app,
                "strategy": deploy.strategy,
                "reason": deploy.reason,
                "ref": deploy.ref,
                "requested_by": deploy.requested_by,
                "started_at": started,
                "status": "running",
                "pid": me.pid,
                "hostname": me.hostname,
                "recovers": deploy.recovers,
                "override": deploy.override,
                "request": deploy.request_json,
                "continues": deploy.continues,
            },
        )
        planned = deploy.planned or tuple(() for _ in deploy.servers)
        batches = deploy.batches or tuple(None for _ in deploy.servers)
        self._insert_rows(
            "deploy_servers",
            (
                {
                    "deploy_id": deploy_id,
                    "server": server,
                    "position": position,
                    "planned": json.dumps(list(kinds)),
                    "batch": batch,
                }
                for position, (server, kinds, batch) in enumerate(
                    zip(deploy.servers, planned, batches, strict=True)
                )
            ),
        )
        lease = time_text(deploy.lease_until) if deploy.lease_until else None
        self._insert_rows(
            "locks",
            [
                {
                    "app": deploy.app,
                    "deploy_id": deploy_id,
                    "holder": holder,
                    "since": started,
                    "kind": "deploy",
                    **asdict(me),
                    "lease_until": lease,
                }
            ],
        )
        return deploy_id

    def renew_lease(self, deploy_id: int, until: datetime) -> bool:
        cursor = self._execute(
            "UPDATE locks SET lease_until = ? WHERE deploy_id = ? AND kind = 'deploy'",
            [time_text(until), deploy_id],
        )
        return bool(cursor.rowcount)

    def finish_deploy(self, deploy_id: int, status: str, summary: str, at: datetime) -> None:
        """Record the end and release the app's lock."""
        with self._transaction():
            self._execute(
                "UPDATE deploys SET status = ?, summary = ?, finished_at = ? WHERE id = ?",
                [status, summary, time_text(at), deploy_id],
            )
            if status == "paused":  # a canary waits: the app stays held for Promote or Abort
                self._execute(
                    "UPDATE locks SET kind = 'canary' WHERE deploy_id = ? AND kind = 'deploy'",
                    [deploy_id],
                )
            else:
                self._execute(
                    "DELETE FROM locks WHERE deploy_id = ? AND kind = 'deploy'", [deploy_id]
                )

    def canary_lock(self, app: str) -> int | None:
        row = self._row("SELECT deploy_id FROM locks WHERE app = ? AND kind = 'canary'", [app])
        return None if row is None else int(row["deploy_id"])

    def request_cancel(self, app: str, *, by: str, deploy_id: int | None = None) -> int | None:
        """Flag the app's running deploy for cancellation; its id, or None if none runs.

        A second request keeps the first requester's name and time.
        """
        with self._transaction():
            lock = self._row("SELECT deploy_id FROM locks WHERE app = ? AND kind = 'deploy'", [app])
            if lock is None or (deploy_id is not None and lock["deploy_id"] != deploy_id):
                return None
            cursor = self._execute(
                """UPDATE deploys SET cancel_requested_by = coalesce(cancel_requested_by, ?),
                    cancel_requested_at = coalesce(cancel_requested_at, ?)
                WHERE id = ? AND status = 'running'""",
                [by, time_text(datetime.now(UTC)), lock["deploy_id"]],
            )
            return int(lock["deploy_id"]) if cursor.rowcount else None

    def cancel_requested(self, deploy_id: int) -> bool:
        # Polled between steps, so a single primary-key lookup.
        row = self._row("SELECT cancel_requested_at FROM deploys WHERE id = ?", [deploy_id])
        return row is not None and row["cancel_requested_at"] is not None

    def set_deploy_thread(self, deploy_id: int, channel: str, ts: str) -> None:
        self._execute(
            "UPDATE deploys SET channel = ?, thread_ts = ? WHERE id = ?", [channel, ts, deploy_id]
        )

    # Journal

    def journal_batch(self, *, durable: bool = True) -> AbstractContextManager[None]:
        return self._transaction() if durable else self._lazy_transaction()

    def _lazy_transaction(self) -> AbstractContextManager[None]:
        """A write transaction the engine need not flush to disk at commit; this
        engine has no such thing: a plain one."""
        return self._transaction()

    def record_step_start(
        self, deploy_id: int, server: str, index: int, kind: str, label: str, at: datetime
    ) -> None:
        # A retried step restarts its row in place, keeping its place in the journal.
        self._execute(
            """INSERT INTO steps (deploy_id, server, idx, kind, label, status, started_at)
            VALUES (?, ?, ?, ?, ?, 'running', ?)
            ON CONFLICT (deploy_id, server, idx) DO UPDATE SET kind = excluded.kind,
                label = excluded.label, status = 'running',
                started_at = excluded.started_at, finished_at = NULL, detail = ''""",
            [deploy_id, server, index, kind, label, time_text(at)],
        )

    def record_step_end(
        self, deploy_id: int, server: str, index: int, ok: bool, detail: str, at: datetime
    ) -> None:
        self._execute(
            "UPDATE steps SET status = ?, detail = ?, finished_at = ? "
            "WHERE deploy_id = ? AND server = ? AND idx = ?",
            ["ok" if ok else "failed", detail, time_text(at), deploy_id, server, index],
        )

    def record_server_start(self, deploy_id: int, server: str, at: datetime) -> None:
        self._execute(
            "UPDATE deploy_servers SET status = 'running', started_at = ? "
            "WHERE deploy_id = ? AND server = ?",
            [time_text(at), deploy_id, server],
        )

    def record_server(self, deploy_id: int, outcome: ServerOutcome, at: datetime) -> None:
        self._execute(
            """UPDATE deploy_servers SET status = ?, lb = ?, detail = ?, output_tail = ?,
                finished_at = ?
            WHERE deploy_id = ? AND server = ?""",
            [
                outcome.status,
                outcome.lb,
                outcome.describe_detail(),
                outcome.output_tail,
                time_text(at),
                deploy_id,
                outcome.server,
            ],
        )

    # Reading history

    def running_deploy(self, app: str) -> DeployRecord | None:
        """The deploy holding the app's lock; a dead holder's deploy is marked
        ``interrupted`` here, so status never reports a crashed deploy as running."""
        with self._transaction():
            lock = self._row("SELECT * FROM locks WHERE app = ? AND kind = 'deploy'", [app])
            if lock is None:
                return None
            now = datetime.now(UTC)
            if self._lock_dead(lock, now):
                self._interrupt(lock, now)
                return None
            return self._deploy(lock["deploy_id"])

    def get_deploy(self, deploy_id: int) -> DeployRecord | None:
        with self._transaction(write=False):
            return self._deploy(deploy_id)

    def history(self, app: str, limit: int = 10) -> list[DeployRecord]:
        with self._transaction(write=False):
            rows = self._rows(
                "SELECT * FROM deploys WHERE app = ? ORDER BY id DESC LIMIT ?", [app, limit]
            )
            return [deploy_record(row, self._servers(row["id"])) for row in rows]

    def deploys_since(self, app: str, since: datetime | None) -> list[DeployRecord]:
        with self._transaction(write=False):
            rows = self._rows(
                f"SELECT d.*, {_APPROVER} AS approved_by FROM deploys d "
                "WHERE d.app = ? AND d.started_at >= ? ORDER BY d.id",
                [app, time_text(since) if since else ""],
            )
            return [deploy_record(row, self._servers(row["id"])) for row in rows]

    def steps(self, deploy_id: int) -> list[StepRecord]:
        rows = self._rows(
            "SELECT * FROM steps WHERE deploy_id = ? ORDER BY started_at, server, idx", [deploy_id]
        )
        return [step_record(row) for row in rows]


# Who approved a deploy: its thread is the approval's request message, or the message
# of the schedule that approval scheduled.
_APPROVER = """coalesce(
    (SELECT a.decided_by FROM approvals a WHERE a.status = 'approved'
        AND a.channel = d.channel AND a.message_ts = d.thread_ts ORDER BY a.id DESC LIMIT 1),
    (SELECT a.decided_by FROM schedules s JOIN approvals a ON a.id = s.approval_id
        WHERE a.status = 'approved' AND s.channel = d.channel AND s.message_ts = d.thread_ts
        ORDER BY a.id DESC LIMIT 1))"""


def _until(hold: Row) -> str:
    return f"(until {parse_time(hold['until']):%Y-%m-%d %H:%M %Z}) " if hold["until"] else ""


def _locked(lock: Row) -> DeployLocked:
    return DeployLocked(
        lock["app"],
        lock["holder"],
        parse_time(lock["since"]),
        lock["deploy_id"],
        kind=lock["kind"],
        detail=lock["detail"],
    )
