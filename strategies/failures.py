"""The failure policy: when a deploy stops starting new servers.

``deploy.on_failure: stop`` (the default): no server starts after one has
failed. ``continue``: servers go on starting until the number that failed
exceeds ``deploy.max_failures`` (a count, or a share of the deploy's servers
rounded down; no limit when it is not set). A *failure* is a server whose
outcome is ``failed``: a command or migrations exited non-zero, timed out or
could not run, a load balancer call failed, or the server could not be
reached when its turn came. Servers already running when the limit is passed
finish what they are doing; servers skipped at pre-flight do not count.
"""

from __future__ import annotations

import threading

from strategies.plan import DeployPlan
from strategies.results import ServerOutcome


class FailureBudget:
    def __init__(self, plan: DeployPlan) -> None:
        deploy = plan.app.deploy
        total = len(plan.servers)
        self.policy = deploy.on_failure
        self.limit = deploy.max_failures
        # How many failures are tolerated: beyond this, no new server starts.
        self.allowed: int | None
        if self.policy == "stop":
            self.allowed = 0
        else:
            self.allowed = None if self.limit is None else self.limit.floor_of(total)
        self._total = total
        self._failed: list[str] = []
        self._lock = threading.Lock()

    def record(self, outcome: ServerOutcome) -> None:
        if outcome.status == "failed":
            with self._lock:
                self._failed.append(outcome.server)

    def stop_reason(self) -> str | None:
        """Why no further server may start, or None while the budget holds."""
        with self._lock:
            failed = list(self._failed)
        if self.allowed is None or len(failed) <= self.allowed:
            return None
        if self.policy == "stop":
            return f"{failed[0]} failed"
        assert self.limit is not None
        share = "" if self.limit.count is not None else f" = {self.allowed} of {self._total}"
        count = f"{len(failed)} server{'s' if len(failed) != 1 else ''}"
        return f"{count} failed, more than deploy.max_failures {self.limit}{share}"
