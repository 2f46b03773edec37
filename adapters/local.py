"""LocalExecutor: each server is a working directory on this machine.

The embedded default fleet. Commands come from the manifest, never from chat;
request values reach them only as ``SHIPBOT_*`` environment variables. A
command's environment is minimal: PATH, HOME and LANG, the ``SHIPBOT_*``
values and what the manifest gives (``deploy.env``, ``deploy.pass_env``),
never the bot's own. Output is read as it comes and only its tail is kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from adapters.output import TailBuffer
from adapters.secrets import local_base_environment
from strategies.manifest import Server
from strategies.results import CommandResult

EXIT_GRACE = 0.5  # after the command exits, how long a daemon it left may hold its output


class LocalExecutor:
    def __init__(
        self,
        root: str | Path,
        app: str,
        *,
        shell: str = "/bin/sh",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._root = Path(root).expanduser().absolute() / app
        self._shell = shell
        self._env = {**local_base_environment(), **(env or {})}

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
                env={**self._env, **env},
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
        output = TailBuffer()
        assert proc.stdout is not None
        reader = threading.Thread(target=_read, args=(proc.stdout, output), daemon=True)
        reader.start()
        timed_out = aborted = False
        while True:
            try:
                proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                timed_out = time.monotonic() - began >= timeout
                aborted = abort.is_set()
                if timed_out or aborted:
                    _kill_group(proc)
                    proc.wait()
                    break
        reader.join(EXIT_GRACE)
        proc.stdout.close()  # a daemon that kept the pipe open keeps it to itself
        return CommandResult(
            proc.returncode,
            output.tail(),
            time.monotonic() - began,
            timed_out=timed_out,
            aborted=aborted and not timed_out,
        )

    def notes(self) -> list[str]:
        return []

    def close(self) -> None:
        """Nothing to close: every command is its own process."""


def _read(stream: IO[bytes], output: TailBuffer) -> None:
    try:
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            output.add(chunk)
    except (OSError, ValueError):  # closed under us: the command is over
        pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
