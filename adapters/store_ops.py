"""What operators ask of the store itself: is it there, is its schema current,
which bot processes have used it (``shipbot db check``, ``GET /healthz``)."""

from __future__ import annotations

from datetime import datetime

from adapters.liveness import Holder, holder_dead
from adapters.sql_base import SqlStoreBase
from adapters.store_schema import MIGRATIONS, parse_optional_time, parse_time, time_text
from strategies.records import ProcessRecord, SchemaStatus


class OpsTables(SqlStoreBase):
    def ping(self) -> None:
        """Raise if the database does not answer."""
        self._rows("SELECT 1 AS one", [])

    def schema_status(self) -> SchemaStatus:
        applied = (
            [row["name"] for row in self._rows("SELECT name FROM _migrations", [])]
            if self._has_table("_migrations")
            else []
        )
        known = [migration.__name__ for migration in MIGRATIONS]
        return SchemaStatus(
            applied=tuple(name for name in known if name in applied),
            pending=tuple(name for name in known if name not in applied),
            unknown=tuple(sorted(set(applied) - set(known))),
        )

    def processes_seen(self, since: datetime, now: datetime) -> list[ProcessRecord]:
        """Processes that beat their heart after ``since``, newest first."""
        rows = self._rows(
            "SELECT * FROM processes WHERE heartbeat_at >= ? ORDER BY heartbeat_at DESC",
            [time_text(since)],
        )
        seen = []
        for row in rows:
            holder = Holder(
                row["hostname"], row["boot_id"], row["pid_ns"], row["pid"], row["pid_start"]
            )
            stopped = parse_optional_time(row["stopped_at"])
            dead = holder_dead(holder, parse_time(row["lease_until"]), now)
            seen.append(
                ProcessRecord(
                    kind=row["kind"],
                    hostname=row["hostname"],
                    pid=row["pid"],
                    started_at=parse_time(row["started_at"]),
                    heartbeat_at=parse_time(row["heartbeat_at"]),
                    stopped_at=stopped,
                    alive=stopped is None and not dead,
                )
            )
        return seen
