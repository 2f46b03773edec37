"""What a running deploy's steps share: the plan, the adapters, the clock, the
event sink and the cancel token; and what one step gives back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from strategies.cancel import CancelToken
from strategies.events import Event
from strategies.plan import DeployPlan, ServerPlan
from strategies.ports import Clock, Executor, HealthProbe, LoadBalancer
from strategies.results import CommandResult

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
    health: HealthProbe | None = None
    index_offset: int = 0  # journal step numbers: a rollback inside a deploy starts at 100


@dataclass(frozen=True)
class Done:
    ok: bool
    detail: str = ""
    result: CommandResult | None = None
    refused: bool = False  # a load balancer call rejected without changing anything


def environment(ctx: DeployContext, server_plan: ServerPlan) -> dict[str, str]:
    """What a command learns of the deploy: only through these variables."""
    plan = ctx.plan
    env = {
        "SHIPBOT_APP": plan.app_name,
        "SHIPBOT_SERVER": server_plan.name,
        "SHIPBOT_REF": plan.ref,
        "SHIPBOT_DEPLOY_ID": str(ctx.deploy_id),
        "SHIPBOT_STRATEGY": plan.strategy,
    }
    if plan.request.rollback_to is not None:
        env["SHIPBOT_ROLLBACK"] = "1"
    return env
