"""The per-server steps every strategy shares, one at a time: connect, leave the
load balancer, deploy, migrate, pass the health check, come back. How a failure
or a cancel leaves a server is decided here, once (``strategies.batch`` runs
servers through these steps together)."""

from __future__ import annotations

from strategies.context import DeployContext, Done, environment
from strategies.events import StepFinished, StepStarted
from strategies.health import health_gate
from strategies.plan import COMMAND_KINDS, ServerPlan, Step, brief
from strategies.ports import LbReport, LoadBalancerError
from strategies.results import LbPosition, ServerOutcome


class ServerState:
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

    def update(self, step: Step, done: Done) -> None:
        if step.kind == "lb_remove":
            self.position = "out" if done.ok else "unchanged" if done.refused else "unknown"
        elif step.kind == "lb_add":
            self.position = "in" if done.ok else self.position if done.refused else "unknown"
        elif step.kind in COMMAND_KINDS:
            self.commands_run += 1
            self.commands_failed |= not done.ok
            self.ran_migrations |= step.kind == "migrations" and done.ok


def run_step(ctx: DeployContext, server_plan: ServerPlan, index: int, step: Step) -> Done:
    name = server_plan.name
    number = index + ctx.index_offset  # its place in the journal
    ctx.emit(StepStarted(ctx.deploy_id, name, number, step, ctx.clock.now()))
    began = ctx.clock.monotonic()
    try:
        done = _do(ctx, server_plan, step)
    except LoadBalancerError as exc:
        done = Done(False, f"load balancer: {exc}", refused=exc.refused)
    except Exception as exc:  # an adapter bug must still produce an outcome
        done = Done(False, f"internal error: {type(exc).__name__}: {exc}")
    ctx.emit(
        StepFinished(
            ctx.deploy_id,
            name,
            number,
            step,
            done.ok,
            ctx.clock.monotonic() - began,
            ctx.clock.now(),
            done.detail,
            done.result,
        )
    )
    return done


def _do(ctx: DeployContext, server_plan: ServerPlan, step: Step) -> Done:
    server = server_plan.server
    if step.kind == "connect":
        problem = ctx.executor.check(server)
        return Done(problem is None, problem or "")
    if step.kind == "lb_remove":
        ctx.load_balancer.remove(server)
        return Done(True)
    if step.kind == "lb_add":
        ctx.load_balancer.add(server)
        return Done(True)
    if step.kind == "wait_removed":
        return _settle(ctx, server_plan, step, "drained")
    if step.kind == "wait_added":
        return _settle(ctx, server_plan, step, "serving")
    if step.kind == "health":
        return health_gate(ctx, server_plan, step)
    assert step.command is not None
    result = ctx.executor.run(
        server,
        step.command,
        env=environment(ctx, server_plan),
        timeout=step.timeout,
        abort=ctx.cancel.abort_event,
    )
    return Done(result.ok, "" if result.ok else result.describe(), result)


def _settle(ctx: DeployContext, server_plan: ServerPlan, step: Step, want: LbReport) -> Done:
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
            return Done(
                False,
                f"load balancer still reports {report} after {timeout:g}s (want {want})",
            )
        if not clock.sleep(interval, abort):
            return Done(False, "aborted while waiting for the load balancer")
        report = ctx.load_balancer.report(server_plan.server)
    if report is not None:
        reported_after = clock.monotonic() - began
    remaining = floor - (clock.monotonic() - began)
    if remaining > 0 and not clock.sleep(remaining, abort):
        return Done(False, "aborted during the fixed wait")
    waited = clock.monotonic() - began
    detail = f"waited {waited:.1f}s (fixed floor {floor:g}s"
    if reported_after is not None:
        detail += f"; load balancer reported {want} after {reported_after:.1f}s"
    return Done(True, detail + ")")


def put_back_unchanged(
    ctx: DeployContext, server_plan: ServerPlan, start: int, state: ServerState
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
    ctx: DeployContext, server_plan: ServerPlan, start: int, state: ServerState
) -> str:
    """Run the remaining ``lb_add``/``wait_added`` steps from ``start``; what failed, or ""."""
    steps = server_plan.steps
    for offset, step in enumerate(steps[start:], start=start):
        if step.kind in ("lb_add", "wait_added"):
            done = run_step(ctx, server_plan, offset, step)
            state.update(step, done)
            if not done.ok:
                return done.detail or step.label
    return ""


def failed_outcome(
    server_plan: ServerPlan, step: Step, done: Done, state: ServerState, returned: str
) -> ServerOutcome:
    if step.kind == "connect":
        what = "connect"
    elif step.kind == "health":
        what = "health check"
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


def cancelled_outcome(
    ctx: DeployContext, server_plan: ServerPlan, index: int, state: ServerState
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
