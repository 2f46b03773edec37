"""The SQLite schema of ``SqliteStore``: named migrations, and rows read back as records."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from strategies.ports import (
    ApprovalRecord,
    DeployRecord,
    NewApproval,
    ServerRecord,
    StepRecord,
)

Migration = Callable[[Database], None]
Row = dict[str, Any]


def create_settings(db: Database) -> None:
    db.execute(
        """CREATE TABLE settings (
            app TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,  -- JSON, so booleans and numbers keep their type
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            PRIMARY KEY (app, key)
        )"""
    )


def create_deploys(db: Database) -> None:
    # AUTOINCREMENT: a deploy number quoted in chat must never be reused.
    db.execute(
        """CREATE TABLE deploys (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            app TEXT NOT NULL,
            strategy TEXT NOT NULL,
            reason TEXT NOT NULL,
            ref TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            cancel_requested_by TEXT,
            cancel_requested_at TEXT,
            pid INTEGER NOT NULL,
            hostname TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX deploys_by_app ON deploys (app, id)")
    db.execute(
        """CREATE TABLE deploy_servers (
            deploy_id INTEGER NOT NULL REFERENCES deploys (id),
            server TEXT NOT NULL,
            position INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            lb TEXT NOT NULL DEFAULT 'n/a',
            detail TEXT NOT NULL DEFAULT '',
            output_tail TEXT NOT NULL DEFAULT '',
            started_at TEXT,
            finished_at TEXT,
            PRIMARY KEY (deploy_id, server)
        )"""
    )


def create_steps(db: Database) -> None:
    db.execute(
        """CREATE TABLE steps (
            deploy_id INTEGER NOT NULL REFERENCES deploys (id),
            server TEXT NOT NULL,
            idx INTEGER NOT NULL,
            kind TEXT NOT NULL,
            label TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            detail TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (deploy_id, server, idx)
        )"""
    )


def create_applied_waits(db: Database) -> None:
    db.execute(
        """CREATE TABLE applied_waits (
            app TEXT NOT NULL,
            key TEXT NOT NULL,
            seconds REAL NOT NULL,
            deploy_id INTEGER NOT NULL REFERENCES deploys (id),
            applied_at TEXT NOT NULL,
            PRIMARY KEY (app, key)
        )"""
    )


def create_locks(db: Database) -> None:
    db.execute(
        """CREATE TABLE locks (
            app TEXT PRIMARY KEY,
            deploy_id INTEGER NOT NULL UNIQUE REFERENCES deploys (id),
            holder TEXT NOT NULL,
            since TEXT NOT NULL,
            pid INTEGER NOT NULL,
            hostname TEXT NOT NULL
        )"""
    )


def create_approvals(db: Database) -> None:
    # servers: a JSON list, or NULL for every server; strategy NULL: the setting decides.
    db.execute(
        """CREATE TABLE approvals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            app TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            strategy TEXT,
            ref TEXT,
            servers TEXT,
            channel TEXT NOT NULL,
            message_ts TEXT,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            decided_by TEXT,
            decided_at TEXT
        )"""
    )
    db.execute("CREATE INDEX approvals_by_message ON approvals (channel, message_ts)")
    db.execute("CREATE INDEX approvals_by_status ON approvals (status)")
    db.execute(
        """CREATE TABLE seen_events (
            event_id TEXT PRIMARY KEY,
            seen_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX seen_events_by_time ON seen_events (seen_at)")


# Append only: a released migration is never edited or reordered.
MIGRATIONS: list[Migration] = [
    create_settings,
    create_deploys,
    create_steps,
    create_applied_waits,
    create_locks,
    create_approvals,
]


def migrate(db: Database) -> list[str]:
    """Apply the pending migrations; return the names applied now.

    ``BEGIN IMMEDIATE`` takes the write lock before looking, so processes
    opening a new file together apply each migration exactly once.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in db.execute("SELECT name FROM _migrations").fetchall()}
        applied = []
        for migration in MIGRATIONS:
            if migration.__name__ not in done:
                migration(db)
                db.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                    [migration.__name__, time_text(datetime.now(UTC))],
                )
                applied.append(migration.__name__)
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")
    return applied


def time_text(at: datetime) -> str:
    """An ISO-8601 UTC string; fixed width, so text order is time order."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # a naive time is taken to be UTC already
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def parse_optional_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def deploy_record(row: Row, servers: tuple[ServerRecord, ...]) -> DeployRecord:
    return DeployRecord(
        id=row["id"],
        app=row["app"],
        strategy=row["strategy"],
        reason=row["reason"],
        ref=row["ref"],
        requested_by=row["requested_by"],
        started_at=parse_time(row["started_at"]),
        finished_at=parse_optional_time(row["finished_at"]),
        status=row["status"],
        summary=row["summary"],
        servers=servers,
    )


def server_record(row: Row) -> ServerRecord:
    return ServerRecord(
        server=row["server"],
        position=row["position"],
        status=row["status"],
        lb=row["lb"],
        detail=row["detail"],
        output_tail=row["output_tail"],
        started_at=parse_optional_time(row["started_at"]),
        finished_at=parse_optional_time(row["finished_at"]),
    )


def step_record(row: Row) -> StepRecord:
    return StepRecord(
        server=row["server"],
        index=row["idx"],
        kind=row["kind"],
        label=row["label"],
        status=row["status"],
        started_at=parse_time(row["started_at"]),
        finished_at=parse_optional_time(row["finished_at"]),
        detail=row["detail"],
    )


def approval_record(row: Row) -> ApprovalRecord:
    servers = row["servers"]
    return ApprovalRecord(
        id=row["id"],
        request=NewApproval(
            app=row["app"],
            requested_by=row["requested_by"],
            strategy=row["strategy"],
            ref=row["ref"],
            servers=None if servers is None else tuple(json.loads(servers)),
            channel=row["channel"],
            created_at=parse_time(row["created_at"]),
            expires_at=parse_time(row["expires_at"]),
        ),
        message_ts=row["message_ts"],
        status=row["status"],
        decided_by=row["decided_by"],
        decided_at=parse_optional_time(row["decided_at"]),
    )
