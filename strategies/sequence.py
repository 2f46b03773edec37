"""The per-server step sequence that serial and parallel deploys share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from strategies.cancel import CancelToken
from strategies.events import Event, ServerFinished, ServerStarted, StepFinished, StepStarted
from strategies.plan import COMMAND_KINDS, DeployPlan, ServerPlan, Step, brief
from strategies.ports import Clock, Executor, LbReport, LoadBalancer, LoadBalancerError
from strategies.results import CommandResult, LbPosition, ServerOutcome

POLL_INTERVAL = 0.25


@dataclass(frozen=True)
class DeployContext:
    deploy_id: int
    plan: DeployPlan
    executor: Executor
    load_balancer: LoadBalancer
    clock: Clock
    emit: Callable[[Event], None]
    cancel: CancelToken
    poll_interval: float = POLL_INTERVAL


@dataclass(frozen=True)
class _Done:
    ok: bool
    detail: str = ""
    result: CommandResult | None = None
    refused: bool = False  # a load balancer call rejected without changing anything


def run_server(ctx: DeployContext, server_plan: ServerPlan) -> ServerOutcome:
    """Run one server's steps in order; stop at the first failure.

    A server that failed once its commands had started stays out of the load
    balancer (it may be broken) and its outcome says so; one that failed
    before any command started is put back, as is a healthy server whose
    deploy was cancelled between steps.
    """
    name = server_plan.name
    started = ctx.clock.monotonic()
    ctx.emit(ServerStarted(ctx.deploy_id, name, ctx.clock.now()))
    state = _ServerState(server_plan)
    steps = server_plan.steps
    outcome: ServerOutcome | None = None
    for index, step in enumerate(steps):
        if ctx.cancel.requested() and step.kind not in ("lb_add", "wait_added"):
            outcome = _cancelled(ctx, server_plan, index, state)
            break
        done = _run_step(ctx, server_plan, index, step)
        state.update(step, done)
        if not done.ok:
            returned = _put_back_unchanged(ctx, server_plan, index + 1, state)
            outcome = _failed(server_plan, step, done, state, returned)
            break
    if outcome is None:
        outcome = ServerOutcome(
            name,
            "ok",
            lb=state.position,
            ran_migrations=state.ran_migrations,
        )
    outcome = replace(outcome, duration=ctx.clock.monotonic() - started)
    ctx.emit(ServerFinished(ctx.deploy_id, outcome, ctx.clock.now()))
    return outcome


class _ServerState:
    def __init__(self, server_plan: ServerPlan) -> None:
        # Before its first load balancer step a server is where that step finds it:
        # in rotation for a deploy, out for a recovery that puts it back.
        kinds = [s.kind for s in server_plan.steps if s.kind in ("lb_remove", "lb_add")]
        self.position: LbPosition = (
            "n/a" if not kinds else "in" if kinds[0] == "lb_remove" else "out"
        )
        self.commands_run = 0
        self.commands_failed = False
        self.ran_migrations = False

    def serving(self) -> bool:
        return self.position == "in"

    def update(self, step: Step, done: _Done) -> None:
        if step.kind == "lb_remove":
            self.position = "out" if done.ok else "unchanged" if done.refused else "unknown"
        elif step.kind == "lb_add":
            self.position = "in" if done.ok else self.position if done.refused else "unknown"
        elif step.kind in COMMAND_KINDS:
            self.commands_run += 1
            self.commands_failed |= not done.ok
            self.ran_migrations |= step.kind == "migrations" and done.ok


def _run_step(ctx: DeployContext, server_plan: ServerPlan, index: int, step: Step) -> _Done:
    name = server_plan.name
    ctx.emit(StepStarted(ctx.deploy_id, name, index, step, ctx.clock.now()))
    began = ctx.clock.monotonic()
    try:
        done = _do(ctx, server_plan, step)
    except LoadBalancerError as exc:
        done = _Done(False, f"load balancer: {exc}", refused=exc.refused)
    except Exception as exc:  # an adapter bug must still produce an outcome
        done = _Done(False, f"internal error: {type(exc).__name__}: {exc}")
    ctx.emit(
        StepFinished(
            ctx.deploy_id,
            name,
            index,
            step,
            done.ok,
            ctx.clock.monotonic() - began,
            ctx.clock.now(),
            done.detail,
            done.result,
        )
    )
    return done


def _do(ctx: DeployContext, server_plan: ServerPlan, step: Step) -> _Done:
    server = server_plan.server
    if step.kind == "connect":
        problem = ctx.executor.check(server)
        return _Done(problem is None, problem or "")
    if step.kind == "lb_remove":
        ctx.load_balancer.remove(server)
        return _Done(True)
    if step.kind == "lb_add":
        ctx.load_balancer.add(server)
        return _Done(True)
    if step.kind == "wait_removed":
        return _settle(ctx, server_plan, step, "drained")
    if step.kind == "wait_added":
        return _settle(ctx, server_plan, step, "serving")
    assert step.command is not None
    result = ctx.executor.run(
        server,
        step.command,
        env=_environment(ctx, server_plan),
        timeout=step.timeout,
        abort=ctx.cancel.abort_event,
    )
    return _Done(result.ok, "" if result.ok else result.describe(), result)


def _environment(ctx: DeployContext, server_plan: ServerPlan) -> dict[str, str]:
    plan = ctx.plan
    return {
        "SHIPBOT_APP": plan.app_name,
        "SHIPBOT_SERVER": server_plan.name,
        "SHIPBOT_REF": plan.ref,
        "SHIPBOT_DEPLOY_ID": str(ctx.deploy_id),
        "SHIPBOT_STRATEGY": plan.strategy,
    }


def _settle(ctx: DeployContext, server_plan: ServerPlan, step: Step, want: LbReport) -> _Done:
    """Wait at least the fixed floor, and until the load balancer reports ``want``."""
    floor = step.seconds
    timeout = max(floor, ctx.plan.app.load_balancer.configuration.settle_timeout)
    clock, abort = ctx.clock, ctx.cancel.abort_event
    interval = ctx.plan.app.load_balancer.configuration.poll_interval or ctx.poll_interval
    began = clock.monotonic()
    reported_after: float | None = None
    report = ctx.load_balancer.report(server_plan.server)
    while report is not None and report != want:
        if clock.monotonic() - began >= timeout:
            return _Done(
                False,
                f"load balancer still reports {report} after {timeout:g}s (want {want})",
            )
        if not clock.sleep(interval, abort):
            return _Done(False, "aborted while waiting for the load balancer")
        report = ctx.load_balancer.report(server_plan.server)
    if report is not None:
        reported_after = clock.monotonic() - began
    remaining = floor - (clock.monotonic() - began)
    if remaining > 0 and not clock.sleep(remaining, abort):
        return _Done(False, "aborted during the fixed wait")
    waited = clock.monotonic() - began
    detail = f"waited {waited:.1f}s (fixed floor {floor:g}s"
    if reported_after is not None:
        detail += f"; load balancer reported {want} after {reported_after:.1f}s"
    return _Done(True, detail + ")")


def _put_back_unchanged(
    ctx: DeployContext, server_plan: ServerPlan, start: int, state: _ServerState
) -> str:
    """After a failure before any command ran (the connection dropped, the drain
    never finished), the server is as it was: put it back into rotation.
    What happened, for the report ("" if it was not tried)."""
    if state.position != "out" or state.commands_run or ctx.cancel.aborted:
        return ""
    problem = _run_lb_return(ctx, server_plan, start, state)
    if not state.serving():
        return f"putting it back (no command had run) failed: {problem}"
    if problem:
        return f"put back into the load balancer (no command had run), but {problem}"
    return "put back into the load balancer: no command had run"


def _run_lb_return(
    ctx: DeployContext, server_plan: ServerPlan, start: int, state: _ServerState
) -> str:
    """Run the remaining ``lb_add``/``wait_added`` steps from ``start``; what failed, or ""."""
    steps = server_plan.steps
    for offset, step in enumerate(steps[start:], start=start):
        if step.kind in ("lb_add", "wait_added"):
            done = _run_step(ctx, server_plan, offset, step)
            state.update(step, done)
            if not done.ok:
                return done.detail or step.label
    return ""


def _failed(
    server_plan: ServerPlan, step: Step, done: _Done, state: _ServerState, returned: str
) -> ServerOutcome:
    if step.kind == "connect":
        what = "connect"
    elif step.kind == "command":
        what = f"`{brief(step.command)}`"
    elif step.kind == "migrations":
        what = f"migrations `{brief(step.command)}`"
    else:
        what = step.kind.replace("_", " ")
    detail = f"{what}: {done.detail}" if done.detail else what
    if returned:
        detail += f"; {returned}"
    return ServerOutcome(
        server_plan.name,
        "failed",
        lb=state.position,
        detail=detail,
        output_tail=done.result.output_tail if done.result else "",
        ran_migrations=state.ran_migrations,
    )


def _cancelled(
    ctx: DeployContext, server_plan: ServerPlan, index: int, state: _ServerState
) -> ServerOutcome:
    """Stop this server at a step boundary; put it back if it is healthy."""
    name = server_plan.name
    steps = server_plan.steps
    total_commands = sum(1 for s in steps if s.kind in COMMAND_KINDS)
    healthy = state.commands_run in (0, total_commands) and not state.commands_failed
    if state.position == "out" and healthy and not ctx.cancel.aborted:
        _run_lb_return(ctx, server_plan, index, state)
        stage = "before deploying" if state.commands_run == 0 else "after deploying"
        detail = f"stopped {stage}" + ("" if state.serving() else "; putting it back failed")
    elif state.position == "out":
        detail = f"stopped after {state.commands_run} of {total_commands} commands"
    else:
        detail = f"stopped before {'any step' if index == 0 else brief(steps[index].label)}"
    return ServerOutcome(name, "cancelled", lb=state.position, detail=detail)
