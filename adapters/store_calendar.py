"""People's locks and freezes, scheduled deploys and the queue, in SQLite.

Every change of state is a guarded UPDATE (``WHERE status IN (...)``), so of
two bot processes firing the same schedule or claiming the same queued deploy
exactly one wins.
"""

from __future__ import annotations

from datetime import datetime

from adapters.sql_base import Row, SqlStoreBase
from adapters.store_schema import parse_optional_time, parse_time, time_text
from strategies.records import (
    Hold,
    HoldKind,
    NewSchedule,
    QueuedDeploy,
    ScheduleRecord,
    ScheduleStatus,
)
from strategies.requests import DeployRequest, request_from_json, request_json


class CalendarTables(SqlStoreBase):
    # Holds

    def set_hold(self, hold: Hold) -> None:
        self._execute(
            """INSERT INTO holds (app, kind, held_by, reason, since, until)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (app, kind) DO UPDATE SET held_by = excluded.held_by,
                reason = excluded.reason, since = excluded.since, until = excluded.until""",
            [
                hold.app,
                hold.kind,
                hold.by,
                hold.reason,
                time_text(hold.since),
                time_text(hold.until) if hold.until else None,
            ],
        )

    def clear_hold(self, app: str, kind: HoldKind) -> Hold | None:
        with self._transaction():
            row = self._row("SELECT * FROM holds WHERE app = ? AND kind = ?", [app, kind])
            self._execute("DELETE FROM holds WHERE app = ? AND kind = ?", [app, kind])
        return None if row is None else _hold(row)

    def holds(self, app: str, at: datetime) -> list[Hold]:
        rows = self._rows("SELECT * FROM holds WHERE app = ? ORDER BY kind", [app])
        return [hold for hold in map(_hold, rows) if hold.active(at)]

    # Schedules

    def create_schedule(
        self, schedule: NewSchedule, *, status: ScheduleStatus, approval_id: int | None
    ) -> int:
        return self._insert(
            "schedules",
            {
                "app": schedule.request.app,
                "request": request_json(schedule.request),
                "channel": schedule.channel,
                "run_at": time_text(schedule.run_at),
                "created_at": time_text(schedule.created_at),
                "plan_facts": schedule.plan_facts,
                "status": status,
                "approval_id": approval_id,
            },
        )

    def get_schedule(self, schedule_id: int) -> ScheduleRecord | None:
        row = self._row("SELECT * FROM schedules WHERE id = ?", [schedule_id])
        return None if row is None else _schedule(row)

    def schedules(
        self, app: str | None, statuses: tuple[ScheduleStatus, ...]
    ) -> list[ScheduleRecord]:
        marks = ", ".join("?" * len(statuses))
        sql = f"SELECT * FROM schedules WHERE status IN ({marks})"
        params: list[object] = list(statuses)
        if app is not None:
            sql += " AND app = ?"
            params.append(app)
        return [_schedule(row) for row in self._rows(sql + " ORDER BY run_at, id", params)]

    def schedule_for_approval(self, approval_id: int) -> ScheduleRecord | None:
        row = self._row("SELECT * FROM schedules WHERE approval_id = ?", [approval_id])
        return None if row is None else _schedule(row)

    def set_schedule_message(self, schedule_id: int, ts: str) -> None:
        self._execute("UPDATE schedules SET message_ts = ? WHERE id = ?", [ts, schedule_id])

    def set_schedule_approval(self, schedule_id: int, approval_id: int) -> None:
        self._execute(
            "UPDATE schedules SET approval_id = ? WHERE id = ?", [approval_id, schedule_id]
        )

    def move_schedule(
        self,
        schedule_id: int,
        old: tuple[ScheduleStatus, ...],
        new: ScheduleStatus,
        *,
        by: str | None = None,
    ) -> bool:
        marks = ", ".join("?" * len(old))
        cursor = self._execute(
            f"UPDATE schedules SET status = ?, decided_by = coalesce(?, decided_by) "
            f"WHERE id = ? AND status IN ({marks})",
            [new, by, schedule_id, *old],
        )
        return bool(cursor.rowcount)

    # The queue

    def enqueue(self, request: DeployRequest, channel: str, at: datetime, until: datetime) -> int:
        return self._insert(
            "queue",
            {
                "app": request.app,
                "request": request_json(request),
                "channel": channel,
                "created_at": time_text(at),
                "expires_at": time_text(until),
            },
        )

    def queued(self, app: str | None) -> list[QueuedDeploy]:
        sql = "SELECT * FROM queue WHERE status = 'waiting'"
        params: list[object] = []
        if app is not None:
            sql += " AND app = ?"
            params.append(app)
        return [_queued(row) for row in self._rows(sql + " ORDER BY id", params)]

    def claim_queued(self, app: str, at: datetime) -> QueuedDeploy | None:
        with self._transaction():
            row = self._row(
                "SELECT * FROM queue WHERE app = ? AND status = 'waiting' AND expires_at > ? "
                "ORDER BY id LIMIT 1",
                [app, time_text(at)],
            )
            if row is None:
                return None
            self._execute("UPDATE queue SET status = 'started' WHERE id = ?", [row["id"]])
        return _queued(row | {"status": "started"})

    def expire_queued(self, at: datetime) -> list[QueuedDeploy]:
        with self._transaction():
            rows = self._rows(
                "SELECT * FROM queue WHERE status = 'waiting' AND expires_at <= ?", [time_text(at)]
            )
            self._execute(
                "UPDATE queue SET status = 'expired' WHERE status = 'waiting' AND expires_at <= ?",
                [time_text(at)],
            )
        return [_queued(row | {"status": "expired"}) for row in rows]


def _hold(row: Row) -> Hold:
    return Hold(
        row["app"],
        row["kind"],
        row["held_by"],
        row["reason"],
        parse_time(row["since"]),
        parse_optional_time(row["until"]),
    )


def _schedule(row: Row) -> ScheduleRecord:
    return ScheduleRecord(
        id=row["id"],
        schedule=NewSchedule(
            request=request_from_json(row["request"]),
            channel=row["channel"],
            run_at=parse_time(row["run_at"]),
            created_at=parse_time(row["created_at"]),
            plan_facts=row["plan_facts"],
        ),
        status=row["status"],
        message_ts=row["message_ts"],
        approval_id=row["approval_id"],
        decided_by=row["decided_by"],
    )


def _queued(row: Row) -> QueuedDeploy:
    return QueuedDeploy(
        id=row["id"],
        request=request_from_json(row["request"]),
        channel=row["channel"],
        created_at=parse_time(row["created_at"]),
        expires_at=parse_time(row["expires_at"]),
        status=row["status"],
    )
