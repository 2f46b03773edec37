"""Whether the process holding a lock (or owning a job) is still alive.

A holder is identified by its host, the kernel's boot id, its PID namespace,
its pid and the pid's start time. Only a process on the same kernel and in
the same PID namespace can be looked at directly: it is dead when its pid is
gone, is a zombie, or now belongs to a process started at another time (the
pid was reused). Anywhere else (another host, another container) only the
holder's lease can tell: it is dead once the lease has expired. Without a
lease we never guess: a lock is never broken on doubt.
"""

from __future__ import annotations

import functools
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Holder:
    hostname: str
    boot_id: str
    pid_ns: str
    pid: int
    pid_start: str

    @classmethod
    def current(cls) -> Holder:
        pid = os.getpid()
        return cls(socket.gethostname(), _boot_id(), _pid_namespace(), pid, pid_start_time(pid))

    def same_kernel_namespace(self, other: Holder) -> bool:
        return bool(self.boot_id and self.pid_ns) and (self.boot_id, self.pid_ns) == (
            other.boot_id,
            other.pid_ns,
        )

    def describe(self) -> str:
        return f"pid {self.pid} on {self.hostname}"


def holder_dead(holder: Holder, lease_until: datetime | None, now: datetime) -> bool:
    """Whether ``holder`` is known dead (see the module docstring); False on doubt."""
    here = Holder.current()
    if holder.same_kernel_namespace(here):
        return not _same_process_alive(holder)
    if not holder.boot_id and holder.hostname == here.hostname and lease_until is None:
        # A lock written before holders carried a boot id: judged as it was then.
        return process_gone(holder.pid)
    return lease_until is not None and lease_until < now


def _same_process_alive(holder: Holder) -> bool:
    if process_gone(holder.pid):
        return False
    # An empty recorded start time (unreadable /proc) cannot disprove anything.
    return not holder.pid_start or pid_start_time(holder.pid) in ("", holder.pid_start)


def process_gone(pid: int) -> bool:
    """Whether ``pid`` on this kernel is gone (or a zombie nobody reaped)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return is_zombie(pid)


def _stat_fields(pid: int) -> list[str]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    # The command name may hold spaces and parentheses; the fields follow the last ")".
    return stat.rpartition(")")[2].split()


def is_zombie(pid: int) -> bool:
    # A zombie still answers kill(pid, 0) until its parent reaps it, yet it holds nothing.
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] == "Z"


def pid_start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else ""


@functools.cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@functools.cache
def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""
