"""The store, on SQLite and on PostgreSQL: what shipbot keeps survives reopening, and one
deploy per app holds the lock, across threads and processes."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from adapters.sql_base import SqlStoreBase
from adapters.store_schema import time_text
from adapters.stores import open_store
from strategies.records import DeployLocked, NewDeploy, ServerRecord
from strategies.results import ServerOutcome
from strategies.store import Store
from strategies.waits import AppliedWait, EffectiveWait
from tests.infra.settings import put_setting
from tests.infra.stores import table_rows

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
SPAWN = multiprocessing.get_context("spawn")
REMOVING, ADDING = "wait_after_removing_servers", "wait_after_adding_servers"


def new_deploy(
    app: str = "shop",
    servers: tuple[str, ...] = ("web1", "web2", "web3"),
    by: str = "alice",
    at: datetime = T0,
) -> NewDeploy:
    kinds = ("connect", "lb_remove", "wait_removed", "command", "lb_add", "wait_added")
    return NewDeploy(
        app, "serial", "release", "main", by, servers, at, planned=tuple(kinds for _ in servers)
    )


def migrations_in(location: str) -> list[tuple[str, str]]:
    rows = table_rows(location, "SELECT name, applied_at FROM _migrations ORDER BY name")
    return [(row["name"], row["applied_at"]) for row in rows]


# Child processes (module level, so the spawn context can import them)


def open_store_together(path: str, start: Any, results: Any, name: str) -> None:
    start.wait(timeout=60)
    try:
        open_store(path).close()
        results.put((name, "opened"))
    except Exception as error:
        results.put((name, repr(error)))


def race_for_the_lock(path: str, start: Any, results: Any, name: str) -> None:
    store = open_store(path)
    start.wait(timeout=60)
    try:
        deploy_id = store.begin_deploy(new_deploy(by=name), holder=name)
        results.put((name, "won", deploy_id))
    except DeployLocked as locked:
        results.put((name, "locked", (locked.holder, locked.deploy_id)))
    except Exception as error:
        results.put((name, "error", repr(error)))
    # The winner's deploy must still be running while the others try.
    start.wait(timeout=60)
    store.close()


def crash_mid_deploy(path: str, results: Any) -> None:
    store = open_store(path)
    deploy_id = store.begin_deploy(new_deploy(by="bob"), holder="bob")
    journal = [
        ("web1", "lb_remove"),
        ("web1", "command"),
        ("web1", "lb_add"),
        ("web2", "lb_remove"),
    ]
    for index, (server, kind) in enumerate(journal):
        store.record_step_start(deploy_id, server, index, kind, kind, T0)
        store.record_step_end(deploy_id, server, index, True, "", T0)
    store.record_server(deploy_id, ServerOutcome("web1", "ok", lb="in"), T0)
    store.record_server_start(deploy_id, "web2", T0)
    store.record_step_start(deploy_id, "web2", 4, "command", "run deploy script", T0)
    results.put(deploy_id)  # and exit without finish_deploy, as a killed bot would


def run_together(target: Callable[..., None], location: str, count: int) -> list[tuple[Any, ...]]:
    start, results = SPAWN.Barrier(count), SPAWN.Queue()
    children = [
        SPAWN.Process(target=target, args=(location, start, results, f"user{n}"))
        for n in range(count)
    ]
    for child in children:
        child.start()
    reports = [results.get(timeout=90) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    return reports


def start_crashing_deploy(location: str) -> tuple[Any, int]:
    results = SPAWN.Queue()
    child = SPAWN.Process(target=crash_mid_deploy, args=(location, results))
    child.start()
    return child, results.get(timeout=90)


# Migrations


def test_reopening_the_store_applies_no_migration_twice_and_keeps_data(store_location: str) -> None:
    first = open_store(store_location)
    put_setting(first, "shop", "deploy.parallel", True, by="alice")
    first.close()
    applied = migrations_in(store_location)

    second = open_store(store_location)

    assert second.get_settings("shop") == {"deploy.parallel": True}
    assert migrations_in(store_location) == applied
    assert len({name for name, _ in applied}) == len(applied) > 0
    second.close()


def test_processes_creating_the_same_new_file_together_all_succeed(store_location: str) -> None:
    reports = run_together(open_store_together, store_location, 6)

    assert sorted(reports) == [(f"user{n}", "opened") for n in range(6)]
    names = [name for name, _ in migrations_in(store_location)]
    assert len(names) == len(set(names)) > 0


# Settings


def test_settings_keep_their_json_types(store: Store) -> None:
    put_setting(store, "shop", "deploy.parallel", True, by="alice")
    put_setting(store, "shop", "deploy.max_parallel", 3, by="alice")
    put_setting(store, "shop", "deploy.timeout", 90.5, by="alice")
    put_setting(store, "shop", "deploy.branch", "main", by="alice")
    put_setting(store, "shop", "notify", ["#ops", "#shop"], by="alice")

    settings = store.get_settings("shop")

    assert settings == {
        "deploy.parallel": True,
        "deploy.max_parallel": 3,
        "deploy.timeout": 90.5,
        "deploy.branch": "main",
        "notify": ["#ops", "#shop"],
    }
    assert type(settings["deploy.parallel"]) is bool
    assert type(settings["deploy.max_parallel"]) is int


def test_setting_again_overwrites_and_apps_are_separate(store: Store) -> None:
    put_setting(store, "shop", "deploy.parallel", True, by="alice")
    put_setting(store, "shop", "deploy.parallel", False, by="bob")
    put_setting(store, "blog", "deploy.parallel", True, by="carol")

    assert store.get_settings("shop") == {"deploy.parallel": False}
    assert store.get_settings("blog") == {"deploy.parallel": True}
    assert store.get_settings("wiki") == {}


def test_each_change_is_recorded_with_its_old_and_new_value(store: Store) -> None:
    first = put_setting(store, "shop", "deploy.parallel", True, by="U0ALICE", channel="C1", at=T0)
    later = T0 + timedelta(minutes=5)
    second = put_setting(store, "shop", "deploy.parallel", None, by="bob", via="cli", at=later)

    assert first is not None and second is not None
    assert (first.old, first.new, first.values_text()) == (None, True, "false (default) → true")
    assert (second.old, second.new, second.values_text()) == (True, None, "true → false (default)")
    history = store.setting_history("shop", None, 10)
    assert [(c.id, c.by, c.via, c.channel, c.at) for c in history] == [
        (second.id, "bob", "cli", None, later),
        (first.id, "U0ALICE", "slack", "C1", T0),
    ]
    assert store.get_settings("shop") == {}


def test_a_change_that_changes_nothing_is_not_recorded(store: Store) -> None:
    assert put_setting(store, "shop", "deploy.parallel", False) is None  # the default
    assert put_setting(store, "shop", "deploy.parallel", None) is None  # not set
    assert put_setting(store, "shop", "deploy.max_parallel", 3) is not None
    assert put_setting(store, "shop", "deploy.max_parallel", 3) is None

    assert [c.new for c in store.setting_history("shop", None, 10)] == [3]
    assert store.get_settings("shop") == {"deploy.max_parallel": 3}


def test_history_is_per_app_and_key_newest_first_and_limited(store: Store) -> None:
    for n in range(1, 6):
        put_setting(store, "shop", "deploy.max_parallel", n, at=T0 + timedelta(minutes=n))
    put_setting(store, "shop", "deploy.parallel", True)
    put_setting(store, "blog", "deploy.max_parallel", 9)

    assert [c.new for c in store.setting_history("shop", "deploy.max_parallel", 3)] == [5, 4, 3]
    assert [c.key for c in store.setting_history("shop", None, 2)] == [
        "deploy.parallel",
        "deploy.max_parallel",
    ]
    assert [c.new for c in store.setting_history("blog", None, 10)] == [9]
    assert store.setting_history("wiki", None, 10) == []


def test_origins_name_the_change_that_set_each_current_value(store: Store) -> None:
    put_setting(store, "shop", "deploy.parallel", True, by="alice", at=T0)
    put_setting(store, "shop", "deploy.parallel", None, by="bob", at=T0 + timedelta(minutes=1))
    put_setting(store, "shop", "deploy.max_parallel", 2, by="carol", at=T0 + timedelta(minutes=2))
    put_setting(store, "shop", "deploy.max_parallel", 4, by="dave", at=T0 + timedelta(minutes=3))

    origins = store.setting_origins("shop")

    assert set(origins) == {"deploy.max_parallel"}  # deploy.parallel is not set any more
    assert (origins["deploy.max_parallel"].by, origins["deploy.max_parallel"].new) == ("dave", 4)


def test_each_change_is_claimed_for_announcing_once(store: Store) -> None:
    one = put_setting(store, "shop", "deploy.parallel", True)
    two = put_setting(store, "blog", "deploy.parallel", True)
    assert one is not None and two is not None

    assert [c.id for c in store.unannounced_setting_changes()] == [one.id, two.id]
    assert store.claim_setting_announcement(one.id, T0) is True
    assert store.claim_setting_announcement(one.id, T0) is False
    assert [c.id for c in store.unannounced_setting_changes()] == [two.id]


def test_concurrent_changes_record_a_history_that_chains(store: Store) -> None:
    values = [n % 7 for n in range(40)]

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda v: put_setting(store, "shop", "deploy.max_parallel", v), values))

    history = list(reversed(store.setting_history("shop", "deploy.max_parallel", 100)))
    # Each change starts from the value the one before it left: no lost update.
    assert all(a.new == b.old for a, b in itertools.pairwise(history))
    assert history[-1].new == store.get_settings("shop").get("deploy.max_parallel")


def test_values_set_before_history_become_its_first_entries(
    store_location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapters import store_schema

    full = list(store_schema.MIGRATIONS)
    assert full[-1] is store_schema.create_setting_changes
    monkeypatch.setattr(store_schema, "MIGRATIONS", full[:-1])
    old = open_store(store_location)  # a database of the shipbot before history
    old_sql = cast(SqlStoreBase, old)
    old_sql._execute(
        "INSERT INTO settings (app, key, value, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)",
        ["shop", "deploy.parallel", "true", time_text(T0), "U0ALICE"],
    )
    old.close()
    monkeypatch.setattr(store_schema, "MIGRATIONS", full)

    store = open_store(store_location)
    try:
        assert "create_setting_changes" in store.applied
        (first,) = store.setting_history("shop", None, 10)
        assert (first.by, first.at, first.old, first.new, first.via) == (
            "U0ALICE",
            T0,
            None,
            True,
            "carried over",
        )
        assert store.unannounced_setting_changes() == []  # old news: not announced
        assert store.setting_origins("shop")["deploy.parallel"].id == first.id
        # Forget it was applied, so that it runs again: nothing is copied twice.
        cast(SqlStoreBase, store)._execute(
            "DELETE FROM _migrations WHERE name = ?", ["create_setting_changes"]
        )
    finally:
        store.close()
    again = open_store(store_location)
    try:
        assert again.applied == ["create_setting_changes"]
        assert len(again.setting_history("shop", None, 10)) == 1
    finally:
        again.close()


# Applied waits


def finished_deploy(store: Store, at: datetime) -> int:
    deploy_id = store.begin_deploy(new_deploy(at=at), holder="alice")
    store.finish_deploy(deploy_id, "succeeded", "", at)
    return deploy_id


def test_waits_are_stored_kept_and_cleared_by_later_deploys(store: Store) -> None:
    first = finished_deploy(store, T0)
    store.apply_waits(
        "shop",
        first,
        [EffectiveWait(REMOVING, 30, "manifest"), EffectiveWait(ADDING, 10, "manifest")],
        T0,
    )
    assert store.applied_waits("shop") == {
        REMOVING: AppliedWait(REMOVING, 30.0, first, T0),
        ADDING: AppliedWait(ADDING, 10.0, first, T0),
    }

    later = T0 + timedelta(days=1)
    second = finished_deploy(store, later)
    kept = store.applied_waits("shop")[REMOVING]
    store.apply_waits(
        "shop",
        second,
        [EffectiveWait(REMOVING, 30, "applied", kept), EffectiveWait(ADDING, 0, "manifest")],
        later,
    )

    assert store.applied_waits("shop") == {REMOVING: AppliedWait(REMOVING, 30.0, first, T0)}
    assert store.applied_waits("blog") == {}


# Deploys and the lock


def test_begin_deploy_records_a_running_deploy_holding_the_lock(store: Store) -> None:
    deploy_id = store.begin_deploy(new_deploy(), holder="alice")

    running = store.running_deploy("shop")

    assert running is not None
    assert (running.id, running.status, running.requested_by) == (deploy_id, "running", "alice")
    assert running.started_at == T0
    assert [(s.server, s.position, s.status, s.lb) for s in running.servers] == [
        ("web1", 0, "pending", "n/a"),
        ("web2", 1, "pending", "n/a"),
        ("web3", 2, "pending", "n/a"),
    ]
    assert store.history("shop") == [running]


def test_a_second_deploy_of_the_app_is_refused_naming_holder_and_since(
    store: Store,
) -> None:
    first = store.begin_deploy(new_deploy(), holder="alice")

    with pytest.raises(DeployLocked) as refused:
        store.begin_deploy(new_deploy(by="bob", at=T0 + timedelta(minutes=5)), holder="bob")

    assert (refused.value.holder, refused.value.since, refused.value.deploy_id) == (
        "alice",
        T0,
        first,
    )
    assert [d.id for d in store.history("shop")] == [first]
    assert store.begin_deploy(new_deploy(app="blog"), holder="bob") != first


def test_finishing_releases_the_lock_and_records_the_end(store: Store) -> None:
    first = store.begin_deploy(new_deploy(), holder="alice")
    end = T0 + timedelta(minutes=3)

    store.finish_deploy(first, "failed", "web2 failed", end)

    assert store.running_deploy("shop") is None
    done = store.get_deploy(first)
    assert done is not None
    assert (done.status, done.summary, done.finished_at) == ("failed", "web2 failed", end)
    second = store.begin_deploy(new_deploy(by="bob"), holder="bob")
    assert second > first


def test_only_one_of_six_racing_processes_takes_the_lock(store_location: str) -> None:
    open_store(store_location).close()

    reports = run_together(race_for_the_lock, store_location, 6)

    winners = [report for report in reports if report[1] == "won"]
    losers = [report for report in reports if report[1] == "locked"]
    assert len(winners) == 1, reports
    assert len(losers) == 5, reports
    winner, _, deploy_id = winners[0]
    assert {outcome for _, _, outcome in losers} == {(winner, deploy_id)}
    store = open_store(store_location)
    assert [d.id for d in store.history("shop")] == [deploy_id]
    store.close()


def assert_interrupted_naming_web2(store: Store, deploy_id: int, pid: int) -> None:
    old = store.get_deploy(deploy_id)
    assert old is not None
    assert old.status == "interrupted"
    assert f"(pid {pid} on " in old.summary
    # web2 was removed and its command was running when the process died.
    assert old.summary.endswith(
        "out of the load balancer: web2 (NOT known good); mid-command: web2"
    )
    assert [(s.server, s.status, s.lb) for s in old.servers] == [
        ("web1", "ok", "in"),
        ("web2", "interrupted", "out"),
        ("web3", "interrupted", "in"),
    ]


def test_a_dead_holder_leaves_a_recovery_lock_until_the_deploy_is_recovered(
    store_location: str,
) -> None:
    child, crashed = start_crashing_deploy(store_location)
    child.join(timeout=60)
    store = open_store(store_location)
    later = T0 + timedelta(hours=1)

    with pytest.raises(DeployLocked, match="run /deploy recover shop first") as refused:
        store.begin_deploy(new_deploy(by="carol", at=later), holder="carol")

    assert refused.value.kind == "recovery" and "(web2)" in str(refused.value)
    assert_interrupted_naming_web2(store, crashed, child.pid)
    assert store.recovery_lock("shop") == crashed
    store.close_recovery(crashed, by="dave", at=later, note="web2 checked by hand")
    new = store.begin_deploy(new_deploy(by="carol", at=later), holder="carol")
    running = store.running_deploy("shop")
    assert running is not None and running.id == new
    old = store.get_deploy(crashed)
    assert old is not None and old.summary.endswith("; web2 checked by hand")
    store.close()


def test_status_of_a_dead_holder_shows_the_deploy_interrupted_not_running(
    store_location: str,
) -> None:
    child, crashed = start_crashing_deploy(store_location)
    child.join(timeout=60)
    store = open_store(store_location)

    assert store.running_deploy("shop") is None

    assert_interrupted_naming_web2(store, crashed, child.pid)
    store.close()


def test_a_zombie_holder_counts_as_dead(store_location: str) -> None:
    child, crashed = start_crashing_deploy(store_location)
    # Wait for the exit without reaping it: the pid stays, as a zombie.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    os.kill(child.pid, 0)
    store = open_store(store_location)

    try:
        assert store.running_deploy("shop") is None
        assert_interrupted_naming_web2(store, crashed, child.pid)
    finally:
        child.join(timeout=60)
        store.close()


def test_cancel_is_requested_only_of_a_running_deploy(store: Store) -> None:
    assert store.request_cancel("shop", by="bob") is None
    deploy_id = store.begin_deploy(new_deploy(), holder="alice")
    assert store.cancel_requested(deploy_id) is False

    assert store.request_cancel("shop", by="bob") == deploy_id

    assert store.cancel_requested(deploy_id) is True
    store.finish_deploy(deploy_id, "cancelled", "cancelled by bob", T0)
    assert store.request_cancel("shop", by="bob") is None


# History and journal


def test_history_is_newest_first_with_each_servers_outcome(store: Store) -> None:
    ids = []
    for n in range(3):
        at = T0 + timedelta(hours=n)
        deploy_id = store.begin_deploy(new_deploy(servers=("web2", "web1"), at=at), holder="a")
        store.record_server_start(deploy_id, "web2", at)
        store.record_server(deploy_id, ServerOutcome("web2", "ok", lb="in"), at)
        failed = ServerOutcome("web1", "failed", "out", "exit 3", "boom")
        store.record_server(deploy_id, failed, at + timedelta(minutes=1))
        store.finish_deploy(deploy_id, "failed", f"deploy {n}", at)
        ids.append(deploy_id)

    history = store.history("shop", limit=2)

    assert [d.id for d in history] == [ids[2], ids[1]]
    last = T0 + timedelta(hours=2)
    planned = new_deploy().planned[0]
    assert history[0].servers == (
        ServerRecord("web2", 0, "ok", "in", "", "", last, last, planned),
        ServerRecord(
            "web1",
            1,
            "failed",
            "out",
            "exit 3",
            "boom",
            None,
            last + timedelta(minutes=1),
            planned,
        ),
    )


def test_steps_journal_keeps_order_and_results(store: Store) -> None:
    deploy_id = store.begin_deploy(new_deploy(), holder="alice")
    store.record_step_start(deploy_id, "web1", 0, "lb_remove", "remove from LB", T0)
    store.record_step_end(deploy_id, "web1", 0, True, "", T0 + timedelta(seconds=1))
    store.record_step_start(deploy_id, "web1", 1, "command", "./deploy.sh", T0)
    store.record_step_end(deploy_id, "web1", 1, False, "exit 2", T0 + timedelta(seconds=9))
    store.record_step_start(deploy_id, "web2", 0, "lb_remove", "remove from LB", T0)

    steps = store.steps(deploy_id)

    assert [(s.server, s.index, s.kind, s.status, s.detail) for s in steps] == [
        ("web1", 0, "lb_remove", "ok", ""),
        ("web1", 1, "command", "failed", "exit 2"),
        ("web2", 0, "lb_remove", "running", ""),
    ]
    assert steps[1].finished_at == T0 + timedelta(seconds=9)
    assert steps[2].finished_at is None


def test_threads_of_a_parallel_deploy_share_one_store(store: Store) -> None:
    deploy_id = store.begin_deploy(
        new_deploy(servers=tuple(f"web{n}" for n in range(8))), holder="a"
    )

    def journal(server: str) -> None:
        for index in range(25):
            store.record_step_start(deploy_id, server, index, "command", "step", T0)
            store.record_step_end(deploy_id, server, index, True, "", T0)
            store.cancel_requested(deploy_id)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(journal, [f"web{n}" for n in range(8)]))

    steps = store.steps(deploy_id)
    assert len(steps) == 8 * 25
    assert {s.status for s in steps} == {"ok"}


def test_the_change_mark_moves_with_every_change_people_see_and_only_then(store: Store) -> None:
    from strategies.records import Hold, NewApproval

    marks = [store.change_mark()]

    def changed() -> bool:
        marks.append(store.change_mark())
        return marks[-1] != marks[-2]

    assert not changed()  # reading it changes nothing
    deploy_id = store.begin_deploy(new_deploy(), holder="h")
    assert changed()
    store.record_server(deploy_id, ServerOutcome("web1", "ok", "in"), T0)
    assert changed()  # progress of a running deploy
    store.finish_deploy(deploy_id, "succeeded", "3 ok", T0)
    assert changed()
    store.set_hold(Hold("shop", "lock", "alice", "why", T0, None))
    assert changed()
    store.clear_hold("shop", "lock")
    assert changed()
    store.set_hold(Hold("shop", "freeze", "alice", "why", T0 + timedelta(hours=1), None))
    assert changed()
    approval = NewApproval(
        app="shop",
        requested_by="alice",
        strategy="serial",
        ref=None,
        servers=None,
        channel="C1",
        created_at=T0,
        expires_at=T0 + timedelta(hours=1),
    )
    approval_id = store.create_approval(approval)
    assert changed()
    assert store.decide_approval(approval_id, "rejected", by="bob", at=T0)
    assert changed()
    put_setting(store, "shop", "deploy.parallel", True, by="alice")
    assert not changed()
