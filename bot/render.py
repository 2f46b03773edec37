"""Plain-text renderings of plans, progress, results and history, shared by
the console chat and the CLI (and the basis of the Slack messages)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo
from typing import TYPE_CHECKING

from strategies.durations import format_duration
from strategies.events import (
    DeployFinished,
    DeployStarted,
    Event,
    PreflightFinished,
    ServerFinished,
    StepFinished,
)
from strategies.plan import DeployPlan, ServerPlan, brief
from strategies.preflight import PreflightReport
from strategies.records import DeployRecord, Hold, QueuedDeploy, ScheduleRecord
from strategies.results import DeployResult, ServerOutcome, count_line, describe_server
from strategies.text import person

if TYPE_CHECKING:
    from strategies.store import DeployHistory


def _secs(value: float) -> str:
    return f"{value:g}s"


def strategy_line(plan: DeployPlan) -> str:
    return f"{plan.strategy} — {plan.reason}"


def plan_summary(plan: DeployPlan) -> list[str]:
    """A few lines: who, how, how long the waits add, warnings."""
    count = len(plan.servers)
    lines = []
    if plan.recovers is not None:
        names = ", ".join(s.name for s in plan.servers)
        return [f"recovery of deploy #{plan.recovers}: putting back {names}; no command runs"]
    if plan.request.rollback_to is not None:
        lines.append(f"ROLLBACK to {plan.request.rollback_to} (SHIPBOT_ROLLBACK=1)")
    lines.append(plan.rollout.describe(count, plan.batches, plan.workers, plan.uses_load_balancer))
    if plan.migrations_server:
        when = ""
        if plan.uses_load_balancer:
            when = ", after its code is deployed, before it goes back into the load balancer"
        lines.append(f"migrations: once, on {plan.migrations_server}{when}")
    lines.append(extra_wait_line(plan))
    check = plan.app.deploy.health_check
    if check is not None:
        what = "a command" if check.command else "an HTTP check"
        within = _secs(check.timeout)
        lines.append(
            f"health gate: {what}, {check.successes} pass(es) in a row within {within}"
            + (", before each server goes back" if plan.uses_load_balancer else "")
        )
    if plan.app.deploy.auto_rollback and plan.request.rollback_to is None:
        target = plan.rollback_ref or "nothing (no ref succeeded everywhere yet)"
        lines.append(f"auto_rollback: a failure rolls changed servers back to {target}")
    if plan.gate is not None:
        lines.append(plan.gate.line())
    if plan.override:
        lines.append(f"OVERRIDE of the deploy window: {plan.override}")
    lines.extend(f"warning: {w}" for w in plan.warnings)
    return lines


def extra_wait_line(plan: DeployPlan) -> str:
    if not plan.rollout.uses_load_balancer:
        return f"extra time from load balancer waits: none ({plan.strategy} does not use them)"
    if not plan.uses_load_balancer:
        return "extra time from load balancer waits: none (no load balancer)"
    removing, adding = plan.wait_after_removing.seconds, plan.wait_after_adding.seconds
    batches = len(plan.batch_plans())
    unit = "server" if plan.workers == 1 else "batch"
    return (
        f"extra time from load balancer waits: ({_secs(removing)} + {_secs(adding)}) per {unit}"
        f" x {batches} {unit}{'es' if unit == 'batch' else 's'}"
        f" = {format_duration(plan.extra_wait_seconds)}"
    )


def render_plan(plan: DeployPlan) -> str:
    """The full plan, as ``shipbot plan`` and ``--dry-run`` show it."""
    lines = [
        f"Plan: deploy {plan.app_name} @ {plan.ref}, requested by {plan.request.requested_by}",
        f"strategy: {strategy_line(plan)}",
    ]
    lines += plan_summary(plan)
    lb = plan.app.load_balancer
    lines.append(f"load balancer: {lb.type}")
    for wait in plan.waits:
        lines.append(f"  {wait.key}: {_secs(wait.seconds)} — {wait.describe()}")
    if plan.uses_load_balancer:
        lines.append(
            f"  each wait is a floor: it also lasts until the {lb.type} load balancer reports the"
            f" server drained (after removing) or serving (after adding), at most"
            f" {_secs(max(lb.configuration.settle_timeout, *(w.seconds for w in plan.waits)))}"
        )
    lines.append(failure_policy_line(plan))
    lines.append("steps:")
    for server_plan in plan.servers:
        lines.append(f"  {server_plan.position + 1}. {server_plan.name}: {_steps(server_plan)}")
    lines += [f"  {s.name}: skipped ({s.reason})" for s in plan.skipped]
    return "\n".join(lines)


def failure_policy_line(plan: DeployPlan) -> str:
    deploy = plan.app.deploy
    if deploy.on_failure == "stop":
        return "on failure: stop (no server starts after one fails; failed servers stay out)"
    limit = deploy.max_failures
    if limit is None:
        return "on failure: continue with the next server, whatever fails"
    allowed = limit.floor_of(len(plan.servers))
    share = "" if limit.count is not None else f" = {allowed} of {len(plan.servers)} servers"
    return f"on failure: continue until more than {limit}{share} have failed"


def _steps(server_plan: ServerPlan) -> str:
    words = []
    for step in server_plan.steps:
        if step.kind == "connect":
            words.append("connect")
        elif step.kind == "command":
            words.append(f"run `{brief(step.command, 40)}`")
        elif step.kind == "migrations":
            words.append(f"run migrations `{brief(step.command, 40)}`")
        elif step.kind in ("wait_removed", "wait_added"):
            words.append(f"wait {_secs(step.seconds)}")
        else:
            words.append(step.label)
    return ", ".join(words)


def parent_line(deploy_id: int, plan: DeployPlan) -> str:
    return (
        f"Deploy #{deploy_id} of {plan.app_name} @ {plan.ref}, {strategy_line(plan)}, "
        f"requested by {plan.request.requested_by}"
    )


def step_line(event: StepFinished, plan: DeployPlan | None) -> str | None:
    """One progress line for a finished step (None: nothing worth a line)."""
    step, who = event.step, event.server
    took = format_duration(event.duration)
    if not event.ok:
        what = f"`{brief(step.command)}`" if step.command else step.label
        if step.kind == "health":
            what = f"health check {what}"
        return f"{who}: FAILED {what}: {event.detail}"
    if step.kind == "connect":
        return None  # pre-flight already said every server answers
    if step.kind == "lb_remove":
        return f"{who}: removed from the load balancer"
    if step.kind == "lb_add":
        return f"{who}: added back to the load balancer"
    if step.kind == "wait_removed":
        return f"{who}: after removing, {event.detail}"
    if step.kind == "wait_added":
        return f"{who}: after adding, {event.detail}"
    if step.kind == "migrations":
        return f"{who}: migrations ran once, ok ({took})"
    if step.kind == "health":
        return f"{who}: {event.detail}"
    line = f"{who}: ran `{brief(step.command)}` ok ({took})"
    if plan is not None and _last_command(plan, who, event.index):
        line += f"\n{who}: deployed {plan.ref}"
    return line


def _last_command(plan: DeployPlan, server: str, index: int) -> bool:
    for server_plan in plan.servers:
        if server_plan.name == server:
            last = max(i for i, s in enumerate(server_plan.steps) if s.kind == "command")
            return index == last
    return False


def outcome_line(outcome: ServerOutcome) -> str:
    took = f" ({format_duration(outcome.duration)})" if outcome.duration else ""
    return f"{outcome.server}: {outcome.describe()}{took}"


def result_headline(result: DeployResult) -> str:
    if result.refused:
        return (
            f"Deploy #{result.deploy_id} of {result.app} refused at pre-flight "
            f"in {format_duration(result.duration)}: {result.refused}"
        )
    return (
        f"Deploy #{result.deploy_id} of {result.app} {result.status} "
        f"in {format_duration(result.duration)}: {count_line(result.outcomes)}"
    )


def result_lines(result: DeployResult) -> list[str]:
    lines = [result_headline(result)]
    lines += [f"  {outcome_line(o)}" for o in result.in_report_order]
    lines += left_out_lines(result)
    return lines


def left_out_lines(result: DeployResult) -> list[str]:
    """Under one heading, every server this deploy left out of the load balancer."""
    stranded = result.out_of_lb
    if not stranded:
        return []
    lines = ["  left out of the load balancer:"]
    for o in stranded:
        why = "its load balancer state is unknown" if o.lb == "unknown" else o.status
        lines.append(f"    {o.server} ({why}{': ' + o.detail if o.detail else ''})")
    lines.append(
        "    fix them and redeploy (--servers), or put them back by hand; "
        "a failed server is kept out because it may be broken"
    )
    return lines


def preflight_lines(report: PreflightReport, plan: DeployPlan) -> list[str]:
    """What pre-flight found: all well in one line, else one line per problem."""
    took = format_duration(report.duration)
    if report.ok:
        lines = [f"pre-flight: {_servers(report.checked)} checked in {took}: all reachable"]
    else:
        lines = [f"pre-flight: {_servers(report.checked)} checked in {took}:"]
        verb = "skipped (--force)" if plan.skipped else "problem"
        lines += [f"  {server}: {verb}: {problem}" for server, problem in report.problems]
    return lines + [f"  note: {note}" for note in report.notes]


def event_lines(event: Event, plan: DeployPlan | None) -> list[str]:
    """Lines a thread shows for ``event`` (the parent line is separate)."""
    if isinstance(event, DeployStarted):
        return plan_summary(event.plan)
    if isinstance(event, PreflightFinished):
        return preflight_lines(event.report, event.plan)
    if isinstance(event, StepFinished):
        line = step_line(event, plan)
        lines = line.split("\n") if line else []
        if not event.ok and event.result and event.result.output_tail:
            lines += ["    " + text for text in event.result.output_tail.splitlines()]
        return lines
    if isinstance(event, ServerFinished):
        return [outcome_line(event.outcome)] if event.outcome.status == "ok" else []
    if isinstance(event, DeployFinished):
        return result_lines(event.result)
    return []


def history_lines(records: Iterable[DeployRecord]) -> list[str]:
    lines = []
    for record in records:
        took = ""
        if record.finished_at:
            took = (
                f" in {format_duration((record.finished_at - record.started_at).total_seconds())}"
            )
        how = record.strategy if record.recovers is None else f"recovery of #{record.recovers}"
        if record.request is not None and record.request.rollback_to is not None:
            how = f"ROLLBACK to {record.request.rollback_to} ({record.strategy})"
        lines.append(
            f"#{record.id} {record.started_at:%Y-%m-%d %H:%M:%S} {record.app} @ {record.ref} "
            f"{how} by {record.requested_by}: {record.status}{took}"
        )
        if record.override:
            lines.append(f"    override of the deploy window: {record.override}")
        for server in record.servers:
            lines.append(
                f"    {server.server}: {describe_server(server.status, server.lb, server.detail)}"
            )
    return lines or ["no deploys yet"]


def interrupted_line(record: DeployRecord, *, hint: bool = True) -> str:
    """A deploy just found dead: what its journal says, and what to do (``hint``)."""
    return (
        f"deploy #{record.id} of {record.app} @ {record.ref} by {record.requested_by} was "
        f"{record.summary}" + (_recover_hint(record) if hint else "")
    )


def _recover_hint(record: DeployRecord) -> str:
    if "out of the load balancer:" not in record.summary:
        return ""
    return f"; run /deploy recover {record.app} to put back what is known good"


def calendar_lines(
    app: str,
    holds: Iterable[Hold],
    schedules: Iterable[ScheduleRecord],
    queued: Iterable[QueuedDeploy],
    zone: tzinfo,
) -> list[str]:
    """Under an app's status: who locked or froze it, what is scheduled, what is queued."""
    lines = []
    for hold in holds:
        what = "LOCKED" if hold.kind == "lock" else "FROZEN"
        until = f" until {hold.until.astimezone(zone):%Y-%m-%d %H:%M %Z}" if hold.until else ""
        lines.append(
            f"  {what} by {person(hold.by)} since {hold.since.astimezone(zone):%Y-%m-%d %H:%M %Z}"
            f"{until}: {hold.reason}"
        )
    for record in schedules:
        request = record.schedule.request
        when = f"{record.schedule.run_at.astimezone(zone):%a %Y-%m-%d %H:%M %Z}"
        lines.append(
            f"  scheduled #{record.id} for {when} by {person(request.requested_by)} "
            f"({record.status.replace('_', ' ')})"
        )
    for place, item in enumerate(queued, 1):
        lines.append(
            f"  queued {place}: by {person(item.request.requested_by)} since "
            f"{item.created_at.astimezone(zone):%H:%M:%S %Z} (gives up at "
            f"{item.expires_at.astimezone(zone):%H:%M %Z})"
        )
    return lines


def app_status(store: DeployHistory, app: str) -> str:
    """``status_line`` for ``app`` as the store has it now (the one read of it)."""
    locked_by = store.recovery_lock(app)
    return status_line(
        app,
        store.running_deploy(app),
        store.history(app, 1),
        recovery=store.get_deploy(locked_by) if locked_by is not None else None,
    )


def status_line(
    app: str,
    running: DeployRecord | None,
    last: list[DeployRecord],
    *,
    recovery: DeployRecord | None = None,
) -> str:
    if recovery is not None:
        return (
            f"{app}: LOCKED until recovered: deploy #{recovery.id} was {recovery.summary}; "
            f"run /deploy recover {app}"
        )
    if running is not None:
        done = sum(1 for s in running.servers if s.status not in ("pending", "running"))
        busy = [s.server for s in running.servers if s.status == "running"]
        now = f"; now on {', '.join(busy)}" if busy else ""
        return (
            f"{app}: deploy #{running.id} @ {running.ref} ({running.strategy}) running since "
            f"{running.started_at:%Y-%m-%d %H:%M:%S} by {running.requested_by}, "
            f"{done}/{len(running.servers)} servers done{now}"
        )
    if last:
        record = last[0]
        return (
            f"{app}: idle; last deploy #{record.id} @ {record.ref} {record.status} "
            f"on {record.started_at:%Y-%m-%d %H:%M:%S} ({record.summary})"
        )
    return f"{app}: idle; never deployed"


def _servers(count: int) -> str:
    return f"{count} server{'s' if count != 1 else ''}"
