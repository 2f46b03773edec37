"""Pending approvals and seen chat events, the part of ``SqliteStore`` the Slack app needs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from adapters.sql_base import Row
from adapters.store_jobs import JobTables
from adapters.store_schema import approval_record, time_text
from strategies.records import ApprovalRecord, ApprovalStatus, NewApproval, NewJob

# Slack retries an event for about an hour at most; a day is plenty.
SEEN_EVENTS_KEPT = timedelta(days=1)
SEEN_REQUESTS_KEPT = timedelta(minutes=10)


class ApprovalTables(JobTables):
    """Approvals: one row per request; a decision is a guarded UPDATE, so only one wins."""

    def create_approval(self, approval: NewApproval) -> int:
        return self._insert(
            "approvals",
            {
                "app": approval.app,
                "requested_by": approval.requested_by,
                "strategy": approval.strategy,
                "ref": approval.ref,
                "servers": None if approval.servers is None else json.dumps(list(approval.servers)),
                "channel": approval.channel,
                "created_at": time_text(approval.created_at),
                "expires_at": time_text(approval.expires_at),
                "plan_facts": approval.plan_facts,
                "force": int(approval.force),
                "request": approval.request_json,
            },
        )

    def set_approval_message(self, approval_id: int, ts: str) -> None:
        self._execute("UPDATE approvals SET message_ts = ? WHERE id = ?", [ts, approval_id])

    def get_approval(self, approval_id: int) -> ApprovalRecord | None:
        return _first(self._rows("SELECT * FROM approvals WHERE id = ?", [approval_id]))

    def approval_for_message(self, channel: str, ts: str) -> ApprovalRecord | None:
        rows = self._rows(
            "SELECT * FROM approvals WHERE channel = ? AND message_ts = ?", [channel, ts]
        )
        return _first(rows)

    def pending_approvals(self) -> list[ApprovalRecord]:
        rows = self._rows("SELECT * FROM approvals WHERE status = 'pending' ORDER BY id", [])
        return [approval_record(row) for row in rows]

    def decide_approval(
        self, approval_id: int, status: ApprovalStatus, *, by: str, at: datetime
    ) -> bool:
        """Move a pending approval to ``status``; False if it was already decided.

        The ``status = 'pending'`` guard inside ``BEGIN IMMEDIATE`` makes the
        first writer win; a racing thread or process then updates no row.
        """
        if status == "pending":
            raise ValueError("a decision cannot be 'pending'")
        with self._transaction():
            return self._decide(approval_id, status, by, at)

    def _decide(self, approval_id: int, status: ApprovalStatus, by: str, at: datetime) -> bool:
        cursor = self._execute(
            "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ? "
            "WHERE id = ? AND status = 'pending'",
            [status, by, time_text(at), approval_id],
        )
        return bool(cursor.rowcount)

    def approve_into_job(
        self, approval_id: int, *, by: str, at: datetime, job: NewJob, owner: str
    ) -> int | None:
        """Approve and accept the deploy job in one transaction, so an approval is
        never recorded without the deploy it starts (or its announcement)."""
        with self._transaction():
            if not self._decide(approval_id, "approved", by, at):
                return None
            return self._accept(job, owner)

    def mark_event_seen(self, event_id: str, at: datetime) -> bool:
        """Record a chat event id; False if it was seen before (a retry).

        Ids older than a day are pruned in the same transaction.
        """
        with self._transaction():
            self._execute(
                "DELETE FROM seen_events WHERE seen_at < ?", [time_text(at - SEEN_EVENTS_KEPT)]
            )
            cursor = self._execute(
                "INSERT INTO seen_events (event_id, seen_at) VALUES (?, ?) "
                "ON CONFLICT (event_id) DO NOTHING",
                [event_id, time_text(at)],
            )
            return bool(cursor.rowcount)

    def mark_request_seen(self, signature: str, at: datetime) -> bool:
        """Record a signed request's signature; False if it was seen before (a replay).

        Slack refuses a signature older than five minutes, so ten are kept."""
        with self._transaction():
            self._execute(
                "DELETE FROM seen_requests WHERE seen_at < ?",
                [time_text(at - SEEN_REQUESTS_KEPT)],
            )
            cursor = self._execute(
                "INSERT INTO seen_requests (signature, seen_at) VALUES (?, ?) "
                "ON CONFLICT (signature) DO NOTHING",
                [signature, time_text(at)],
            )
            return bool(cursor.rowcount)


def _first(rows: list[Row]) -> ApprovalRecord | None:
    return approval_record(rows[0]) if rows else None
