"""The journal under many servers at once: every write committed before its
caller goes on, bursts written in few transactions, one bad write losing no other."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.sqlite_store import SqliteStore
from strategies.events import StepFinished, StepStarted
from strategies.history import HistoryRecorder
from strategies.plan import Step
from strategies.records import NewDeploy

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
COMMAND = Step("command", "run `true`", "true")


class SlowCommits(SqliteStore):
    """The real store, with each journal transaction held open a while (a slow
    disk) and counted."""

    batches = 0
    fail_server = ""

    @contextlib.contextmanager
    def journal_batch(self, *, durable: bool = True) -> Iterator[None]:
        with super().journal_batch(durable=durable):
            type(self).batches += 1
            yield
            time.sleep(0.1)

    def record_step_end(
        self, deploy_id: int, server: str, index: int, ok: bool, detail: str, at: datetime
    ) -> None:
        if server == self.fail_server:
            raise RuntimeError("disk says no")
        super().record_step_end(deploy_id, server, index, ok, detail, at)


def begin(store: SqliteStore, servers: list[str]) -> int:
    deploy = NewDeploy("shop", "parallel", "r", "main", "U1", tuple(servers), T0)
    return store.begin_deploy(deploy, holder="U1")


def test_a_burst_of_servers_is_committed_in_few_transactions_each_before_it_goes_on(
    tmp_path: Path,
) -> None:
    SlowCommits.batches = 0
    store = SlowCommits(tmp_path / "db")
    servers = [f"web{i}" for i in range(64)]
    deploy_id = begin(store, servers)
    recorder = HistoryRecorder(store)
    reader = SqliteStore(tmp_path / "db")  # another connection: sees only what is committed
    start = threading.Barrier(len(servers))
    missing: list[str] = []

    def server(name: str) -> None:
        start.wait()
        recorder(StepStarted(deploy_id, name, 0, COMMAND, T0))
        if not any(s.server == name for s in reader.steps(deploy_id)):
            missing.append(name)

    threads = [threading.Thread(target=server, args=(name,)) for name in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert missing == []
    assert sorted(s.server for s in reader.steps(deploy_id)) == sorted(servers)
    assert {s.status for s in reader.steps(deploy_id)} == {"running"}
    assert SlowCommits.batches < len(servers) // 4, SlowCommits.batches


def test_a_write_that_fails_in_a_batch_loses_none_of_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    SlowCommits.fail_server = "web3"
    try:
        store = SlowCommits(tmp_path / "db")
        servers = [f"web{i}" for i in range(8)]
        deploy_id = begin(store, servers)
        recorder = HistoryRecorder(store)
        for name in servers:
            recorder(StepStarted(deploy_id, name, 0, COMMAND, T0))
        start = threading.Barrier(len(servers))

        def finish(name: str) -> None:
            start.wait()
            recorder(StepFinished(deploy_id, name, 0, COMMAND, True, 0.1, T0))

        threads = [threading.Thread(target=finish, args=(name,)) for name in servers]
        with caplog.at_level(logging.ERROR):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        SlowCommits.fail_server = ""

    status = {s.server: s.status for s in store.steps(deploy_id)}
    assert status == {name: "running" if name == "web3" else "ok" for name in servers}
    assert [r.message for r in caplog.records] == ["could not write the deploy journal"]


class Flags(SqliteStore):
    """The real store, noting whether each journal transaction had to be durable."""

    durable: list[bool]

    @contextlib.contextmanager
    def journal_batch(self, *, durable: bool = True) -> Iterator[None]:
        self.durable.append(durable)
        with super().journal_batch(durable=durable):
            yield


def test_a_step_about_to_act_is_flushed_what_happened_may_wait(tmp_path: Path) -> None:
    store = Flags(tmp_path / "db")
    store.durable = []
    deploy_id = begin(store, ["web1"])
    recorder = HistoryRecorder(store)
    wait = Step("wait_removed", "wait 1s", seconds=1)
    recorder(StepStarted(deploy_id, "web1", 0, wait, T0))
    recorder(StepFinished(deploy_id, "web1", 0, wait, True, 1.0, T0))
    recorder(StepStarted(deploy_id, "web1", 1, COMMAND, T0))
    recorder(StepFinished(deploy_id, "web1", 1, COMMAND, True, 0.1, T0))

    assert store.durable == [False, False, True, False]
    # Lazy or not, each is committed (another connection sees it) and the store is
    # back to flushing every commit.
    reader = SqliteStore(tmp_path / "db")
    assert [(s.kind, s.status) for s in reader.steps(deploy_id)] == [
        ("wait_removed", "ok"),
        ("command", "ok"),
    ]
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
