"""The text a command runs as remotely, and reading what it prints until it ends.

The script prints a marker with its process group id first (so a timeout or
abort can kill the whole group), then exports the ``SHIPBOT_*`` values (names
checked, values quoted: request text never becomes shell syntax), then runs
the manifest's command.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
from collections.abc import Mapping

import paramiko

from adapters.output import KEEP, output_tail

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
MARKER = b"shipbot-pgid:"
# How often a running command checks its timeout and the abort flag: a waiting
# thread per server wakes this often (at 0.05 s, 200 servers cost 0.2 CPU-s per
# deploy second); an abort or a timeout is noticed within this.
POLL = 0.25
EXIT_GRACE = 0.5  # after the exit status, how long to wait for a daemon to release stdout
MARKER_WAIT = 5.0  # a command stopped at once: how long to wait for its marker


def command_script(command: str, env: Mapping[str, str]) -> str:
    """The shell text run remotely; ``env`` values are quoted, names must be plain."""
    lines = [f'echo "{MARKER.decode()}$$"']
    for name, value in env.items():
        if not ENV_NAME.fullmatch(name):
            raise ValueError(f"environment name {name!r} is not [A-Z_][A-Z0-9_]*")
        if "\0" in value:
            raise ValueError(f"environment value of {name} contains a NUL byte")
        lines.append(f"export {name}={shlex.quote(value)}")
    lines.append(command)
    return "\n".join(lines)


class Output:
    """Combined stdout+stderr, minus the process-group marker line."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.pgid: int | None = None

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        if self.pgid is None:
            start = self.data.find(MARKER)
            end = self.data.find(b"\n", start) if start >= 0 else -1
            if end < 0:
                return
            number = bytes(self.data[start + len(MARKER) : end])
            self.pgid = int(number) if number.isdigit() else None
            del self.data[start : end + 1]
        del self.data[:-KEEP]

    def tail(self) -> str:
        return output_tail(self.data.decode("utf-8", "replace"))


def collect(
    channel: paramiko.Channel,
    output: Output,
    started: float,
    timeout: float,
    abort: threading.Event,
) -> str | None:
    """Read until the command ends; "timed_out" or "aborted" if it had to be stopped."""
    channel.settimeout(POLL)
    exited_at: float | None = None
    while True:
        if abort.is_set():
            return "aborted"
        now = time.monotonic()
        if now - started >= timeout:
            return "timed_out"
        try:
            chunk = channel.recv(32768)
        except TimeoutError:
            if channel.exit_status_ready():
                exited_at = exited_at or now
                if now - exited_at >= EXIT_GRACE:
                    return None
            continue
        if not chunk:
            return None
        output.add(chunk)


def await_marker(channel: paramiko.Channel, output: Output, wait: float = MARKER_WAIT) -> None:
    """A command stopped right after it started may not have named its process group yet."""
    deadline = time.monotonic() + wait
    while output.pgid is None and time.monotonic() < deadline:
        try:
            chunk = channel.recv(32768)
        except TimeoutError:
            continue
        if not chunk:
            return
        output.add(chunk)
