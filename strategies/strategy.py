"""How a deploy walks its servers: in batches (serial, batch, canary) or all at once
(parallel). What makes each strategy different is its ``Rollout``
(``strategies.rollouts``); the walk follows from it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Protocol

from strategies.batch import run_batch, run_server
from strategies.context import DeployContext
from strategies.events import ServerFinished
from strategies.failures import FailureBudget
from strategies.manifest import Server
from strategies.plan import ServerPlan
from strategies.ports import LoadBalancerError
from strategies.results import ServerOutcome, ServerStatus
from strategies.rollouts import rollout_for

WAITING = "waiting for Promote"


class Strategy(Protocol):
    def execute(self, ctx: DeployContext) -> tuple[ServerOutcome, ...]: ...


def _not_started(ctx: DeployContext, server_plan: ServerPlan, why: str) -> ServerOutcome:
    status: ServerStatus = "waiting" if why == WAITING else "skipped"
    outcome = ServerOutcome(server_plan.name, status, detail=why)
    ctx.emit(ServerFinished(ctx.deploy_id, outcome, ctx.clock.now()))
    return outcome


class BatchWalk:
    """Batch after batch (serial: batches of one). Before each batch, the failure
    policy, a cancel and ``deploy.min_healthy`` decide whether it starts; a
    canary's walk stops after its first batch and waits for a person."""

    def execute(self, ctx: DeployContext) -> tuple[ServerOutcome, ...]:
        plan = ctx.plan
        budget = FailureBudget(plan)
        outcomes: list[ServerOutcome] = []
        stop: str | None = None
        for number, batch in enumerate(plan.batch_plans()):
            stop = stop or _why_not_start(ctx, budget) or _below_floor(ctx, batch)
            if stop:
                outcomes += [_not_started(ctx, s, stop) for s in batch]
                continue
            done = run_batch(ctx, batch)
            for outcome in done:
                budget.record(outcome)
            outcomes += done
            if any(o.status == "cancelled" for o in done):
                stop = "the deploy was cancelled"
            if number == 0 and plan.rollout.pauses and not budget.stop_reason():
                stop = WAITING
        return tuple(replace(o, status="waiting") if o.detail == WAITING else o for o in outcomes)


class PoolWalk:
    """Every server at once on a thread pool of ``plan.workers`` threads; every
    server's outcome is collected even when some fail. With fewer workers than
    servers, the failure policy decides whether a waiting server still starts."""

    def execute(self, ctx: DeployContext) -> tuple[ServerOutcome, ...]:
        budget = FailureBudget(ctx.plan)
        # With a worker per server every server starts at once: the policy has no
        # server left to hold back (however the threads happen to be scheduled).
        bounded = ctx.plan.workers < len(ctx.plan.servers)

        def one(server_plan: ServerPlan) -> ServerOutcome:
            why = _why_not_start(ctx, budget) if bounded else _cancelled(ctx)
            if why:
                return _not_started(ctx, server_plan, why)
            outcome = run_server(ctx, server_plan)
            budget.record(outcome)
            return outcome

        with ThreadPoolExecutor(
            max_workers=ctx.plan.workers, thread_name_prefix=f"deploy-{ctx.deploy_id}"
        ) as pool:
            return tuple(pool.map(one, ctx.plan.servers))


def _cancelled(ctx: DeployContext) -> str | None:
    return "the deploy was cancelled" if ctx.cancel.requested() else None


def _why_not_start(ctx: DeployContext, budget: FailureBudget) -> str | None:
    return _cancelled(ctx) or budget.stop_reason()


def _below_floor(ctx: DeployContext, batch: tuple[ServerPlan, ...]) -> str | None:
    """``deploy.min_healthy``: a batch never starts while fewer would stay serving."""
    floor = ctx.plan.app.deploy.min_healthy
    if floor is None or not ctx.plan.uses_load_balancer:
        return None
    fleet = ctx.plan.app.servers
    needed = floor.ceil_of(len(fleet))
    leaving = {s.name for s in batch}
    serving = sum(1 for server in fleet if server.name not in leaving and _serving(ctx, server))
    if serving >= needed:
        return None
    return (
        f"only {serving} other servers are serving; taking {len(batch)} out would go below "
        f"deploy.min_healthy {floor} (= {needed})"
    )


def _serving(ctx: DeployContext, server: Server) -> bool:
    try:
        report = ctx.load_balancer.check(server)
    except LoadBalancerError:
        return False
    return report in (None, "serving")


def strategy_for(name: str) -> Strategy:
    """The walk for strategy ``name`` (ValueError naming the choices if unknown)."""
    return BatchWalk() if rollout_for(name).uses_load_balancer else PoolWalk()
