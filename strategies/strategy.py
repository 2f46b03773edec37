"""Serial and parallel strategies: they differ only in how they walk the servers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from strategies.events import ServerFinished
from strategies.failures import FailureBudget
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


def _cancelled(ctx: DeployContext) -> str | None:
    return "the deploy was cancelled" if ctx.cancel.requested() else None


def _why_not_start(ctx: DeployContext, budget: FailureBudget) -> str | None:
    if ctx.cancel.requested():
        return "the deploy was cancelled"
    return budget.stop_reason()


class SerialStrategy:
    """One server at a time. The failure policy decides whether the next server
    starts after one failed; the servers that never start are left untouched."""

    name = "serial"

    def execute(self, ctx: DeployContext) -> tuple[ServerOutcome, ...]:
        outcomes: list[ServerOutcome] = []
        budget = FailureBudget(ctx.plan)
        stop_reason: str | None = None
        for server_plan in ctx.plan.servers:
            stop_reason = stop_reason or _why_not_start(ctx, budget)
            if stop_reason:
                outcomes.append(_skipped(ctx, server_plan, stop_reason))
                continue
            outcome = run_server(ctx, server_plan)
            budget.record(outcome)
            outcomes.append(outcome)
            if outcome.status == "cancelled":
                stop_reason = "the deploy was cancelled"
        return tuple(outcomes)


class ParallelStrategy:
    """Every server at once on a thread pool of ``plan.workers`` threads; every
    server's outcome is collected even when some fail. With fewer workers than
    servers, the failure policy decides whether a waiting server still starts."""

    name = "parallel"

    def execute(self, ctx: DeployContext) -> tuple[ServerOutcome, ...]:
        budget = FailureBudget(ctx.plan)
        # With a worker per server every server starts at once: the policy has no
        # server left to hold back (however the threads happen to be scheduled).
        bounded = ctx.plan.workers < len(ctx.plan.servers)

        def one(server_plan: ServerPlan) -> ServerOutcome:
            why = _why_not_start(ctx, budget) if bounded else _cancelled(ctx)
            if why:
                return _skipped(ctx, server_plan, why)
            outcome = run_server(ctx, server_plan)
            budget.record(outcome)
            return outcome

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
