"""The narrow interfaces the core needs; adapters implement them."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Literal, Protocol

from strategies.manifest import Server
from strategies.results import CommandResult

# What a load balancer says of one server: "serving" (in rotation and healthy),
# "starting" (added, not yet healthy), "draining" (removed, connections still
# open) or "drained" (out, nothing left on it).
LbReport = Literal["serving", "starting", "draining", "drained"]


class Executor(Protocol):
    """Runs a command on a server. ``env`` is passed as environment, never as text."""

    def check(self, server: Server) -> str | None:
        """Make sure commands can run on ``server`` now (log in, or find its working
        directory), keeping what it opened for the commands that follow; None if they
        can, else one line saying why not. Bounded by the connection's timeouts."""
        ...

    def run(
        self,
        server: Server,
        command: str,
        *,
        env: Mapping[str, str],
        timeout: float,
        abort: threading.Event,
    ) -> CommandResult: ...

    def notes(self) -> list[str]:
        """Things worth telling a person that are not failures (a host key pinned on
        first use), once each."""
        ...

    def close(self) -> None: ...


class LoadBalancerError(RuntimeError):
    """A load balancer call failed; the message is what the load balancer said.

    ``refused=True`` means the load balancer rejected the call and changed
    nothing (an unknown target group, say), so the server is where it was.
    """

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


class LoadBalancer(Protocol):
    def remove(self, server: Server) -> None: ...

    def add(self, server: Server) -> None: ...

    def report(self, server: Server) -> LbReport | None:
        """What the load balancer says of ``server`` now; None if it cannot tell."""
        ...

    def check(self, server: Server) -> LbReport | None:
        """Pre-flight: raise LoadBalancerError unless the load balancer answers and
        knows ``server``; what it reports of it, changing nothing (not even
        finishing a drain, as ``report`` may)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        """Sleep; return False early if ``cancel`` is set."""
        ...


class HealthProbe(Protocol):
    """Asks a server's health check URL once."""

    def probe(
        self, url: str, *, expect_status: int, expect_body: str | None, timeout: float
    ) -> tuple[bool, str]:
        """Whether the answer is healthy, and what it was (``HTTP 503 'down'``), one line."""
        ...
