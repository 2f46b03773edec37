"""Running a plan: take the app's lock, check every server, apply sticky waits,
run the strategy, record the outcome, release the lock — whatever happens in
between. A lease renewed while it runs tells others the deploy is alive."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from strategies.cancel import CancelToken
from strategies.context import DeployContext
from strategies.events import (
    DeployFinished,
    DeployStarted,
    EventBus,
    Listener,
    PreflightFinished,
    ServerFinished,
)
from strategies.history import HistoryRecorder
from strategies.lease import DEFAULT_LEASE, LeaseKeeper
from strategies.plan import DeployPlan
from strategies.ports import Clock, Executor, HealthProbe, LoadBalancer
from strategies.preflight import PreflightReport, preflight
from strategies.records import NewDeploy
from strategies.requests import request_json
from strategies.results import DeployResult, ServerOutcome, count_line
from strategies.rollback import rollback_plan
from strategies.store import DeployJournal, SettingsStore
from strategies.strategy import strategy_for


class DeployStore(SettingsStore, DeployJournal, Protocol):
    """What running a deploy needs of the store."""


@dataclass(frozen=True)
class Deployer:
    """Runs plans against one app's executor and load balancer."""

    store: DeployStore
    executor: Executor
    load_balancer: LoadBalancer
    clock: Clock
    poll_interval: float = 0.25
    lease_seconds: float = DEFAULT_LEASE
    health: HealthProbe | None = None

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
        deploy_id = self._begin(plan)
        lease = LeaseKeeper(
            lambda until: self.store.renew_lease(deploy_id, until),
            self.clock,
            seconds=self.lease_seconds,
            lost=cancel.cancel,
        ).start()
        cancel.bind_remote(lambda: self.store.cancel_requested(deploy_id))
        bus = EventBus(listeners, journal=HistoryRecorder(self.store))
        began = self.clock.monotonic()
        status, summary = "interrupted", "interrupted before it finished"
        try:
            bus(DeployStarted(deploy_id, plan, started_at))
            report = preflight(plan, self.executor, self.load_balancer, self.clock)
            refused = _refusal(plan, report)
            runs = plan if refused or report.ok else plan.skipping(report.unreachable)
            bus(PreflightFinished(deploy_id, report, runs, self.clock.now()))
            if refused:
                outcomes = _refused_outcomes(plan, report)
                for outcome in outcomes:
                    bus(ServerFinished(deploy_id, outcome, self.clock.now()))
            else:
                self.store.apply_waits(plan.app_name, deploy_id, plan.waits, started_at)
                skipped = [
                    ServerOutcome(s.name, "unreachable", detail=s.reason) for s in runs.skipped
                ]
                for outcome in skipped:
                    bus(ServerFinished(deploy_id, outcome, self.clock.now()))
                ctx = DeployContext(
                    deploy_id,
                    runs,
                    self.executor,
                    self.load_balancer,
                    self.clock,
                    bus,
                    cancel,
                    self.poll_interval,
                    self.health,
                )
                ran = strategy_for(runs.strategy).execute(ctx)
                ran = _auto_rollback(ctx, ran)
                outcomes = _in_plan_order(plan, (*ran, *skipped))
            result = DeployResult(
                deploy_id,
                plan.app_name,
                plan.strategy,
                outcomes,
                self.clock.monotonic() - began,
                refused=refused,
                migrations_server=plan.migrations_server,
            )
            status, summary = result.status, summarize(result)
            bus(DeployFinished(deploy_id, result, self.clock.now()))
            return result
        finally:
            lease.stop()
            self.executor.close()
            self.store.finish_deploy(deploy_id, status, summary, self.clock.now())

    def _begin(self, plan: DeployPlan) -> int:
        now = self.clock.now()
        return self.store.begin_deploy(
            NewDeploy(
                app=plan.app_name,
                strategy=plan.strategy,
                reason=plan.reason,
                ref=plan.ref,
                requested_by=plan.request.requested_by,
                servers=tuple(s.name for s in plan.servers),
                started_at=now,
                planned=tuple(tuple(step.kind for step in s.steps) for s in plan.servers),
                batches=_batch_numbers(plan),
                recovers=plan.recovers,
                override=plan.override,
                request_json=request_json(plan.request),
                continues=plan.continues,
                lease_until=LeaseKeeper.expiry_after(now, self.lease_seconds),
            ),
            holder=plan.request.requested_by,
        )


def _batch_numbers(plan: DeployPlan) -> tuple[int | None, ...]:
    number = {s.name: n for n, group in enumerate(plan.batch_plans()) for s in group}
    return tuple(number.get(s.name) for s in plan.servers)


ROLLBACK_STEPS = 100  # a rollback inside a deploy journals its steps from here


def _auto_rollback(
    ctx: DeployContext, outcomes: tuple[ServerOutcome, ...]
) -> tuple[ServerOutcome, ...]:
    """``deploy.auto_rollback``: a failed rollout returns the servers it changed to
    the ref the app ran before, within the same deploy, before it ends."""
    plan = ctx.plan
    if not plan.app.deploy.auto_rollback or plan.request.rollback_to is not None:
        return outcomes
    if not any(o.status == "failed" for o in outcomes) or ctx.cancel.aborted:
        return outcomes
    changed = [o.server for o in outcomes if o.changed]
    back = rollback_plan(plan, changed)
    if back is None:
        return outcomes
    again = replace(ctx, plan=back, index_offset=ROLLBACK_STEPS, cancel=CancelToken())
    results = {o.server: o for o in strategy_for(back.strategy).execute(again)}
    merged = []
    for outcome in outcomes:
        result = results.get(outcome.server)
        if result is None:
            merged.append(outcome)
        elif result.status == "ok":
            note = f"rolled back to {back.ref}"
            merged.append(replace(outcome, lb=result.lb, rolled_back=note))
        else:
            note = f"rollback to {back.ref} FAILED: {result.detail}"
            where = result.lb if result.lb in ("out", "unknown") else outcome.lb
            merged.append(replace(outcome, lb=where, rolled_back=note))
    return tuple(merged)


def _refusal(plan: DeployPlan, report: PreflightReport) -> str:
    """Why pre-flight stops the deploy before it changes anything ("" if it may go on)."""
    if report.ok:
        return ""
    unreachable = report.unreachable
    if not plan.request.force:
        return (
            f"{len(unreachable)} of {report.checked} servers failed pre-flight; "
            "nothing was changed (--force deploys to the others and skips these)"
        )
    if plan.migrations_server in unreachable:
        return (
            f"the migrations server {plan.migrations_server} failed pre-flight, and --force "
            "cannot skip it (the migrations would not run); nothing was changed"
        )
    if len(unreachable) == len(plan.servers):
        return "every server failed pre-flight; nothing was changed"
    return ""


def _refused_outcomes(plan: DeployPlan, report: PreflightReport) -> tuple[ServerOutcome, ...]:
    unreachable = report.unreachable
    return tuple(
        ServerOutcome(s.name, "skipped", detail=f"pre-flight: {unreachable[s.name]}")
        if s.name in unreachable
        else ServerOutcome(s.name, "skipped", detail="pre-flight failed; nothing was changed")
        for s in plan.servers
    )


def _in_plan_order(
    plan: DeployPlan, outcomes: Iterable[ServerOutcome]
) -> tuple[ServerOutcome, ...]:
    by_name = {o.server: o for o in outcomes}
    return tuple(by_name[s.name] for s in plan.servers if s.name in by_name)


def summarize(result: DeployResult) -> str:
    """``1 ok, 1 failed, 1 untouched; left out of the load balancer: web2``."""
    outcomes = result.outcomes
    parts = [result.refused] if result.refused else []
    parts.append(count_line(outcomes))
    out = [o.server for o in outcomes if o.lb == "out"]
    unknown = [o.server for o in outcomes if o.lb == "unknown"]
    if out:
        parts.append(f"left out of the load balancer: {', '.join(out)}")
    if unknown:
        parts.append(f"load balancer state unknown: {', '.join(unknown)}")
    return "; ".join(part for part in parts if part) or "no servers"
