"""Fixture: several ``shipbot serve`` replicas on one PostgreSQL database,
behind a real HAProxy (round robin, health-checked on ``GET /healthz``), as the
README's "Run several replicas" section sets them up.

``start_replicas(n)`` starts them on the manifest already written in the
workdir; a replica may be ``isolated`` (see ``ShipbotServer``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.infra import appserver
from tests.infra.postgres import Postgres
from tests.infra.shipbot_server import ShipbotServer
from tests.infra.slack import SlackFake
from tests.infra.slack_requests import SlackSender

CONFIG = """\
global
    stats socket {socket} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s

frontend slack
    bind 127.0.0.1:{port}
    default_backend bots

backend bots
    balance roundrobin
    option httpchk GET /healthz
    default-server check inter 200ms fall 2 rise 1
{servers}
"""


@dataclass
class Replicas:
    db: str  # the shared PostgreSQL database's URL
    bots: list[ShipbotServer]
    port: int  # HAProxy's frontend: what Slack's requests go to
    directory: Path
    haproxy: subprocess.Popen[bytes] | None = None
    sender: SlackSender = field(init=False)

    def __post_init__(self) -> None:
        self.sender = SlackSender(f"http://127.0.0.1:{self.port}/slack/events")

    def requests_per_replica(self) -> dict[str, int]:
        """How many requests HAProxy sent each replica (its ``stot`` counter)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.directory / "admin.sock"))
            sock.sendall(b"show stat\n")
            text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
        header, *rows = [line for line in text.splitlines() if line]
        names = header.lstrip("# ").split(",")
        counts = {}
        for row in rows:
            values = dict(zip(names, row.split(","), strict=False))
            if values["pxname"] == "bots" and values["svname"] not in ("FRONTEND", "BACKEND"):
                counts[values["svname"]] = int(values["stot"])
        return counts

    def start_proxy(self) -> None:
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{bot.port}"
            for name, bot in zip("abcdefgh", self.bots, strict=False)
        )
        config = self.directory / "haproxy.cfg"
        config.write_text(
            CONFIG.format(socket=self.directory / "admin.sock", port=self.port, servers=servers)
        )
        with open(self.directory / "haproxy.log", "ab") as log:
            self.haproxy = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 15
        while self.up() < len(self.bots):
            assert self.haproxy.poll() is None, (self.directory / "haproxy.log").read_text()
            assert time.monotonic() < deadline, "HAProxy never saw every replica UP"
            time.sleep(0.05)

    def up(self) -> int:
        if not (self.directory / "admin.sock").exists():
            return 0
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(self.directory / "admin.sock"))
            except ConnectionRefusedError:  # the file exists a moment before HAProxy listens
                return 0
            sock.sendall(b"show servers state bots\n")
            text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
        rows = [line.split() for line in text.splitlines()[2:] if line.strip()]
        return sum(1 for row in rows if row[5] == "2")  # srv_op_state 2: running

    def stop(self) -> None:
        for bot in self.bots:
            bot.stop()
        if self.haproxy is not None:
            appserver.stop_pid(self.haproxy.pid)
            self.haproxy.poll()


StartReplicas = Callable[..., Replicas]


@pytest.fixture
def start_replicas(
    workdir: Path, slack_fake: SlackFake, postgres: Postgres
) -> Iterator[StartReplicas]:
    """``start_replicas(2, isolated=("a",), env=...)``: replicas a, b, … on a fresh
    database, HAProxy in front; all stopped at the end."""
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed (apt-get install haproxy)")
    started: list[Replicas] = []

    def start(
        count: int = 2, *, isolated: tuple[str, ...] = (), env: dict[str, str] | None = None
    ) -> Replicas:
        db = postgres.new_database()
        bots = [
            ShipbotServer(
                workdir,
                slack_fake.url,
                db=db,
                name=f"replica-{name}",
                env=env,
                isolated=name in isolated,
            )
            for name in "abcdefgh"[:count]
        ]
        for bot in bots:
            bot.start()
        directory = workdir / "proxy"
        directory.mkdir(exist_ok=True)
        replicas = Replicas(db=db, bots=bots, port=appserver.free_port(), directory=directory)
        started.append(replicas)
        replicas.start_proxy()
        return replicas

    try:
        yield start
    finally:
        for replicas in started:
            replicas.stop()
