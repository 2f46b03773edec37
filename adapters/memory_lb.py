"""MemoryLoadBalancer: in-process membership, with optional simulated lag.

The embedded default's load balancer, and a stand-in for any load balancer in
tests. With ``lag`` > 0 a removed server reports ``draining`` and an added one
``starting`` (not yet serving) for that many seconds, like a cloud LB does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from strategies.manifest import Server
from strategies.ports import LbReport, LoadBalancerError


class MemoryLoadBalancer:
    def __init__(
        self,
        members: Iterable[str],
        *,
        lag: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._known = set(members)
        self._in = set(self._known)
        self._changed: dict[str, float] = {}
        self._lag = lag
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.history: list[tuple[str, str]] = []  # (action, server), in order

    def members(self) -> set[str]:
        with self._lock:
            return set(self._in)

    def remove(self, server: Server) -> None:
        self._change(server, "remove")

    def add(self, server: Server) -> None:
        self._change(server, "add")

    def _change(self, server: Server, action: str) -> None:
        name = server.lb_name or server.name
        with self._lock:
            if name not in self._known:
                raise LoadBalancerError(f"no server named {name!r} in the load balancer")
            if action == "remove":
                self._in.discard(name)
            else:
                self._in.add(name)
            self._changed[name] = self._monotonic()
            self.history.append((action, name))

    def check(self, server: Server) -> LbReport | None:
        name = server.lb_name or server.name
        if name not in self._known:
            raise LoadBalancerError(f"no server named {name!r} in the load balancer", refused=True)
        return self.report(server)

    def report(self, server: Server) -> LbReport | None:
        name = server.lb_name or server.name
        with self._lock:
            settled = self._monotonic() - self._changed.get(name, float("-inf")) >= self._lag
            if not settled:
                return "starting" if name in self._in else "draining"
            return "serving" if name in self._in else "drained"
