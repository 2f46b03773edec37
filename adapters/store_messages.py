"""What Slack messages show: the interrupted deploys whose thread may need
re-rendering since a time, and a digest per message so that each state is
shown once, whichever process renders it."""

from __future__ import annotations

from datetime import datetime

from adapters.store_recovery import RecoveryTables
from adapters.store_schema import time_text
from strategies.records import InterruptedThread

# Interrupted (finished_at), recovered (recovered_at), or a recovery of it started
# or ended since the time given: the three moves of an interrupted deploy's message.
_CHANGED = """SELECT d.id, d.recovered_by,
    (SELECT MAX(r.id) FROM deploys r WHERE r.recovers = d.id) AS recovery_id
FROM deploys d
WHERE d.status = 'interrupted' AND d.thread_ts IS NOT NULL AND (
    d.finished_at >= ? OR d.recovered_at >= ? OR EXISTS (
        SELECT 1 FROM deploys r WHERE r.recovers = d.id
            AND (r.started_at >= ? OR r.finished_at >= ?)))
ORDER BY d.id"""


class MessageTables(RecoveryTables):
    def interrupted_threads_since(self, since: datetime) -> list[InterruptedThread]:
        at = time_text(since)
        with self._transaction(write=False):
            rows = self._rows(_CHANGED, [at, at, at, at])
            found = []
            for row in rows:
                deploy = self._deploy(row["id"])
                recovery = None if row["recovery_id"] is None else self._deploy(row["recovery_id"])
                if deploy is not None:
                    found.append(InterruptedThread(deploy, row["recovered_by"], recovery))
        return found

    def claim_shown(self, channel: str, ts: str, digest: str, at: datetime) -> bool:
        cursor = self._execute(
            """INSERT INTO shown_messages (channel, ts, digest, shown_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (channel, ts) DO UPDATE SET digest = excluded.digest,
                shown_at = excluded.shown_at
            WHERE shown_messages.digest <> excluded.digest""",
            [channel, ts, digest, time_text(at)],
        )
        return bool(cursor.rowcount)
