"""Serial and parallel strategies: they differ only in how they walk the servers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from strategies.events import ServerFinished
from strategies.plan import ServerPlan
from strategies.results import ServerOutcome
from strategies.sequence import DeployContext, run_server


class Strategy(Protocol):
    name: str

    def execute(self, ctx: DeployContext) -> tuple[ServerOutcome, ...]: ...


def _skipped(ctx: DeployContext, server_plan: ServerPlan, why: str) -> ServerOutcome:
    outcome = ServerOutcome(server_plan.name, "skipped", detail=why)
    ctx.emit(ServerFinished(ctx.deploy_id, outcome, ctx.clock.now()))
    return outcome


class SerialStrategy:
    """One server at a time; the first failure stops the deploy and leaves the
    rest untouched."""

    name = "serial"

    def execute(self, ctx: DeployContext) -> tuple[ServerOutcome, ...]:
        outcomes: list[ServerOutcome] = []
        stop_reason = ""
        for server_plan in ctx.plan.servers:
            if not stop_reason and ctx.cancel.requested():
                stop_reason = "the deploy was cancelled"
            if stop_reason:
                outcomes.append(_skipped(ctx, server_plan, stop_reason))
                continue
            outcome = run_server(ctx, server_plan)
            outcomes.append(outcome)
            if outcome.status == "failed":
                stop_reason = f"{outcome.server} failed"
            elif outcome.status == "cancelled":
                stop_reason = "the deploy was cancelled"
        return tuple(outcomes)


class ParallelStrategy:
    """Every server at once on a thread pool of ``plan.workers`` threads; every
    server's outcome is collected even when some fail."""

    name = "parallel"

    def execute(self, ctx: DeployContext) -> tuple[ServerOutcome, ...]:
        def one(server_plan: ServerPlan) -> ServerOutcome:
            if ctx.cancel.requested():
                return _skipped(ctx, server_plan, "the deploy was cancelled")
            return run_server(ctx, server_plan)

        with ThreadPoolExecutor(
            max_workers=ctx.plan.workers, thread_name_prefix=f"deploy-{ctx.deploy_id}"
        ) as pool:
            return tuple(pool.map(one, ctx.plan.servers))


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (SerialStrategy(), ParallelStrategy())}


def strategy_for(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r} (choose from: {', '.join(sorted(STRATEGIES))})"
        ) from None
