"""The job pool: acknowledged work starts, or is announced as not run, never dropped."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from adapters.sqlite_store import SqliteStore
from bot.slack.jobs import STOPPED, Jobs
from strategies.cancel import CancelToken
from strategies.records import NewJob

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def accepted(store: SqliteStore, owner: str, app: str) -> int:
    job = NewJob("deploy", app, "U0DEV", "C0", f"/deploy {app}", NOW)
    return store.accept_job(job, owner=owner)


def statuses(store: SqliteStore) -> list[str]:
    return [row["status"] for row in store._rows("SELECT status FROM jobs ORDER BY id", [])]


def test_stop_announces_every_queued_job_and_lets_the_running_one_finish(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    owner = store.register_process("test", NOW)
    jobs = Jobs(store, max_workers=1)
    running = threading.Event()
    cancelled: list[bool] = []
    told: list[tuple[str, str]] = []

    def first(token: CancelToken) -> None:
        running.set()
        cancelled.append(token.cancel_event.wait(10))  # until stop() cancels it softly

    jobs.submit(first, job_id=accepted(store, owner, "shop"))
    for app in ("blog", "wiki"):
        jobs.submit(
            lambda _: None,
            job_id=accepted(store, owner, app),
            not_run=lambda reason, app=app: told.append((app, reason)),
        )
    assert running.wait(10)
    jobs.stop()

    assert told == [("blog", STOPPED), ("wiki", STOPPED)]
    assert cancelled == [True]  # the running deploy was asked to stop softly
    assert statuses(store) == ["done", "not_run", "not_run"]
    late: list[str] = []
    jobs.submit(lambda _: None, job_id=accepted(store, owner, "late"), not_run=late.append)
    assert late == [STOPPED]


def test_a_job_another_process_abandoned_first_never_starts(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db")
    owner = store.register_process("test", NOW)
    job_id = accepted(store, owner, "shop")
    assert store.abandon_job(job_id, reason="found orphaned") is True
    assert store.abandon_job(job_id, reason="again") is False  # announced once
    ran: list[str] = []
    jobs = Jobs(store, max_workers=1)

    jobs.submit(lambda _: ran.append("ran"), job_id=job_id).result(10)
    jobs.stop()

    assert ran == [] and statuses(store) == ["not_run"]
