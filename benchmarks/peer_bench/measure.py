"""Run one command as a whole process and measure it: wall, CPU of its tree, max RSS.

The harness makes itself a child subreaper, so processes a tool leaves behind
(ssh ControlPersist masters) are re-parented to it: it stops them by PID after
the run and their CPU lands in the same ``RUSAGE_CHILDREN`` delta. Each run is
its own session (process group) so a timeout or Ctrl-C stops the whole tree.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Measured:
    wall: float  # seconds, from spawn to exit
    cpu: float  # user+sys seconds of the process tree (and what it left behind)
    max_rss_mib: float  # largest single process of the tree
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


def become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def own_children() -> set[int]:
    pid = os.getpid()
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found.update(int(p) for p in (task / "children").read_text().split())
    return found


def stop_leftovers(keep: Iterable[int]) -> list[int]:
    """TERM (then KILL) every child of ours not in ``keep``, and reap it; returns their PIDs."""
    left = own_children() - set(keep)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for pid in left:
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
    return sorted(left)


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def run_measured(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600.0,
    keep: Iterable[int] = (),
) -> Measured:
    """Run ``argv`` to its end; ``keep`` are our long-lived children (the sshd fleet)."""
    keep = set(keep)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
        expired = threading.Event()

        def kill_group() -> None:
            expired.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill_group)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            kill_group()
            os.wait4(process.pid, 0)
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything of its group still running
        stop_leftovers(keep)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        return Measured(
            wall=wall,
            cpu=_cpu(after) - _cpu(before),
            max_rss_mib=usage.ru_maxrss / 1024,
            returncode=process.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            timed_out=expired.is_set(),
        )


def load1() -> float:
    return os.getloadavg()[0]


def wait_for_quiet(threshold: float, limit: float = 60.0) -> tuple[float, float]:
    """Wait (at most ``limit`` s) for the 1-minute load average to drop below ``threshold``.

    Returns (load when the wait ended, seconds waited)."""
    began = time.monotonic()
    while load1() >= threshold and time.monotonic() - began < limit:
        time.sleep(2)
    return load1(), time.monotonic() - began
