"""``python -m benchmarks.store``: lock + history write throughput, SQLite and PostgreSQL.

What a deploy writes, through the real stores: take the app's lock and record
the deploy (``begin_deploy``), for every server its start, a start and an end
per step and its outcome, then ``finish_deploy`` (which releases the lock).
Each of T threads deploys its own app in a loop for a fixed time; the table
gives deploys and writes per second and the latency of one write (p50, p99).
A second run has T threads race for one app's lock: every attempt either takes
it or is refused with ``DeployLocked``, and the benchmark checks that no two
threads ever held it at once.

SQLite is the embedded default (WAL, one file on local disk). PostgreSQL runs
on this machine, started by the benchmark in a temporary directory with fsync
and synchronous commit ON (what production pays), reached over TCP loopback;
"2 replicas" means two store objects (two connection pools) in this process,
as two ``shipbot serve`` replicas would have. Needs root (it creates the
PostgreSQL system user), like the tests.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.stores import open_store
from strategies.records import DeployLocked, NewDeploy
from strategies.results import ServerOutcome
from strategies.store import Store
from tests.infra.postgres import running_postgres

STEPS = ("lb_remove", "command", "lb_add")


@dataclass
class Tally:
    deploys: int = 0
    writes: int = 0
    refused: int = 0
    latencies: list[float] = field(default_factory=list)
    overlap: int = 0  # times two threads held one lock at once: must stay 0


def _timed(tally: Tally, write: Callable[[], object]) -> None:
    began = time.perf_counter()
    write()
    tally.latencies.append(time.perf_counter() - began)
    tally.writes += 1


def _new_deploy(app: str, servers: tuple[str, ...]) -> NewDeploy:
    now = datetime.now(UTC)
    return NewDeploy(
        app=app,
        strategy="parallel",
        reason="bench",
        ref="v1",
        requested_by="bench",
        servers=servers,
        started_at=now,
        lease_until=now + timedelta(seconds=30),
        planned=tuple(STEPS for _ in servers),
    )


def deploy_once(store: Store, app: str, holder: str, servers: int, tally: Tally) -> None:
    names = tuple(f"web{i}" for i in range(1, servers + 1))
    began = time.perf_counter()
    deploy_id = store.begin_deploy(_new_deploy(app, names), holder=holder)
    tally.latencies.append(time.perf_counter() - began)
    tally.writes += 1
    for name in names:
        now = datetime.now(UTC)
        _timed(tally, lambda n=name, t=now: store.record_server_start(deploy_id, n, t))
        for index, kind in enumerate(STEPS):
            _timed(
                tally,
                lambda n=name, i=index, k=kind: store.record_step_start(
                    deploy_id, n, i, k, k, datetime.now(UTC)
                ),
            )
            _timed(
                tally,
                lambda n=name, i=index: store.record_step_end(
                    deploy_id, n, i, True, "", datetime.now(UTC)
                ),
            )
        _timed(
            tally,
            lambda n=name: store.record_server(
                deploy_id, ServerOutcome(n, "ok", "in"), datetime.now(UTC)
            ),
        )
    _timed(tally, lambda: store.finish_deploy(deploy_id, "succeeded", "ok", datetime.now(UTC)))
    tally.deploys += 1


def run_threads(work: Callable[[int, Tally], None], threads: int, seconds: float) -> Tally:
    """Run ``work(thread_index, tally)`` in a loop on every thread for ``seconds``."""
    tallies = [Tally() for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def loop(index: int) -> None:
        while time.perf_counter() < stop:
            work(index, tallies[index])

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    total = Tally()
    for tally in tallies:
        total.deploys += tally.deploys
        total.writes += tally.writes
        total.refused += tally.refused
        total.overlap += tally.overlap
        total.latencies += tally.latencies
    return total


def throughput(stores: list[Store], threads: int, servers: int, seconds: float) -> Tally:
    holders = [store.register_process("bench", datetime.now(UTC)) for store in stores]

    def work(index: int, tally: Tally) -> None:
        which = index % len(stores)
        deploy_once(stores[which], f"app{index}", holders[which], servers, tally)

    return run_threads(work, threads, seconds)


def contention(stores: list[Store], threads: int, seconds: float) -> Tally:
    holders = [store.register_process("bench", datetime.now(UTC)) for store in stores]
    held = threading.Semaphore(1)

    def work(index: int, tally: Tally) -> None:
        store, holder = stores[index % len(stores)], holders[index % len(stores)]
        began = time.perf_counter()
        try:
            deploy_id = store.begin_deploy(_new_deploy("shop", ("web1",)), holder=holder)
        except DeployLocked:
            tally.latencies.append(time.perf_counter() - began)
            tally.writes += 1
            tally.refused += 1
            return
        tally.latencies.append(time.perf_counter() - began)
        tally.writes += 1
        # Held from here until just before the lock is released: a second holder
        # of the store's lock would find the semaphore taken.
        if held.acquire(blocking=False):
            time.sleep(0.0005)
            held.release()
        else:
            tally.overlap += 1
        _timed(tally, lambda: store.finish_deploy(deploy_id, "succeeded", "", datetime.now(UTC)))
        tally.deploys += 1

    return run_threads(work, threads, seconds)


@contextmanager
def engines(which: list[str], tmp: Path) -> Iterator[list[tuple[str, Callable[[], Store]]]]:
    """(name, open a store) for each engine; one database per engine for the run."""
    found: list[tuple[str, Callable[[], Store]]] = []
    if "sqlite" in which:
        found.append(("SQLite (WAL, local file)", lambda: open_store(tmp / "bench.db")))
    if "postgres" not in which:
        yield found
        return
    with running_postgres(durable=True) as server:
        url = server.new_database()
        found.append(("PostgreSQL (fsync on, TCP loopback)", lambda: open_store(url)))
        yield found


def _ms(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def row(engine: str, load: str, tally: Tally, seconds: float) -> str:
    return (
        f"{engine:38} {load:28} {tally.deploys / seconds:9.1f} {tally.writes / seconds:9.0f} "
        f"{_ms(tally.latencies, 0.5):7.2f} {_ms(tally.latencies, 0.99):7.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per row (default 3)")
    parser.add_argument("--servers", type=int, default=10, help="servers per deploy")
    parser.add_argument("--threads", default="1,4,16", help="thread counts (default 1,4,16)")
    parser.add_argument("--engines", default="sqlite,postgres")
    args = parser.parse_args()
    seconds, servers = args.seconds, args.servers
    thread_counts = [int(t) for t in args.threads.split(",")]
    per_deploy = 2 + servers * (2 + 2 * len(STEPS))
    print(
        f"Lock + history writes: each deploy takes a lock, writes {per_deploy} rows "
        f"({servers} servers x {len(STEPS)} steps) and releases it; {seconds:g} s per row."
    )
    print(f"{'engine':38} {'load':28} {'deploys/s':>9} {'writes/s':>9} {'p50 ms':>7} {'p99 ms':>7}")
    with tempfile.TemporaryDirectory() as tmp, engines(args.engines.split(","), Path(tmp)) as found:
        for engine, opener in found:
            store = opener()
            replicas = [store, opener()] if engine.startswith("PostgreSQL") else [store]
            try:
                for threads in thread_counts:
                    tally = throughput([store], threads, servers, seconds)
                    print(row(engine, f"{threads} thread(s), own apps", tally, seconds))
                if len(replicas) > 1:
                    tally = throughput(replicas, max(thread_counts), servers, seconds)
                    load = f"{max(thread_counts)} threads, 2 replicas"
                    print(row(engine, load, tally, seconds))
                tally = contention(replicas, max(thread_counts), seconds)
                load = f"{max(thread_counts)} threads race one lock"
                print(row(engine, load, tally, seconds))
                attempts = tally.deploys + tally.refused
                print(
                    f"{'':38} {'':28} lock taken {tally.deploys} times, refused {tally.refused} "
                    f"of {attempts}; held by two at once: {tally.overlap}"
                )
                if tally.overlap:
                    raise SystemExit("the lock was held by two threads at once")
            finally:
                for each in replicas:
                    each.close()


if __name__ == "__main__":
    main()
