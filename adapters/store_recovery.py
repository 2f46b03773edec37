"""Deploys whose process died: found by their lease or pid, marked interrupted,
announced once, and held under a recovery lock while servers are left out."""

from __future__ import annotations

from datetime import datetime

from adapters.liveness import Holder, holder_dead
from adapters.sql_base import Row, SqlStoreBase
from adapters.store_schema import (
    deploy_record,
    parse_optional_time,
    server_record,
    step_record,
    time_text,
)
from strategies.journal import ServerAtCrash, read_journal
from strategies.records import DeployRecord, ServerRecord


def lock_holder(lock: Row) -> Holder:
    return Holder(lock["hostname"], lock["boot_id"], lock["pid_ns"], lock["pid"], lock["pid_start"])


def interruption_summary(holder: str, at_crash: list[ServerAtCrash]) -> str:
    """``interrupted: the bot process (pid 7 on h) died; out of the load balancer: …``."""
    parts = [f"interrupted: the bot process that ran it ({holder}) died mid-deploy"]
    out = [s for s in at_crash if s.left_out]
    busy = [s for s in at_crash if s.commands in ("running", "between commands")]
    if out:
        parts.append(
            "out of the load balancer: "
            + ", ".join(
                f"{s.server} ({'known good' if s.known_good else 'NOT known good'})" for s in out
            )
        )
    if busy:
        parts.append("mid-command: " + ", ".join(s.server for s in busy))
    return "; ".join(parts)


# The journal in the order it happened (per server, step numbers only grow).
STEPS = "SELECT * FROM steps WHERE deploy_id = ? ORDER BY started_at, server, idx"


class RecoveryTables(SqlStoreBase):
    def _servers(self, deploy_id: int) -> tuple[ServerRecord, ...]:
        rows = self._rows(
            "SELECT * FROM deploy_servers WHERE deploy_id = ? ORDER BY position", [deploy_id]
        )
        return tuple(server_record(row) for row in rows)

    def _deploy(self, deploy_id: int) -> DeployRecord | None:
        row = self._row("SELECT * FROM deploys WHERE id = ?", [deploy_id])
        return None if row is None else deploy_record(row, self._servers(deploy_id))

    def _lock_dead(self, lock: Row, at: datetime) -> bool:
        return lock["kind"] == "deploy" and holder_dead(
            lock_holder(lock), parse_optional_time(lock["lease_until"]), at
        )

    def _interrupt(self, lock: Row, at: datetime) -> None:
        """Mark the lock's deploy interrupted (inside the caller's transaction); keep
        the lock as a recovery lock while servers are out of the load balancer."""
        deploy_id = lock["deploy_id"]
        steps = self._rows(
            "SELECT * FROM steps WHERE deploy_id = ? ORDER BY started_at, idx, server", [deploy_id]
        )
        at_crash = read_journal(self._servers(deploy_id), [step_record(r) for r in steps])
        summary = interruption_summary(lock_holder(lock).describe(), at_crash)
        self._execute(
            "UPDATE deploys SET status = 'interrupted', summary = ?, finished_at = ? WHERE id = ?",
            [summary, time_text(at), deploy_id],
        )
        for server in at_crash:
            self._execute(
                """UPDATE deploy_servers SET status = 'interrupted', finished_at = ?,
                    lb = ?, detail = ?
                WHERE deploy_id = ? AND server = ? AND status IN ('running', 'pending')""",
                [time_text(at), server.lb, server.describe(), deploy_id, server.server],
            )
        out = [s.server for s in at_crash if s.left_out]
        if out:
            self._execute(
                "UPDATE locks SET kind = 'recovery', detail = ? WHERE app = ?",
                [", ".join(out), lock["app"]],
            )
        else:
            self._execute("DELETE FROM locks WHERE app = ?", [lock["app"]])

    def sweep_interrupted(self, at: datetime) -> list[DeployRecord]:
        with self._transaction():
            locks = self._rows("SELECT * FROM locks WHERE kind = 'deploy' ORDER BY app", [])
            dead = [lock for lock in locks if self._lock_dead(lock, at)]
            for lock in dead:
                self._interrupt(lock, at)
            records = [self._deploy(lock["deploy_id"]) for lock in dead]
        return [record for record in records if record is not None]

    def unannounced_interruptions(self) -> list[DeployRecord]:
        with self._transaction(write=False):
            rows = self._rows(
                "SELECT id FROM deploys WHERE status = 'interrupted' AND thread_ts IS NOT NULL "
                "AND announced_at IS NULL ORDER BY id",
                [],
            )
            records = [self._deploy(row["id"]) for row in rows]
        return [record for record in records if record is not None]

    def claim_announcement(self, deploy_id: int, at: datetime) -> bool:
        cursor = self._execute(
            "UPDATE deploys SET announced_at = ? WHERE id = ? AND announced_at IS NULL",
            [time_text(at), deploy_id],
        )
        return bool(cursor.rowcount)

    def last_interrupted(self, app: str) -> DeployRecord | None:
        with self._transaction(write=False):
            row = self._row(
                "SELECT id, status, recovered_at FROM deploys WHERE app = ? "
                "ORDER BY id DESC LIMIT 1",
                [app],
            )
            if row is None or row["status"] != "interrupted" or row["recovered_at"]:
                return None
            return self._deploy(row["id"])

    def recovery_lock(self, app: str) -> int | None:
        row = self._row("SELECT deploy_id FROM locks WHERE app = ? AND kind = 'recovery'", [app])
        return None if row is None else int(row["deploy_id"])

    def close_recovery(self, deploy_id: int, *, by: str, at: datetime, note: str) -> None:
        with self._transaction():
            self._mark_recovered(deploy_id, by, at, note)

    def _mark_recovered(self, deploy_id: int, by: str, at: datetime, note: str) -> None:
        self._execute(
            "UPDATE deploys SET recovered_at = coalesce(recovered_at, ?), "
            "recovered_by = coalesce(recovered_by, ?), summary = summary || ? WHERE id = ?",
            [time_text(at), by, f"; {note}" if note else "", deploy_id],
        )
        self._execute("DELETE FROM locks WHERE deploy_id = ? AND kind = 'recovery'", [deploy_id])
