"""A tiny real HTTP app server for the HAProxy tests, and the restart a deploy runs.

    appserver.py serve --name web1 --port 24001 --version v1
    appserver.py restart --state-dir DIR [--name NAME] [--version V] [--pause 1.0]

Every server is its own process. It keeps its port for life (HAProxy's config
names it) in ``DIR/NAME.port`` and its PID in ``DIR/NAME.pid``. ``restart`` is
the deploy command: stop by saved PID, ``--pause`` seconds of "deploying",
start again, return once the new process answers. The name and version default
to ``$SHIPBOT_SERVER`` and ``$SHIPBOT_REF``, so nothing from a request is ever
pasted into shell text.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0


class _Handler(BaseHTTPRequestHandler):
    """``/`` answers "NAME VERSION"; ``/slow?seconds=N`` holds the request open N seconds.

    HTTP/1.0 (the stdlib default): one request per connection, so HAProxy keeps
    no idle server connection that a restart could break.
    """

    server: _AppServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/slow":
            time.sleep(float(parse_qs(url.query).get("seconds", ["1"])[0]))
        body = f"{self.server.name} {self.server.version}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: thousands of requests per test."""


class _AppServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 drops connections under load

    def __init__(self, port: int, name: str, version: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.name, self.version = name, version


def free_port() -> int:
    """A free loopback port below the ephemeral range.

    A backend's port is free while it restarts; outgoing connections (the load
    client makes thousands) take their local port from the ephemeral range and
    could take it then.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = random.randint(10000, low - 1)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / f"{name}.pid"


def answer(port: int, timeout: float = 1.0) -> str | None:
    """The body of ``GET /`` on the server's port, or None if nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as reply:
            return str(reply.read().decode())
    except OSError:
        return None


def start(state_dir: Path, name: str, version: str) -> subprocess.Popen[bytes]:
    """Start NAME in a session of its own; return once it answers as NAME VERSION."""
    port = int((state_dir / f"{name}.port").read_text())
    with open(state_dir / f"{name}.log", "ab") as log:
        # Its own session and no inherited pipe: the deploy command that
        # started it returns, and its output capture ends, while it runs on.
        argv = ["serve", "--name", name, "--port", str(port), "--version", version]
        proc = subprocess.Popen(
            [sys.executable, __file__, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    pid_file(state_dir, name).write_text(str(proc.pid))
    deadline = time.monotonic() + START_TIMEOUT
    while answer(port) != f"{name} {version}\n":
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start on port {port}; see {log.name}")
        time.sleep(0.02)
    return proc


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, wait until gone (a zombie counts as gone), then SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop(state_dir: Path, name: str) -> None:
    path = pid_file(state_dir, name)
    if path.exists():
        stop_pid(int(path.read_text()))
        path.unlink()


def restart(state_dir: Path, name: str, version: str, pause: float) -> None:
    stop(state_dir, name)
    time.sleep(pause)  # the deploy itself, simulated
    start(state_dir, name, version)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["serve", "restart"])
    parser.add_argument("--name", default=os.environ.get("SHIPBOT_SERVER"))
    parser.add_argument("--version", default=os.environ.get("SHIPBOT_REF", "v1"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--pause", type=float, default=1.0)
    args = parser.parse_args(argv)
    if not args.name:
        parser.error("--name or $SHIPBOT_SERVER is required")
    if args.action == "serve":
        _AppServer(args.port, args.name, args.version).serve_forever()
    else:
        restart(args.state_dir, args.name, args.version, args.pause)
        print(f"{args.name} restarted at {args.version}")


if __name__ == "__main__":
    main(sys.argv[1:])
