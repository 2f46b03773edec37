"""Running a plan: take the app's lock, apply sticky waits, run the strategy,
record the outcome, release the lock — whatever happens in between."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from strategies.cancel import CancelToken
from strategies.events import DeployFinished, DeployStarted, EventBus, Listener
from strategies.history import HistoryRecorder
from strategies.plan import DeployPlan
from strategies.ports import Clock, Executor, LoadBalancer, NewDeploy, Store
from strategies.results import DeployResult, ServerOutcome, count_line
from strategies.sequence import DeployContext
from strategies.strategy import strategy_for


@dataclass(frozen=True)
class Deployer:
    """Runs plans against one app's executor and load balancer."""

    store: Store
    executor: Executor
    load_balancer: LoadBalancer
    clock: Clock
    poll_interval: float = 0.25

    def run(
        self,
        plan: DeployPlan,
        *,
        listeners: Iterable[Listener] = (),
        cancel: CancelToken | None = None,
    ) -> DeployResult:
        """Run ``plan``; raises DeployLocked (nothing done) if the app is busy."""
        cancel = cancel or CancelToken()
        started_at = self.clock.now()
        deploy_id = self.store.begin_deploy(
            NewDeploy(
                app=plan.app_name,
                strategy=plan.strategy,
                reason=plan.reason,
                ref=plan.ref,
                requested_by=plan.request.requested_by,
                servers=tuple(s.name for s in plan.servers),
                started_at=started_at,
            ),
            holder=plan.request.requested_by,
        )
        cancel.bind_remote(lambda: self.store.cancel_requested(deploy_id))
        bus = EventBus([HistoryRecorder(self.store), *listeners])
        began = self.clock.monotonic()
        status, summary = "interrupted", "interrupted before it finished"
        try:
            self.store.apply_waits(plan.app_name, deploy_id, plan.waits, started_at)
            bus(DeployStarted(deploy_id, plan, started_at))
            ctx = DeployContext(
                deploy_id,
                plan,
                self.executor,
                self.load_balancer,
                self.clock,
                bus,
                cancel,
                self.poll_interval,
            )
            outcomes = strategy_for(plan.strategy).execute(ctx)
            result = DeployResult(
                deploy_id,
                plan.app_name,
                plan.strategy,
                outcomes,
                self.clock.monotonic() - began,
            )
            status, summary = result.status, summarize(outcomes)
            bus(DeployFinished(deploy_id, result, self.clock.now()))
            return result
        finally:
            self.executor.close()
            self.store.finish_deploy(deploy_id, status, summary, self.clock.now())


def summarize(outcomes: Iterable[ServerOutcome]) -> str:
    """``1 ok, 1 failed, 1 untouched; out of the load balancer: web2``."""
    outcomes = list(outcomes)
    parts = [count_line(outcomes)]
    out = [o.server for o in outcomes if o.lb == "out"]
    unknown = [o.server for o in outcomes if o.lb == "unknown"]
    if out:
        parts.append(f"out of the load balancer: {', '.join(out)}")
    if unknown:
        parts.append(f"load balancer state unknown: {', '.join(unknown)}")
    return "; ".join(part for part in parts if part) or "no servers"
