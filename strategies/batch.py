"""A batch of servers through the shared step sequence, together.

Each server's steps are the same as alone (``strategies.sequence``); a batch
runs them in phases: every server connects and leaves the load balancer,
one wait lets the whole batch drain, the servers deploy and pass their
health check in parallel, every healthy server goes back, and one wait lets
the batch settle. A batch of one is exactly a server on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from strategies.context import DeployContext, Done
from strategies.events import ServerFinished, ServerStarted, StepFinished, StepStarted
from strategies.plan import ServerPlan, Step
from strategies.ports import LbReport, LoadBalancerError
from strategies.results import ServerOutcome
from strategies.sequence import (
    ServerState,
    cancelled_outcome,
    failed_outcome,
    put_back_unchanged,
    run_step,
)

WORK = ("command", "migrations", "health")
RETURN = ("lb_add", "wait_added")


@dataclass
class _Run:
    plan: ServerPlan
    state: ServerState
    started: float
    index: int = 0
    outcome: ServerOutcome | None = None

    @property
    def next_kind(self) -> str | None:
        steps = self.plan.steps
        return steps[self.index].kind if self.outcome is None and self.index < len(steps) else None


@dataclass
class _Batch:
    ctx: DeployContext
    runs: list[_Run] = field(default_factory=list)

    def waiting_for(self, kind: str) -> list[_Run]:
        return [run for run in self.runs if run.next_kind == kind]


def run_batch(ctx: DeployContext, plans: tuple[ServerPlan, ...]) -> list[ServerOutcome]:
    """Run ``plans`` as one batch; one outcome per server, in order."""
    batch = _Batch(ctx)
    for server_plan in plans:
        ctx.emit(ServerStarted(ctx.deploy_id, server_plan.name, ctx.clock.now()))
        state = ServerState(server_plan)
        batch.runs.append(_Run(server_plan, state, ctx.clock.monotonic()))
    _each(batch, lambda run: _advance(ctx, run, stop=("wait_removed", *WORK, *RETURN)))
    _settle_together(batch, "wait_removed", "drained")
    _each(batch, lambda run: _advance(ctx, run, stop=RETURN))
    for run in batch.waiting_for("lb_add"):
        _step(ctx, run)
    _settle_together(batch, "wait_added", "serving")
    return [_finish(ctx, run) for run in batch.runs]


def _each(batch: _Batch, work: Callable[[_Run], None]) -> None:
    """Run ``work(run)`` for every server still going: on a pool when there are several."""
    going = [run for run in batch.runs if run.outcome is None]
    if len(going) <= 1:
        for run in going:
            work(run)
        return
    with ThreadPoolExecutor(max_workers=len(going), thread_name_prefix="batch") as pool:
        list(pool.map(work, going))


def _advance(ctx: DeployContext, run: _Run, *, stop: tuple[str, ...]) -> None:
    """This server's steps, in order, up to the first of kind ``stop``."""
    while (kind := run.next_kind) is not None and kind not in stop:
        if ctx.cancel.requested():
            run.outcome = cancelled_outcome(ctx, run.plan, run.index, run.state)
            return
        _step(ctx, run)


def _step(ctx: DeployContext, run: _Run) -> None:
    step = run.plan.steps[run.index]
    done = run_step(ctx, run.plan, run.index, step)
    _record(ctx, run, step, done)


def _record(ctx: DeployContext, run: _Run, step: Step, done: Done) -> None:
    run.state.update(step, done)
    run.index += 1
    if not done.ok:
        returned = put_back_unchanged(ctx, run.plan, run.index, run.state)
        run.outcome = failed_outcome(run.plan, step, done, run.state, returned)


def _settle_together(batch: _Batch, kind: str, want: LbReport) -> None:
    """One wait for every server of the batch at a step of ``kind``: the fixed floor
    once, and until each reports ``want`` (or the timeout, for those that do not)."""
    ctx = batch.ctx
    runs = batch.waiting_for(kind)
    if not runs:
        return
    if kind == "wait_removed" and ctx.cancel.requested():
        for run in runs:
            run.outcome = cancelled_outcome(ctx, run.plan, run.index, run.state)
        return
    step = runs[0].plan.steps[runs[0].index]
    for run in runs:
        number = run.index + ctx.index_offset
        ctx.emit(StepStarted(ctx.deploy_id, run.plan.name, number, step, ctx.clock.now()))
    results = _settle(ctx, runs, step, want)
    for run in runs:
        done, took = results[run.plan.name]
        ctx.emit(
            StepFinished(
                ctx.deploy_id,
                run.plan.name,
                run.index + ctx.index_offset,
                step,
                done.ok,
                took,
                ctx.clock.now(),
                done.detail,
            )
        )
        _record(ctx, run, step, done)


def _settle(
    ctx: DeployContext, runs: list[_Run], step: Step, want: LbReport
) -> dict[str, tuple[Done, float]]:
    config = ctx.plan.app.load_balancer.configuration
    floor = step.seconds
    timeout = max(floor, config.settle_timeout)
    interval = config.poll_interval or ctx.poll_interval
    clock, abort = ctx.clock, ctx.cancel.abort_event
    began = clock.monotonic()
    pending = {run.plan.name: run for run in runs}
    answers: dict[str, LbReport | None] = {}
    reached: dict[str, float | None] = {}
    failed: dict[str, str] = {}
    while pending:
        for name, run in list(pending.items()):
            try:
                answers[name] = ctx.load_balancer.report(run.plan.server)
            except LoadBalancerError as exc:
                failed[name] = f"load balancer: {exc}"
                del pending[name]
                continue
            if answers[name] is None or answers[name] == want:
                reached[name] = None if answers[name] is None else clock.monotonic() - began
                del pending[name]
        if not pending:
            break
        if clock.monotonic() - began >= timeout:
            for name in pending:
                failed[name] = (
                    f"load balancer still reports {answers.get(name)} after {timeout:g}s "
                    f"(want {want})"
                )
            break
        if not clock.sleep(interval, abort):
            failed.update({name: "aborted while waiting for the load balancer" for name in pending})
            break
    remaining = floor - (clock.monotonic() - began)
    if remaining > 0 and not clock.sleep(remaining, abort):
        failed.update({name: "aborted during the fixed wait" for name in reached})
    waited = clock.monotonic() - began
    results: dict[str, tuple[Done, float]] = {}
    for run in runs:
        name = run.plan.name
        if name in failed:
            results[name] = (Done(False, failed[name]), waited)
            continue
        detail = f"waited {waited:.1f}s (fixed floor {floor:g}s"
        after = reached.get(name)
        if after is not None:
            detail += f"; load balancer reported {want} after {after:.1f}s"
        results[name] = (Done(True, detail + ")"), waited)
    return results


def _finish(ctx: DeployContext, run: _Run) -> ServerOutcome:
    state = run.state
    outcome = run.outcome or ServerOutcome(
        run.plan.name, "ok", lb=state.position, ran_migrations=state.ran_migrations
    )
    outcome = replace(
        outcome, duration=ctx.clock.monotonic() - run.started, changed=state.commands_run > 0
    )
    ctx.emit(ServerFinished(ctx.deploy_id, outcome, ctx.clock.now()))
    return outcome


def run_server(ctx: DeployContext, server_plan: ServerPlan) -> ServerOutcome:
    """One server on its own: a batch of one."""
    return run_batch(ctx, (server_plan,))[0]
