"""Pre-flight: every server checked at once, within the connection timeout,
before anything changes; --force skips what failed, except what cannot be skipped."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.memory_lb import MemoryLoadBalancer
from adapters.ssh import SshExecutor
from bot.wiring import Services
from strategies.clock import SystemClock
from strategies.deploy import Deployer
from strategies.manifest import Server
from strategies.plan import plan
from strategies.preflight import preflight
from strategies.requests import DeployRequest
from strategies.results import CommandResult, DeployResult
from tests.conftest import manifest_from
from tests.test_strategies import Build


class Silent:
    """TCP listeners that accept connections and never say a word (a hung sshd)."""

    def __init__(self, count: int) -> None:
        self.sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        for sock in self.sockets:
            sock.settimeout(0.1)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    @property
    def ports(self) -> list[int]:
        return [sock.getsockname()[1] for sock in self.sockets]

    def _accept(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                self.held.append(sock.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        for sock in self.sockets + self.held:
            sock.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    listeners = Silent(12)
    yield listeners
    listeners.close()


def test_pre_flight_of_hung_servers_takes_one_timeout_not_one_per_server(
    silent: Silent, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    manifest = manifest_from(
        servers=12,
        lb="none",
        migrations=False,
        connection={
            "type": "ssh",
            "known_hosts": str(known_hosts),
            "ssh_config": str(tmp_path / "none"),
            "connect_timeout": 1,
            "use_agent": False,
        },
    )
    (tmp_path / "none").write_text("")
    app = manifest.app("shop")
    servers = tuple(
        server.model_copy(update={"host": "127.0.0.1", "port": port})
        for server, port in zip(app.servers, silent.ports, strict=True)
    )
    app = app.model_copy(update={"servers": servers})
    executor = SshExecutor.from_app("shop", app)
    the_plan = plan(DeployRequest("shop", "U0", strategy="parallel"), app, {})

    began = time.monotonic()
    report = preflight(the_plan, executor, MemoryLoadBalancer([]), SystemClock())
    took = time.monotonic() - began
    executor.close()

    assert len(report.problems) == 12
    assert all("no SSH handshake" in p or "no answer" in p for _, p in report.problems)
    # Twelve one-second timeouts checked one after another would take 12 s.
    assert took < 4, f"pre-flight took {took:.1f}s"


class Flaky:
    """An executor whose ``check`` fails for the named servers."""

    def __init__(self, down: set[str]) -> None:
        self.down = down
        self.ran: list[str] = []

    def check(self, server: Server) -> str | None:
        return "cannot connect: connection refused" if server.name in self.down else None

    def run(self, server: Server, command: str, **_: object) -> CommandResult:
        self.ran.append(server.name)
        return CommandResult(0, "", 0.0)

    def notes(self) -> list[str]:
        return []

    def close(self) -> None:
        pass


def run(
    services: Services,
    executor: Flaky,
    lb: MemoryLoadBalancer | None = None,
    **request: object,
) -> DeployResult:
    """Deploy shop through the real Deployer and store, with ``executor``."""
    app = services.manifest.app("shop")
    the_plan = plan(DeployRequest("shop", "U0TEST", **request), app, {})  # type: ignore[arg-type]
    deployer = Deployer(
        store=services.store,
        executor=executor,
        load_balancer=lb or MemoryLoadBalancer(s.name for s in app.servers),
        clock=SystemClock(),
        poll_interval=0.01,
    )
    return deployer.run(the_plan)


def test_a_parallel_deploy_with_an_unreachable_server_is_refused_with_nothing_run(
    services: Build,
) -> None:
    flaky = Flaky({"web2"})

    result = run(services(servers=3), flaky, strategy="parallel")

    assert result.status == "refused" and flaky.ran == []
    assert "1 of 3 servers failed pre-flight; nothing was changed" in result.refused


def test_force_cannot_skip_the_migrations_server(services: Build) -> None:
    flaky = Flaky({"web1"})  # runs the migrations

    result = run(services(servers=3), flaky, force=True)

    assert result.status == "refused" and flaky.ran == []
    assert "the migrations server web1 failed pre-flight" in result.refused


def test_force_skips_an_unreachable_server_and_never_touches_it(services: Build) -> None:
    flaky = Flaky({"web3"})
    lb = MemoryLoadBalancer(["web1", "web2", "web3"])

    result = run(services(servers=3), flaky, lb, force=True)

    assert result.ok and flaky.ran.count("web3") == 0
    assert [(o.server, o.status) for o in result.outcomes] == [
        ("web1", "ok"),
        ("web2", "ok"),
        ("web3", "unreachable"),
    ]
    assert "web3" not in {server for _, server in lb.history}


def test_a_server_the_load_balancer_does_not_know_fails_pre_flight(services: Build) -> None:
    lb = MemoryLoadBalancer(["web1"])  # web2 was removed from the backend by hand

    result = run(services(servers=2), Flaky(set()), lb)

    assert result.status == "refused"
    (web2,) = [o for o in result.outcomes if o.server == "web2"]
    assert web2.detail == "pre-flight: load balancer: no server named 'web2' in the load balancer"
