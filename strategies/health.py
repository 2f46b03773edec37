"""The health gate: a server goes back into rotation only once it is healthy.

After its deploy commands, a server's ``deploy.health_check`` is asked every
``interval`` until it has passed ``successes`` times in a row, for at most
``timeout``; a server that never passes has failed (and stays out of the load
balancer), with the check's last answer in the report. An HTTP check passes
on the expected status (and, if given, a body containing ``expect_body``); a
command check passes on exit 0.
"""

from __future__ import annotations

from strategies.context import DeployContext, Done, environment
from strategies.plan import ServerPlan, Step


def health_gate(ctx: DeployContext, server_plan: ServerPlan, step: Step) -> Done:
    check = ctx.plan.app.deploy.health_check
    assert check is not None and step.command is not None
    clock, abort = ctx.clock, ctx.cancel.abort_event
    began = clock.monotonic()
    passes = tries = 0
    answer = "no answer yet"
    while True:
        tries += 1
        ok, answer = _ask(ctx, server_plan, step.command, check.url is not None)
        passes = passes + 1 if ok else 0
        took = clock.monotonic() - began
        if passes >= check.successes:
            return Done(True, f"healthy after {took:.1f}s ({tries} checks): {answer}")
        if took + check.interval > check.timeout:
            return Done(False, f"not healthy within {check.timeout:g}s; last answer: {answer}")
        if not clock.sleep(check.interval, abort):
            return Done(False, f"aborted during the health check; last answer: {answer}")


def _ask(
    ctx: DeployContext, server_plan: ServerPlan, target: str, is_url: bool
) -> tuple[bool, str]:
    check = ctx.plan.app.deploy.health_check
    assert check is not None
    if is_url:
        assert ctx.health is not None, "a URL health check needs a probe"
        return ctx.health.probe(
            target,
            expect_status=check.expect_status,
            expect_body=check.expect_body,
            timeout=check.request_timeout,
        )
    result = ctx.executor.run(
        server_plan.server,
        target,
        env=environment(ctx, server_plan),
        timeout=check.request_timeout,
        abort=ctx.cancel.abort_event,
    )
    tail = result.output_tail.splitlines()[-1:] if result.output_tail else []
    said = f": {tail[0][:100]}" if tail else ""
    return result.ok, f"`{target}` {result.describe()}{said}"
