"""Zero dropped requests: a serial deploy under load through real HAProxy.

A client sends requests through HAProxy without pause while a deploy restarts
every app server (each restart takes about a second). Serial drains each
server before it stops, so no request fails; parallel restarts them all at
once, so some do. Both runs use the same HAProxy with the same config
(``retries 0``, no redispatch: nothing hides a request sent to a dead server).
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from adapters.sqlite_store import SqliteStore
from bot.console import ConsoleFrontEnd
from bot.handler import Caller, CommandHandler
from bot.wiring import Services
from strategies.manifest import HealthCheck, Manifest
from tests.infra.haproxy import HAProxyFleet

# Four clients of quick requests and two of slow ones, so that there is
# always a request in flight for the drain to wait for before a server stops.
CLIENT_PATHS = ("/", "/", "/", "/", "/slow?seconds=0.5", "/slow?seconds=0.5")
WARM_UP = 50  # successful requests before the deploy starts


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return self.ok + self.failed

    def line(self) -> str:
        return f"{self.failed} failed of {self.sent} ({dict(self.failures.most_common(3))})"


class LoadClient:
    """Threads sending GETs through HAProxy, one new connection per request
    (no keep-alive), counting 200s and everything else (errors, other statuses,
    timeouts) until stopped."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.tally = Tally()
        self._threads = [threading.Thread(target=self._run, args=(path,)) for path in CLIENT_PATHS]

    def __enter__(self) -> LoadClient:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, path: str) -> None:
        while not self._stop.is_set():
            answer, failure = self._one(path)
            with self._lock:
                if failure is None:
                    self.tally.ok += 1
                    self.tally.answers[answer] += 1
                else:
                    self.tally.failed += 1
                    self.tally.failures[failure] += 1

    def _one(self, path: str) -> tuple[str, str | None]:
        conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=10)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            reply = conn.getresponse()
            body = reply.read().decode().strip()
        except (OSError, http.client.HTTPException) as exc:
            return "", type(exc).__name__
        finally:
            conn.close()
        return body, None if reply.status == 200 else f"HTTP {reply.status}"

    def wait_for(self, successes: int) -> None:
        deadline = time.monotonic() + 15
        while self.tally.ok < successes:
            assert time.monotonic() < deadline, f"load never got going: {self.tally.line()}"
            time.sleep(0.01)


def deploy_under_load(fleet: HAProxyFleet, handler: CommandHandler, line: str) -> Tally:
    """Run the deploy typed as ``line`` while the load runs; print the thread's waits."""
    shown: list[str] = []
    with LoadClient(fleet.frontend_port) as load:
        load.wait_for(WARM_UP)
        code = handler.handle_text(line, Caller("U0TEST"), ConsoleFrontEnd(shown.append))
    assert code == 0, "\n".join(shown)
    print("\n".join(text for text in shown if "after removing" in text or "after adding" in text))
    return load.tally


def with_health_gate(fleet: HAProxyFleet) -> Manifest:
    """The same app, with each server's own URL as its health check."""
    app = fleet.manifest([fleet.restart_command(pause=1.0)]).apps["shop"]
    servers = tuple(
        server.model_copy(
            update={
                "health_url": "http://127.0.0.1:"
                + (fleet.directory / f"{server.name}.port").read_text()
                + "/"
            }
        )
        for server in app.servers
    )
    check = HealthCheck(url="http://{host}/", interval=0.1, timeout=20)
    deploy = app.deploy.model_copy(update={"health_check": check})
    return Manifest(apps={"shop": app.model_copy(update={"servers": servers, "deploy": deploy})})


def test_serial_and_batches_with_a_health_gate_drop_no_request_and_parallel_does(
    haproxy_fleet: HAProxyFleet, workdir: Path
) -> None:
    fleet = haproxy_fleet
    manifest = fleet.manifest([fleet.restart_command(pause=1.0)])
    handler = CommandHandler(Services(manifest=manifest, store=SqliteStore(workdir / "db")))
    gated = CommandHandler(
        Services(manifest=with_health_gate(fleet), store=SqliteStore(workdir / "db"))
    )

    serial = deploy_under_load(fleet, handler, "/deploy shop --serial --ref v2")
    fleet.wait_until_up(*fleet.servers)
    batched = deploy_under_load(fleet, gated, "/deploy shop --batch 2 --ref v4")
    fleet.wait_until_up(*fleet.servers)
    parallel = deploy_under_load(fleet, handler, "/deploy shop --parallel --ref v3")

    print(
        f"\nserial:                    {serial.line()}"
        f"\nbatches of 2, health gate: {batched.line()}"
        f"\nparallel:                  {parallel.line()}"
    )
    assert serial.failed == 0, serial.line()
    assert serial.sent >= 1000, serial.line()
    # Every server really restarted at the new version during the serial run.
    assert {f"{name} v2" for name in fleet.servers} <= set(serial.answers)
    assert batched.failed == 0, batched.line()
    assert {f"{name} v4" for name in fleet.servers} <= set(batched.answers)
    assert parallel.failed > 0, parallel.line()
    fleet.wait_until_up(*fleet.servers)
    assert {fleet.get()[1].strip() for _ in fleet.servers} == {"web1 v3", "web2 v3", "web3 v3"}
