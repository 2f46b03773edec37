"""The store's schema: named migrations (append only, each once, recorded in
``_migrations``), and rows read back as records; shared by both engines."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.sql_base import Row
from strategies.records import (
    ApprovalRecord,
    DeployRecord,
    JobRecord,
    NewApproval,
    NewJob,
    ServerRecord,
    StepRecord,
)
from strategies.requests import request_from_json
from strategies.setting_changes import SettingChange


class Ddl(ABC):
    """How a migration talks to its engine: statements in SQLite's dialect,
    translated where PostgreSQL spells a type differently."""

    @abstractmethod
    def begin(self) -> None:
        """Start the migration transaction, excluding every other migrating process."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def translate(self, sql: str) -> str:
        return sql

    def execute(self, sql: str) -> None:
        self.run(self.translate(sql))


Migration = Callable[[Ddl], None]


def create_settings(db: Ddl) -> None:
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


def create_deploys(db: Ddl) -> None:
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


def create_steps(db: Ddl) -> None:
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


def create_applied_waits(db: Ddl) -> None:
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


def create_locks(db: Ddl) -> None:
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


def create_approvals(db: Ddl) -> None:
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


def add_leases_and_recovery(db: Ddl) -> None:
    # A lock names its holder precisely (boot id, PID namespace, pid start time)
    # and carries the deploy's lease; kind 'recovery' is the lock an interrupted
    # deploy keeps while its journal shows servers out of the load balancer.
    for sql in (
        "ALTER TABLE locks ADD COLUMN kind TEXT NOT NULL DEFAULT 'deploy'",
        "ALTER TABLE locks ADD COLUMN detail TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE locks ADD COLUMN boot_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE locks ADD COLUMN pid_ns TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE locks ADD COLUMN pid_start TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE locks ADD COLUMN lease_until TEXT",
        "ALTER TABLE deploys ADD COLUMN recovers INTEGER REFERENCES deploys (id)",
        "ALTER TABLE deploys ADD COLUMN recovered_at TEXT",
        "ALTER TABLE deploys ADD COLUMN recovered_by TEXT",
        "ALTER TABLE deploys ADD COLUMN channel TEXT",
        "ALTER TABLE deploys ADD COLUMN thread_ts TEXT",
        "ALTER TABLE deploys ADD COLUMN announced_at TEXT",
        "ALTER TABLE deploy_servers ADD COLUMN planned TEXT NOT NULL DEFAULT '[]'",
    ):
        db.execute(sql)


def create_jobs(db: Ddl) -> None:
    db.execute(
        """CREATE TABLE processes (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            hostname TEXT NOT NULL,
            boot_id TEXT NOT NULL,
            pid_ns TEXT NOT NULL,
            pid INTEGER NOT NULL,
            pid_start TEXT NOT NULL,
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            lease_until TEXT NOT NULL,
            stopped_at TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            app TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            channel TEXT NOT NULL,
            text TEXT NOT NULL,
            approval_id INTEGER REFERENCES approvals (id),
            thread_ts TEXT,
            created_at TEXT NOT NULL,
            owner TEXT NOT NULL REFERENCES processes (id),
            status TEXT NOT NULL DEFAULT 'accepted',
            reason TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX jobs_by_status ON jobs (status, owner)")


def create_host_keys(db: Ddl) -> None:
    db.execute(
        """CREATE TABLE host_keys (
            host TEXT PRIMARY KEY,  -- as known_hosts writes it: "[127.0.0.1]:2222"
            key_type TEXT NOT NULL,
            key TEXT NOT NULL,
            pinned_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE seen_requests (
            signature TEXT PRIMARY KEY,
            seen_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX seen_requests_by_time ON seen_requests (seen_at)")
    db.execute("ALTER TABLE approvals ADD COLUMN plan_facts TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE approvals ADD COLUMN force INTEGER NOT NULL DEFAULT 0")


def create_calendar(db: Ddl) -> None:
    db.execute(
        """CREATE TABLE holds (
            app TEXT NOT NULL,
            kind TEXT NOT NULL,  -- lock | freeze
            held_by TEXT NOT NULL,
            reason TEXT NOT NULL,
            since TEXT NOT NULL,
            until TEXT,
            PRIMARY KEY (app, kind)
        )"""
    )
    db.execute(
        """CREATE TABLE schedules (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            app TEXT NOT NULL,
            request TEXT NOT NULL,  -- the DeployRequest, as JSON
            channel TEXT NOT NULL,
            run_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            plan_facts TEXT NOT NULL,
            status TEXT NOT NULL,
            message_ts TEXT,
            approval_id INTEGER REFERENCES approvals (id),
            decided_by TEXT
        )"""
    )
    db.execute("CREATE INDEX schedules_by_status ON schedules (status, run_at)")
    db.execute(
        """CREATE TABLE queue (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            app TEXT NOT NULL,
            request TEXT NOT NULL,
            channel TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'waiting'
        )"""
    )
    db.execute("CREATE INDEX queue_by_app ON queue (app, status, id)")
    db.execute("ALTER TABLE deploys ADD COLUMN override TEXT")
    db.execute("ALTER TABLE approvals ADD COLUMN request TEXT NOT NULL DEFAULT ''")


def add_requests_to_deploys(db: Ddl) -> None:
    db.execute("ALTER TABLE deploys ADD COLUMN request TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE deploys ADD COLUMN continues INTEGER REFERENCES deploys (id)")


def add_batches_to_deploy_servers(db: Ddl) -> None:
    # NULL: recorded before batches were kept (the timeline marks no boundary).
    db.execute("ALTER TABLE deploy_servers ADD COLUMN batch INTEGER")


def create_shown_messages(db: Ddl) -> None:
    # What each Slack message last showed (a digest), so that replicas re-rendering
    # the same state update a message once, not once each.
    db.execute(
        """CREATE TABLE shown_messages (
            channel TEXT NOT NULL,
            ts TEXT NOT NULL,
            digest TEXT NOT NULL,
            shown_at TEXT NOT NULL,
            PRIMARY KEY (channel, ts)
        )"""
    )


def create_setting_changes(db: Ddl) -> None:
    # One row per change of a setting. The values set before history was kept
    # become each key's first entry, already announced (they were news long ago).
    # Safe to run again: IF NOT EXISTS, and a key that has history is not copied.
    db.execute(
        """CREATE TABLE IF NOT EXISTS setting_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            app TEXT NOT NULL,
            key TEXT NOT NULL,
            old TEXT,  -- JSON; NULL: not set (the default)
            new TEXT,  -- JSON; NULL: unset (the default)
            changed_by TEXT NOT NULL,
            changed_at TEXT NOT NULL,
            via TEXT NOT NULL,  -- slack, console, cli, carried over
            channel TEXT,
            announced_at TEXT  -- NULL: the team has not been told yet
        )"""
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS setting_changes_by_app ON setting_changes (app, key, id)"
    )
    db.execute(
        "CREATE INDEX IF NOT EXISTS setting_changes_unannounced "
        "ON setting_changes (announced_at, id)"
    )
    db.execute(
        """INSERT INTO setting_changes
            (app, key, old, new, changed_by, changed_at, via, channel, announced_at)
        SELECT app, key, NULL, value, updated_by, updated_at, 'carried over', NULL, updated_at
        FROM settings
        WHERE NOT EXISTS (
            SELECT 1 FROM setting_changes c WHERE c.app = settings.app AND c.key = settings.key
        )
        ORDER BY updated_at, app, key"""
    )


# Append only: a released migration is never edited or reordered.
MIGRATIONS: list[Migration] = [
    create_settings,
    create_deploys,
    create_steps,
    create_applied_waits,
    create_locks,
    create_approvals,
    add_leases_and_recovery,
    create_jobs,
    create_host_keys,
    create_calendar,
    add_requests_to_deploys,
    add_batches_to_deploy_servers,
    create_shown_messages,
    create_setting_changes,
]


def migrate(db: Ddl) -> list[str]:
    """Apply the pending migrations; return the names applied now.

    ``db.begin()`` excludes every other process doing the same (SQLite's
    ``BEGIN IMMEDIATE``, PostgreSQL's advisory lock), so replicas starting
    together apply each migration exactly once.
    """
    db.begin()
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in db.run("SELECT name FROM _migrations")}
        applied = []
        for migration in MIGRATIONS:
            if migration.__name__ not in done:
                migration(db)
                db.run(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                    [migration.__name__, time_text(datetime.now(UTC))],
                )
                applied.append(migration.__name__)
    except BaseException:
        db.rollback()
        raise
    db.commit()
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


def setting_change(row: Row) -> SettingChange:
    return SettingChange(
        id=row["id"],
        app=row["app"],
        key=row["key"],
        old=None if row["old"] is None else json.loads(row["old"]),
        new=None if row["new"] is None else json.loads(row["new"]),
        by=row["changed_by"],
        at=parse_time(row["changed_at"]),
        via=row["via"],
        channel=row["channel"],
    )


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
        recovers=row["recovers"],
        channel=row["channel"],
        thread_ts=row["thread_ts"],
        cancel_requested_by=row["cancel_requested_by"],
        override=row["override"],
        request=request_from_json(row["request"]) if row["request"] else None,
        approved_by=row.get("approved_by"),
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
        planned=tuple(json.loads(row["planned"])),
        batch=row.get("batch"),
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


def job_record(row: Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        job=NewJob(
            kind=row["kind"],
            app=row["app"],
            requested_by=row["requested_by"],
            channel=row["channel"],
            text=row["text"],
            created_at=parse_time(row["created_at"]),
            approval_id=row["approval_id"],
            thread_ts=row["thread_ts"],
        ),
        status=row["status"],
        owner=row["owner"],
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
            plan_facts=row["plan_facts"],
            force=bool(row["force"]),
            request_json=row["request"],
        ),
        message_ts=row["message_ts"],
        status=row["status"],
        decided_by=row["decided_by"],
        decided_at=parse_optional_time(row["decided_at"]),
    )
