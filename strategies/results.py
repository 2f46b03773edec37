"""Outcomes: one per server, never lost because another server failed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# "skipped": never started (another server failed, a cancel); "unreachable":
# left out at pre-flight with --force, never touched.
# "waiting": a canary's later servers, waiting for Promote.
ServerStatus = Literal["ok", "failed", "skipped", "cancelled", "unreachable", "waiting"]
# Where the server is relative to the load balancer after the deploy:
#   "in"        in rotation (never removed, or put back)
#   "out"       removed by this deploy and left out (announced in the report)
#   "unknown"   a load balancer call failed: nobody knows
#   "unchanged" the load balancer refused this deploy's call and changed nothing
#   "n/a"       this deploy did not touch the load balancer for that server
LbPosition = Literal["in", "out", "unknown", "unchanged", "n/a"]
# "refused": stopped at pre-flight, before anything changed.
# "paused": a canary deployed, waiting for Promote or Abort.
DeployStatus = Literal["succeeded", "failed", "cancelled", "interrupted", "refused", "paused"]


@dataclass(frozen=True)
class CommandResult:
    """What running one command on one server gave."""

    exit_code: int | None
    output_tail: str
    duration: float
    timed_out: bool = False
    aborted: bool = False
    error: str | None = None  # could not run at all (connection refused, host key...)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not (self.timed_out or self.aborted or self.error)

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.timed_out:
            return f"timed out after {self.duration:.0f}s"
        if self.aborted:
            return "aborted"
        return f"exit {self.exit_code}"


@dataclass(frozen=True)
class ServerOutcome:
    server: str
    status: ServerStatus
    lb: LbPosition = "n/a"
    detail: str = ""  # one line: what failed, or why it was skipped
    output_tail: str = ""
    duration: float = 0.0
    ran_migrations: bool = False
    changed: bool = False  # a deploy command ran on it: what it serves may have changed
    rolled_back: str = ""  # "rolled back to v1", or why that failed (auto_rollback)

    def describe_detail(self) -> str:
        return f"{self.detail}; {self.rolled_back}" if self.rolled_back else self.detail

    def describe(self) -> str:
        return describe_server(self.status, self.lb, self.describe_detail())


_STATUS_WORDS = {
    "skipped": "untouched",
    "unreachable": "skipped",
    "waiting": "waiting",
    "failed": "FAILED",
    "pending": "not started",
}
_LB_WORDS = {
    "in": "in the load balancer",
    "out": "OUT of the load balancer",
    "unknown": "load balancer state unknown",
    "unchanged": "load balancer unchanged",
}


def describe_server(status: str, lb: str, detail: str) -> str:
    """``FAILED (`./deploy`: exit 3), OUT of the load balancer``; shared by reports and history."""
    text = _STATUS_WORDS.get(status, status)
    if detail:
        text += f" ({detail})"
    where = describe_position(status, lb)
    return f"{text}, {where}" if where else text


def describe_position(status: str, lb: str) -> str:
    """``OUT of the load balancer``; empty where there is nothing to say (untouched, n/a)."""
    return "" if status in ("skipped", "unreachable", "waiting") else _LB_WORDS.get(lb, "")


def count_line(outcomes: Iterable[ServerOutcome]) -> str:
    """``2 ok, 1 failed, 1 untouched``."""
    counts: Counter[str] = Counter(o.status for o in outcomes)
    words = {
        "ok": "ok",
        "failed": "failed",
        "cancelled": "cancelled",
        "skipped": "untouched",
        "unreachable": "skipped (unreachable)",
        "waiting": "waiting for Promote",
    }
    return ", ".join(f"{counts[k]} {w}" for k, w in words.items() if counts[k])


@dataclass(frozen=True)
class DeployResult:
    deploy_id: int
    app: str
    strategy: str
    outcomes: tuple[ServerOutcome, ...]
    duration: float
    refused: str = ""  # why pre-flight stopped the deploy before anything changed
    migrations_server: str | None = None

    @property
    def succeeded(self) -> tuple[ServerOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "ok")

    @property
    def failed(self) -> tuple[ServerOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "failed")

    @property
    def out_of_lb(self) -> tuple[ServerOutcome, ...]:
        """The servers this deploy left out of the load balancer (or cannot say where)."""
        return tuple(o for o in self.outcomes if o.lb in ("out", "unknown"))

    @property
    def in_report_order(self) -> tuple[ServerOutcome, ...]:
        """Outcomes as reports list them: a failure of the migrations server first,
        since in a parallel deploy the others' failures may follow from it."""
        first = [
            o for o in self.outcomes if o.status == "failed" and o.server == self.migrations_server
        ]
        return (*first, *(o for o in self.outcomes if o not in first))

    @property
    def status(self) -> DeployStatus:
        if self.refused:
            return "refused"
        if self.failed:
            return "failed"
        if any(o.status == "waiting" for o in self.outcomes):
            return "paused"
        # A cancel that arrives after the last server finished changed nothing.
        if any(o.status not in ("ok", "unreachable") for o in self.outcomes):
            return "cancelled"
        return "succeeded"

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"
