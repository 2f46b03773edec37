"""Approvals and seen events, on both engines: survive reopening; a decision and an event id
win once, across threads and processes."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.stores import open_store
from strategies.records import NewApproval, NewJob
from strategies.store import Store
from tests.infra.stores import table_rows

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
SPAWN = multiprocessing.get_context("spawn")


def request(
    app: str = "shop", by: str = "U0DEV", servers: tuple[str, ...] | None = ("web1", "web2")
) -> NewApproval:
    return NewApproval(
        app=app,
        requested_by=by,
        strategy="serial",
        ref="v1.2",
        servers=servers,
        channel="C0DEPLOYS",
        created_at=T0,
        expires_at=T0 + timedelta(minutes=30),
    )


def decide_in_child(path: str, approval_id: int, start: Any, results: Any, name: str) -> None:
    store = open_store(path)
    start.wait(timeout=60)
    won = store.decide_approval(approval_id, "approved", by=name, at=T0)
    results.put((name, won))
    store.close()


def test_an_approval_is_kept_with_its_request_and_found_by_its_message(store_location: str) -> None:
    first = open_store(store_location)
    approval_id = first.create_approval(request())
    everywhere = first.create_approval(request(servers=None))
    first.set_approval_message(approval_id, "1700000000.000101")
    first.close()

    store = open_store(store_location)
    record = store.approval_for_message("C0DEPLOYS", "1700000000.000101")

    assert record is not None and record.id == approval_id
    assert record.request == request()
    assert (record.status, record.decided_by, record.decided_at) == ("pending", None, None)
    assert store.approval_for_message("C0OTHER", "1700000000.000101") is None
    assert store.approval_for_message("C0DEPLOYS", "1700000000.000999") is None
    whole_fleet = store.get_approval(everywhere)
    assert whole_fleet is not None and whole_fleet.request.servers is None
    assert whole_fleet.message_ts is None
    assert store.get_approval(9999) is None
    store.close()


def test_a_decision_is_final_and_only_pending_approvals_are_listed(store: Store) -> None:
    approved, rejected, open_one = (store.create_approval(request()) for _ in range(3))

    assert store.decide_approval(approved, "approved", by="U0LEAD", at=T0 + timedelta(minutes=1))
    assert store.decide_approval(rejected, "rejected", by="U0LEAD", at=T0)
    assert not store.decide_approval(approved, "rejected", by="U0OTHER", at=T0)
    assert not store.decide_approval(approved, "expired", by="shipbot", at=T0)

    record = store.get_approval(approved)
    assert record is not None
    assert (record.status, record.decided_by) == ("approved", "U0LEAD")
    assert record.decided_at == T0 + timedelta(minutes=1)
    assert [r.id for r in store.pending_approvals()] == [open_one]
    with pytest.raises(ValueError, match="cannot be 'pending'"):
        store.decide_approval(open_one, "pending", by="U0LEAD", at=T0)


def test_of_eight_threads_deciding_at_once_exactly_one_wins(store: Store) -> None:
    approval_id = store.create_approval(request())
    start = threading.Barrier(8)
    wins: list[str] = []

    def decide(name: str) -> None:
        start.wait(timeout=30)
        if store.decide_approval(approval_id, "approved", by=name, at=T0):
            wins.append(name)

    threads = [threading.Thread(target=decide, args=(f"U{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(wins) == 1
    record = store.get_approval(approval_id)
    assert record is not None and record.decided_by == wins[0]


def test_of_four_processes_deciding_at_once_exactly_one_wins(store_location: str) -> None:
    store = open_store(store_location)
    approval_id = store.create_approval(request())
    start, results = SPAWN.Barrier(4), SPAWN.Queue()
    children = [
        SPAWN.Process(
            target=decide_in_child, args=(store_location, approval_id, start, results, f"U{n}")
        )
        for n in range(4)
    ]
    for child in children:
        child.start()
    reports = dict(results.get(timeout=90) for _ in children)
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0

    winners = [name for name, won in reports.items() if won]
    assert len(winners) == 1
    record = store.get_approval(approval_id)
    assert record is not None and record.decided_by == winners[0]
    store.close()


def test_an_event_id_is_new_once_even_after_reopening(store_location: str) -> None:
    first = open_store(store_location)
    assert first.mark_event_seen("Ev01", T0)
    assert not first.mark_event_seen("Ev01", T0 + timedelta(seconds=5))
    first.close()

    second = open_store(store_location)
    assert not second.mark_event_seen("Ev01", T0 + timedelta(minutes=30))
    assert second.mark_event_seen("Ev02", T0)
    second.close()


def test_event_ids_older_than_a_day_are_pruned(store_location: str) -> None:
    store = open_store(store_location)
    store.mark_event_seen("Ev-old", T0)
    store.mark_event_seen("Ev-recent", T0 + timedelta(hours=20))

    store.mark_event_seen("Ev-now", T0 + timedelta(days=1, minutes=1))
    store.close()

    kept = {
        row["event_id"] for row in table_rows(store_location, "SELECT event_id FROM seen_events")
    }
    assert kept == {"Ev-recent", "Ev-now"}


def test_concurrent_deliveries_of_one_event_are_new_exactly_once(store: Store) -> None:
    start = threading.Barrier(6)
    fresh: list[bool] = []

    def deliver() -> None:
        start.wait(timeout=30)
        fresh.append(store.mark_event_seen("Ev-retried", T0))

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(fresh) == [False] * 5 + [True]


def approve_and_die(path: str, approval_id: int, results: Any) -> None:
    """Approve into a deploy job, then exit before starting it, as a crashed bot would."""
    store = open_store(path)
    owner = store.register_process("serve", T0)
    job = NewJob("approved", "shop", "U0DEV", "C0DEPLOYS", "/deploy shop", T0, approval_id, "1.5")
    results.put(store.approve_into_job(approval_id, by="U0LEAD", at=T0, job=job, owner=owner))


def test_an_approval_whose_process_died_before_deploying_is_found_once(store_location: str) -> None:
    store = open_store(store_location)
    approval_id = store.create_approval(request())
    results = SPAWN.Queue()
    child = SPAWN.Process(target=approve_and_die, args=(store_location, approval_id, results))
    child.start()
    job_id = results.get(timeout=60)
    child.join(timeout=60)

    record = store.get_approval(approval_id)
    assert record is not None and record.status == "approved"
    (orphan,) = store.orphaned_jobs(T0 + timedelta(seconds=1))
    assert (orphan.id, orphan.job.kind, orphan.job.thread_ts) == (job_id, "approved", "1.5")
    assert store.abandon_job(job_id, reason="died") is True
    assert store.orphaned_jobs(T0) == [] and store.abandon_job(job_id, reason="died") is False
    # Decided once: a second approval of the same request makes no second job.
    job = NewJob("approved", "shop", "U0DEV", "C0DEPLOYS", "/deploy shop", T0, approval_id)
    assert store.approve_into_job(approval_id, by="U0X", at=T0, job=job, owner="x") is None
