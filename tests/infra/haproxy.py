"""Fixture: real HAProxy (runtime API on a unix socket and on TCP) in front of
real app servers (tests/infra/appserver.py), each its own process.

Backends start before HAProxy, so it never sees them DOWN. Health checks are
fast (every 100 ms, UP after one pass) so a restarted server is back quickly.
``retries 0`` and no ``option redispatch``: a request HAProxy sends to a dead
server fails visibly instead of being retried elsewhere, so a deploy only gets
zero failed requests by draining servers before they stop.
"""

from __future__ import annotations

import http.client
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from strategies.manifest import Manifest, parse_manifest
from tests.infra import appserver

BACKEND = "shop"
SERVERS = ("web1", "web2", "web3")
READY_TIMEOUT = 15.0

CONFIG = """\
global
    stats socket {socket} mode 600 level admin
    stats socket ipv4@127.0.0.1:{admin_port} level admin
    stats timeout 10s

defaults
    mode http
    retries 0
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout check 2s

frontend www
    bind 127.0.0.1:{frontend_port}
    default_backend {backend}

backend {backend}
    balance roundrobin
    option httpchk GET /
    default-server check inter 100ms fall 2 rise 1
{servers}
"""


@dataclass
class HAProxyFleet:
    """A running HAProxy and its app servers; every process stopped by its PID."""

    directory: Path
    socket: Path
    admin_address: str  # the runtime API over TCP, HOST:PORT
    frontend_port: int
    backend: str
    servers: tuple[str, ...]
    haproxy: subprocess.Popen[bytes] | None = None
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def command(self, line: str) -> str:
        """One runtime API command on the unix socket, independent of the adapter."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket))
            sock.sendall(line.encode() + b"\n")
            return b"".join(iter(lambda: sock.recv(65536), b"")).decode()

    def servers_state(self) -> dict[str, tuple[int, int]]:
        """server -> (srv_op_state, srv_admin_state): 2 = running; 1 = maint, 8 = drain."""
        states = {}
        for line in self.command(f"show servers state {self.backend}").splitlines()[2:]:
            fields = line.split()
            if len(fields) > 6:
                states[fields[3]] = (int(fields[5]), int(fields[6]))
        return states

    def get(self, path: str = "/", timeout: float = 10.0) -> tuple[int, str]:
        """One request through the HAProxy frontend, on a new connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.frontend_port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            reply = conn.getresponse()
            return reply.status, reply.read().decode()
        finally:
            conn.close()

    def start_backend(self, name: str, version: str = "v1") -> None:
        self._children.append(appserver.start(self.directory, name, version))

    def stop_backend(self, name: str) -> None:
        appserver.stop(self.directory, name)

    def restart_command(self, pause: float = 1.0) -> str:
        """The deploy command: restart the server named by $SHIPBOT_SERVER at $SHIPBOT_REF."""
        script = Path(appserver.__file__).resolve()
        words = [sys.executable, str(script), "restart", "--state-dir", str(self.directory)]
        return shlex.join([*words, "--pause", str(pause)])

    def manifest(
        self,
        commands: list[str],
        *,
        socket: str | None = None,
        backend: str | None = BACKEND,
        waits: float = 0.1,
        lb_names: dict[str, str] | None = None,
    ) -> Manifest:
        """App ``shop`` on these servers (local connection) behind this HAProxy."""
        load_balancer = {
            "type": "haproxy",
            "socket": socket or str(self.socket),
            "configuration": {
                "wait_after_removing_servers": waits,
                "wait_after_adding_servers": waits,
                "settle_timeout": 20,
                "poll_interval": 0.02,
            },
        }
        if backend is not None:
            load_balancer["backend"] = backend
        app = {
            "deployers": ["*"],
            "connection": {"type": "local", "root": str(self.directory / "fleet")},
            "servers": [
                {"name": name, "lb_name": (lb_names or {}).get(name, name)} for name in self.servers
            ],
            "deploy": {"commands": commands, "timeout": 60},
            "load_balancer": load_balancer,
        }
        return parse_manifest(yaml.safe_dump({"apps": {"shop": app}}))

    def wait_until_up(self, *names: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while any(self.servers_state().get(n, (0, 0)) != (2, 0) for n in names):
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy did not report {names} UP: {self.servers_state()}")
            time.sleep(0.02)

    def start(self) -> None:
        for name in self.servers:
            (self.directory / f"{name}.port").write_text(str(appserver.free_port()))
            self.start_backend(name)
        config = self.directory / "haproxy.cfg"
        config.write_text(self._config())
        checked = subprocess.run(
            ["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, check=False
        )
        if checked.returncode != 0:
            raise RuntimeError(f"haproxy -c rejected {config}:\n{checked.stdout}{checked.stderr}")
        with open(self.directory / "haproxy.log", "ab") as log:
            self.haproxy = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        (self.directory / "haproxy.pid").write_text(str(self.haproxy.pid))
        deadline = time.monotonic() + READY_TIMEOUT
        # The socket file appears at bind(), a moment before HAProxy listens on it:
        # wait until it answers, not until it exists.
        while not self._answers():
            if self.haproxy.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy did not start; see {self.directory / 'haproxy.log'}")
            time.sleep(0.02)
        self.wait_until_up(*self.servers)

    def _answers(self) -> bool:
        try:
            self.command("show info")
        except (FileNotFoundError, ConnectionRefusedError):
            return False
        return True

    def stop(self) -> None:
        pid = self.directory / "haproxy.pid"
        if pid.exists():
            appserver.stop_pid(int(pid.read_text()))
        for name in self.servers:
            appserver.stop(self.directory, name)
        for child in [self.haproxy, *self._children]:
            if child is not None:
                child.poll()  # reap what we started ourselves

    def _config(self) -> str:
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{(self.directory / f'{name}.port').read_text()}"
            for name in self.servers
        )
        return CONFIG.format(
            socket=self.socket,
            admin_port=self.admin_address.rsplit(":", 1)[1],
            frontend_port=self.frontend_port,
            backend=self.backend,
            servers=servers,
        )


StartHAProxy = Callable[[int], HAProxyFleet]


@pytest.fixture
def start_haproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartHAProxy]:
    """``start_haproxy(n)``: HAProxy with backend ``shop`` = web1..webN, all UP,
    serving "NAME v1"; stopped at the end of the test."""
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed (apt-get install haproxy)")
    started: list[HAProxyFleet] = []

    def start(count: int) -> HAProxyFleet:
        directory = tmp_path_factory.mktemp("haproxy")
        fleet = HAProxyFleet(
            directory=directory,
            socket=directory / "admin.sock",
            admin_address=f"127.0.0.1:{appserver.free_port()}",
            frontend_port=appserver.free_port(),
            backend=BACKEND,
            servers=tuple(f"web{n}" for n in range(1, count + 1)),
        )
        started.append(fleet)
        fleet.start()
        return fleet

    try:
        yield start
    finally:
        for fleet in started:
            fleet.stop()


@pytest.fixture
def haproxy_fleet(start_haproxy: StartHAProxy) -> HAProxyFleet:
    """HAProxy with backend ``shop`` = web1..web3, all UP, serving "NAME v1"."""
    return start_haproxy(len(SERVERS))
