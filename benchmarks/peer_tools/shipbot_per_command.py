"""shipbot with a new SSH connection for each command: the "no reuse" baseline.

Runs the real ``shipbot`` CLI (``bot.cli.main``) in this process after one
patch: ``ConnectionPool.client`` (what ``SshExecutor.run`` asks for a
connection) closes the server's previous connection before every command but
the first, which reuses the pre-flight login. So each server sees one login
per command, as paramiko's per-command variant does. Arguments are shipbot's.
Needs the checkout under test on sys.path (run it with that checkout's python).
"""

from __future__ import annotations

import sys
import threading
from typing import Any


def patch() -> None:
    try:
        from adapters.ssh_connect import ConnectionPool
    except ImportError as exc:
        sys.exit(f"shipbot_per_command: this shipbot has no adapters.ssh_connect ({exc})")
    original = ConnectionPool.client
    used: set[Any] = set()
    guard = threading.Lock()

    def fresh(self: ConnectionPool, endpoint: Any) -> Any:
        with guard:
            again = endpoint in used
            used.add(endpoint)
        if again:
            self.discard(endpoint)
        return original(self, endpoint)

    ConnectionPool.client = fresh  # type: ignore[method-assign]


def main() -> int:
    patch()
    from bot.cli import main as shipbot

    return shipbot(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
