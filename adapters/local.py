"""LocalExecutor: each server is a working directory on this machine.

The embedded default fleet. Commands come from the manifest, never from chat;
request values reach them only as ``SHIPBOT_*`` environment variables.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from strategies.manifest import Server
from strategies.results import CommandResult

TAIL_LINES = 20
TAIL_CHARS = 4000


def output_tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last ``lines`` lines of ``text``, at most ``chars`` characters."""
    tail = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return tail[-chars:]


class LocalExecutor:
    def __init__(self, root: str | Path, app: str, *, shell: str = "/bin/sh") -> None:
        self._root = Path(root).expanduser().absolute() / app
        self._shell = shell

    def workdir(self, server: Server) -> Path:
        return self._root / server.name

    def check(self, server: Server) -> str | None:
        """The working directory exists and is writable, or can be created (it is
        not created here: pre-flight changes nothing)."""
        workdir = self.workdir(server)
        existing = workdir
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            return f"{workdir}: {existing} is not a directory"
        if not os.access(existing, os.W_OK | os.X_OK):
            verb = "write to" if existing == workdir else "create"
            return f"{workdir}: cannot {verb} it (permission denied on {existing})"
        return None

    def run(
        self,
        server: Server,
        command: str,
        *,
        env: Mapping[str, str],
        timeout: float,
        abort: threading.Event,
    ) -> CommandResult:
        workdir = self.workdir(server)
        began = time.monotonic()
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            # A session of its own: a timeout or abort kills the command's
            # whole process group, and a Ctrl-C in the terminal reaches only
            # shipbot, which decides what to do.
            proc = subprocess.Popen(
                [self._shell, "-c", command],
                cwd=workdir,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            return CommandResult(None, "", time.monotonic() - began, error=f"cannot start: {exc}")
        return self._wait(proc, timeout, abort, began)

    def _wait(
        self, proc: subprocess.Popen[bytes], timeout: float, abort: threading.Event, began: float
    ) -> CommandResult:
        chunks: list[bytes] = []
        timed_out = aborted = False
        while True:
            try:
                out, _ = proc.communicate(timeout=0.1)
                chunks.append(out or b"")
                break
            except subprocess.TimeoutExpired:
                # communicate() keeps what it has read so far; retrying loses nothing.
                timed_out = time.monotonic() - began >= timeout
                aborted = abort.is_set()
                if timed_out or aborted:
                    _kill_group(proc)
                    out, _ = proc.communicate()
                    chunks.append(out or b"")
                    break
        text = b"".join(chunks).decode("utf-8", "replace")
        return CommandResult(
            proc.returncode,
            output_tail(text),
            time.monotonic() - began,
            timed_out=timed_out,
            aborted=aborted and not timed_out,
        )

    def close(self) -> None:
        """Nothing to close: every command is its own process."""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
