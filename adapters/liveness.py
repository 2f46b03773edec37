"""Whether the process holding an app's deploy lock is still alive.

A lock records the holder's pid and hostname; a holder that died (or is a
zombie nobody reaped) holds nothing, so the next deploy may break its lock.
Only a process on this host can be checked: elsewhere we never guess.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_gone(pid: int, hostname: str) -> bool:
    """Whether the lock holder is known dead; only a process on this host can be checked."""
    if hostname != socket.gethostname() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return is_zombie(pid)


def is_zombie(pid: int) -> bool:
    # A zombie still answers kill(pid, 0) until its parent reaps it, yet it holds nothing.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The command name may hold spaces and parentheses; the state follows the last ")".
    return stat.rpartition(")")[2].split()[0] == "Z"
