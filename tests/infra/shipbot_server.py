"""``shipbot serve`` as a real process, pointed at the Slack Web API fake.

Started as a user starts it (``python -m bot --manifest … --db … serve``) on a
free port, ready when ``GET /healthz`` answers, stopped by its saved PID
(SIGTERM, wait, SIGKILL). ``restart()`` keeps the port and the database.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.slack import SlackFake
from tests.infra.slack_requests import SECRET, SlackSender

BOT_TOKEN = "xoxb-test-token"
START_TIMEOUT = 30.0
ISOLATE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"]
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes] | None) -> int | None:
    """SIGTERM, wait, SIGKILL; the exit status (None if it had to be killed)."""
    if process is None or process.poll() is not None:
        return None if process is None else process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)
        return None


class ShipbotServer:
    def __init__(
        self,
        workdir: Path,
        api_url: str,
        *,
        manifest: Path | None = None,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        db: str | None = None,
        name: str = "serve",
        isolated: bool = False,
    ) -> None:
        self.workdir = workdir
        self.args = args
        self.extra_env = env or {}
        self.manifest = manifest or workdir / "manifest.yml"
        self.db = db or str(workdir / "shipbot.db")  # a file, or a postgresql:// URL
        self.port = free_port()
        self.api_url = api_url
        self.log = workdir / f"{name}.log"
        # In a PID namespace of its own: to other processes it is then one on
        # another machine, whose death only its expiring lease can tell.
        self.isolated = isolated
        self.process: subprocess.Popen[bytes] | None = None
        self.sender = SlackSender(f"{self.base}/slack/events")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ShipbotServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPBOT_", "SLACK_"))}
        env |= {
            "SLACK_API_URL": self.api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            **self.extra_env,
        }
        command = [sys.executable, "-m", "bot", "--manifest", str(self.manifest)]
        command += ["--db", self.db, "serve", "--port", str(self.port), *self.args]
        if self.isolated:
            command = [*ISOLATE, *command]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.isolated,
            )
        self._wait_healthy()
        return self

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base}/healthz", timeout=5) as response:
            assert response.status == 200
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"shipbot serve exited {self.process.returncode}:\n{self.logs}"
                )
            try:
                self.health()
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        raise AssertionError(f"shipbot serve not healthy after {START_TIMEOUT}s:\n{self.logs}")

    def stop(self) -> int | None:
        """SIGTERM, wait, SIGKILL; the exit status (None if it had to be killed)."""
        process, self.process = self.process, None
        return stop_process(process)

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing gets to clean up (an isolated server:
        with everything it started, as a machine that died)."""
        process, self.process = self.process, None
        assert process is not None
        if self.isolated:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> ShipbotServer:
        assert self.stop() == 0, self.logs
        return self.start()

    @property
    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


Serve = Callable[..., ShipbotServer]


@pytest.fixture
def serve(workdir: Path, slack_fake: SlackFake) -> Iterator[Serve]:
    started: list[ShipbotServer] = []

    def start(
        *args: str, env: dict[str, str] | None = None, db: str | None = None, name: str = "serve"
    ) -> ShipbotServer:
        server = ShipbotServer(
            workdir, slack_fake.url, args=args, env=env, db=db, name=name
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
