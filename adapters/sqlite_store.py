"""The embedded store: settings, applied waits, history, journal and locks in SQLite."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from adapters.liveness import process_gone
from adapters.sqlite_approvals import ApprovalTables
from adapters.sqlite_schema import (
    Row,
    deploy_record,
    migrate,
    parse_time,
    server_record,
    step_record,
    time_text,
)
from strategies.ports import DeployLocked, DeployRecord, NewDeploy, ServerRecord, StepRecord
from strategies.results import ServerOutcome
from strategies.waits import AppliedWait, EffectiveWait


class SqliteStore(ApprovalTables):
    """``strategies.ports.Store`` over one SQLite file, shared by threads and processes.

    Every write that reads before it writes runs in ``BEGIN IMMEDIATE``, so two
    bot processes on the same file never both take an app's lock.
    """

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=30000")
        _enable_wal(conn)
        conn.execute("PRAGMA foreign_keys=ON")
        self._db = Database(conn)
        self._lock = threading.RLock()
        migrate(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # Settings

    def get_settings(self, app: str) -> dict[str, Any]:
        rows = self._rows("SELECT key, value FROM settings WHERE app = ? ORDER BY key", [app])
        return {row["key"]: json.loads(row["value"]) for row in rows}

    def set_setting(self, app: str, key: str, value: Any, *, by: str) -> None:
        self._execute(
            """INSERT INTO settings (app, key, value, updated_at, updated_by)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (app, key) DO UPDATE SET value = excluded.value,
                updated_at = excluded.updated_at, updated_by = excluded.updated_by""",
            [app, key, json.dumps(value), time_text(datetime.now(UTC)), by],
        )

    def unset_setting(self, app: str, key: str) -> bool:
        cursor = self._execute("DELETE FROM settings WHERE app = ? AND key = ?", [app, key])
        return cursor.rowcount > 0

    # Applied waits

    def applied_waits(self, app: str) -> dict[str, AppliedWait]:
        rows = self._rows("SELECT * FROM applied_waits WHERE app = ?", [app])
        return {
            row["key"]: AppliedWait(
                row["key"], row["seconds"], row["deploy_id"], parse_time(row["applied_at"])
            )
            for row in rows
        }

    def apply_waits(
        self, app: str, deploy_id: int, waits: Iterable[EffectiveWait], at: datetime
    ) -> None:
        with self._transaction():
            for wait in waits:
                if wait.change == "store":
                    self._db.execute(
                        """INSERT INTO applied_waits (app, key, seconds, deploy_id, applied_at)
                        VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (app, key) DO UPDATE SET seconds = excluded.seconds,
                            deploy_id = excluded.deploy_id, applied_at = excluded.applied_at""",
                        [app, wait.key, wait.seconds, deploy_id, time_text(at)],
                    )
                elif wait.change == "clear":
                    self._db.execute(
                        "DELETE FROM applied_waits WHERE app = ? AND key = ?", [app, wait.key]
                    )

    # Deploys and their lock

    def begin_deploy(self, deploy: NewDeploy, *, holder: str) -> int:
        """Take the app's lock and record the deploy, atomically; DeployLocked if held.

        A lock left by a process that died on this host is broken first, and
        its deploy marked ``interrupted``.
        """
        with self._transaction():
            lock = self._row("SELECT * FROM locks WHERE app = ?", [deploy.app])
            if lock is not None:
                if not process_gone(lock["pid"], lock["hostname"]):
                    since = parse_time(lock["since"])
                    raise DeployLocked(deploy.app, lock["holder"], since, lock["deploy_id"])
                self._interrupt(lock, deploy.started_at)
            return self._insert_deploy(deploy, holder)

    def _insert_deploy(self, deploy: NewDeploy, holder: str) -> int:
        started = time_text(deploy.started_at)
        process = {"pid": os.getpid(), "hostname": socket.gethostname()}
        deploys = self._db.table("deploys").insert(
            {
                "app": deploy.app,
                "strategy": deploy.strategy,
                "reason": deploy.reason,
                "ref": deploy.ref,
                "requested_by": deploy.requested_by,
                "started_at": started,
                "status": "running",
                **process,
            }
        )
        deploy_id = deploys.last_pk
        assert isinstance(deploy_id, int)
        self._db.table("deploy_servers").insert_all(
            {"deploy_id": deploy_id, "server": server, "position": position}
            for position, server in enumerate(deploy.servers)
        )
        self._db.table("locks").insert(
            {"app": deploy.app, "deploy_id": deploy_id, "holder": holder, "since": started}
            | process
        )
        return deploy_id

    def _interrupt(self, lock: Row, at: datetime) -> None:
        deploy_id, out = lock["deploy_id"], self._left_out_of_lb(lock["deploy_id"])
        summary = f"interrupted: process {lock['pid']} on {lock['hostname']} died mid-deploy"
        if out:
            summary += "; possibly out of the load balancer: " + ", ".join(out)
        self._db.execute(
            "UPDATE deploys SET status = 'interrupted', summary = ?, finished_at = ? WHERE id = ?",
            [summary, time_text(at), deploy_id],
        )
        self._db.execute(
            f"""UPDATE deploy_servers SET status = 'interrupted', finished_at = ?,
                lb = CASE WHEN server IN ({", ".join("?" * len(out))}) THEN 'out' ELSE lb END
            WHERE deploy_id = ? AND status IN ('running', 'pending')""",
            [time_text(at), *out, deploy_id],
        )
        self._db.execute("DELETE FROM locks WHERE app = ?", [lock["app"]])

    def _left_out_of_lb(self, deploy_id: int) -> list[str]:
        """Servers the journal shows removed from the load balancer and never put back."""
        rows = self._rows(
            "SELECT server, kind FROM steps WHERE deploy_id = ? AND status = 'ok' "
            "AND kind IN ('lb_remove', 'lb_add') ORDER BY rowid",
            [deploy_id],
        )
        out: dict[str, None] = {}  # a dict keeps the order servers were removed in
        for row in rows:
            if row["kind"] == "lb_remove":
                out[row["server"]] = None
            else:
                out.pop(row["server"], None)
        return list(out)

    def finish_deploy(self, deploy_id: int, status: str, summary: str, at: datetime) -> None:
        """Record the end and release the app's lock."""
        with self._transaction():
            self._db.execute(
                "UPDATE deploys SET status = ?, summary = ?, finished_at = ? WHERE id = ?",
                [status, summary, time_text(at), deploy_id],
            )
            self._db.execute("DELETE FROM locks WHERE deploy_id = ?", [deploy_id])

    def request_cancel(self, app: str, *, by: str) -> int | None:
        """Flag the app's running deploy for cancellation; its id, or None if none runs.

        A second request keeps the first requester's name and time.
        """
        with self._transaction():
            lock = self._row("SELECT deploy_id FROM locks WHERE app = ?", [app])
            if lock is None:
                return None
            cursor = self._db.execute(
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

    # Journal

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
            """UPDATE deploy_servers SET status = :status, lb = :lb, detail = :detail,
                output_tail = :output_tail, finished_at = :at
            WHERE deploy_id = :deploy_id AND server = :server""",
            asdict(outcome) | {"deploy_id": deploy_id, "at": time_text(at)},
        )

    # Reading history

    def running_deploy(self, app: str) -> DeployRecord | None:
        """The deploy holding the app's lock; a dead holder's deploy is marked
        ``interrupted`` here, so status never reports a crashed deploy as running."""
        with self._transaction():
            lock = self._row("SELECT * FROM locks WHERE app = ?", [app])
            if lock is None:
                return None
            if process_gone(lock["pid"], lock["hostname"]):
                self._interrupt(lock, datetime.now(UTC))
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

    def steps(self, deploy_id: int) -> list[StepRecord]:
        rows = self._rows("SELECT * FROM steps WHERE deploy_id = ? ORDER BY rowid", [deploy_id])
        return [step_record(row) for row in rows]

    def _deploy(self, deploy_id: int) -> DeployRecord | None:
        row = self._row("SELECT * FROM deploys WHERE id = ?", [deploy_id])
        return None if row is None else deploy_record(row, self._servers(deploy_id))

    def _servers(self, deploy_id: int) -> tuple[ServerRecord, ...]:
        rows = self._rows(
            "SELECT * FROM deploy_servers WHERE deploy_id = ? ORDER BY position", [deploy_id]
        )
        return tuple(server_record(row) for row in rows)

    # Plumbing

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[None]:
        # IMMEDIATE takes the write lock before the first read: a deferred
        # transaction could read "no lock row" while another process adds one.
        # Reads use a plain BEGIN so a deploy and its servers come from one snapshot.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._db.rollback()
                raise

    def _execute(self, sql: str, params: list[Any] | dict[str, Any]) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    def _rows(self, sql: str, params: list[Any]) -> list[Row]:
        with self._lock:
            cursor = self._db.execute(sql, params)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def _row(self, sql: str, params: list[Any]) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None


def _enable_wal(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    # Switching a new file to WAL needs an exclusive lock and SQLite answers
    # "database is locked" at once, without the busy handler, when another
    # process is doing the same: retry for a while instead of failing.
    deadline = time.monotonic() + patience
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
