"""Bot processes and the chat jobs they acknowledged, in SQLite.

A job is a row before the chat front end acknowledges it; when its process
dies before starting it (or stops first), the job is found here and
announced as not run, exactly once.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime, timedelta

from adapters.liveness import Holder, holder_dead
from adapters.sql_base import Row, SqlStoreBase
from adapters.store_schema import job_record, parse_time, time_text
from strategies.lease import DEFAULT_LEASE
from strategies.records import JobRecord, NewJob


class JobTables(SqlStoreBase):
    lease = DEFAULT_LEASE  # how long a process heartbeat vouches for it

    def register_process(self, kind: str, at: datetime) -> str:
        process_id = uuid.uuid4().hex
        self._insert_rows(
            "processes",
            [
                {
                    "id": process_id,
                    "kind": kind,
                    **asdict(Holder.current()),
                    "started_at": time_text(at),
                    "heartbeat_at": time_text(at),
                    "lease_until": time_text(at + timedelta(seconds=self.lease)),
                }
            ],
        )
        return process_id

    def heartbeat(self, process_id: str, at: datetime) -> None:
        self._execute(
            "UPDATE processes SET heartbeat_at = ?, lease_until = ? WHERE id = ?",
            [time_text(at), time_text(at + timedelta(seconds=self.lease)), process_id],
        )

    def retire_process(self, process_id: str, at: datetime) -> None:
        self._execute(
            "UPDATE processes SET stopped_at = ? WHERE id = ?", [time_text(at), process_id]
        )

    def live_bots(self, at: datetime) -> list[str]:
        rows = self._rows("SELECT * FROM processes WHERE stopped_at IS NULL", [])
        return [
            row["kind"]
            for row in rows
            if not holder_dead(_holder(row), parse_time(row["lease_until"]), at)
        ]

    def accept_job(self, job: NewJob, *, owner: str) -> int:
        with self._transaction():
            return self._accept(job, owner)

    def _accept(self, job: NewJob, owner: str) -> int:
        row = asdict(job) | {"created_at": time_text(job.created_at), "owner": owner}
        return self._insert("jobs", row)

    def start_job(self, job_id: int) -> bool:
        return self._move(job_id, "accepted", "started")

    def finish_job(self, job_id: int) -> None:
        self._move(job_id, "started", "done")

    def abandon_job(self, job_id: int, *, reason: str) -> bool:
        return self._move(job_id, "accepted", "not_run", reason)

    def _move(self, job_id: int, old: str, new: str, reason: str = "") -> bool:
        cursor = self._execute(
            "UPDATE jobs SET status = ?, reason = ? WHERE id = ? AND status = ?",
            [new, reason, job_id, old],
        )
        return bool(cursor.rowcount)

    def orphaned_jobs(self, at: datetime) -> list[JobRecord]:
        rows = self._rows(
            """SELECT jobs.*, processes.hostname, processes.boot_id, processes.pid_ns,
                processes.pid, processes.pid_start, processes.lease_until AS lease,
                processes.stopped_at
            FROM jobs JOIN processes ON processes.id = jobs.owner
            WHERE jobs.status = 'accepted' ORDER BY jobs.id""",
            [],
        )
        orphans = []
        for row in rows:
            holder = _holder(row)
            if row["stopped_at"] or holder_dead(holder, parse_time(row["lease"]), at):
                orphans.append(job_record(row))
        return orphans


def _holder(row: Row) -> Holder:
    return Holder(row["hostname"], row["boot_id"], row["pid_ns"], row["pid"], row["pid_start"])
