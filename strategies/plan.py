"""Planning: from a request, an app and its settings to a frozen plan. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from strategies.calendar import GateState
from strategies.manifest import App, Server
from strategies.profiles import with_profile
from strategies.requests import DeployRequest, RequestError, StrategyName
from strategies.rollouts import Rollout, rollout_for
from strategies.setting_changes import SettingChange, origin_text
from strategies.settings import effective_settings
from strategies.waits import AppliedWait, EffectiveWait, effective_wait

StepKind = Literal[
    "connect",
    "lb_remove",
    "wait_removed",
    "command",
    "migrations",
    "health",
    "lb_add",
    "wait_added",
]
COMMAND_KINDS = ("command", "migrations")


def brief(command: str | None, limit: int = 60) -> str:
    """A command on one line, at most ``limit`` characters, for reports."""
    text = " ".join((command or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Step:
    kind: StepKind
    label: str
    command: str | None = None
    timeout: float = 0.0
    seconds: float = 0.0  # waits: the fixed floor


@dataclass(frozen=True)
class ServerPlan:
    server: Server
    position: int
    steps: tuple[Step, ...]

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def runs_migrations(self) -> bool:
        return any(step.kind == "migrations" for step in self.steps)

    @property
    def leaves_lb(self) -> bool:
        return any(step.kind == "lb_remove" for step in self.steps)

    @property
    def runs_commands(self) -> bool:
        return any(step.kind in COMMAND_KINDS for step in self.steps)

    @property
    def uses_lb(self) -> bool:
        return any(step.kind in ("lb_remove", "lb_add") for step in self.steps)


@dataclass(frozen=True)
class SkippedServer:
    """A server left out of the deploy at pre-flight (``--force``), never touched."""

    name: str
    reason: str


@dataclass(frozen=True)
class DeployPlan:
    app_name: str
    app: App
    request: DeployRequest
    strategy: StrategyName
    reason: str
    ref: str
    servers: tuple[ServerPlan, ...]
    waits: tuple[EffectiveWait, EffectiveWait]  # after removing, after adding
    max_parallel: int
    migrations_server: str | None
    warnings: tuple[str, ...]
    skipped: tuple[SkippedServer, ...] = ()
    recovers: int | None = None  # a recovery: the interrupted deploy it puts servers back for
    gate: GateState | None = None  # deploy windows and freezes, when the plan was made
    override: str | None = None  # "reason (by U)": runs although the gate is closed
    batches: tuple[int, ...] = ()  # servers per batch, in order (serial: all 1)
    rollback_ref: str | None = None  # where auto_rollback would return to (None: nowhere)
    continues: int | None = None  # a promoted canary: the paused deploy it carries on

    @property
    def rollout(self) -> Rollout:
        return rollout_for(self.strategy)

    def batch_plans(self) -> list[tuple[ServerPlan, ...]]:
        """The servers, grouped as the batches walk them."""
        groups, start = [], 0
        for size in self.batches or (len(self.servers),):
            groups.append(self.servers[start : start + size])
            start += size
        return [group for group in groups if group]

    @property
    def wait_after_removing(self) -> EffectiveWait:
        return self.waits[0]

    @property
    def wait_after_adding(self) -> EffectiveWait:
        return self.waits[1]

    @property
    def uses_load_balancer(self) -> bool:
        return any(server.leaves_lb for server in self.servers)

    @property
    def wait_per_batch(self) -> float:
        if not self.uses_load_balancer:
            return 0.0
        return self.wait_after_removing.seconds + self.wait_after_adding.seconds

    @property
    def extra_wait_seconds(self) -> float:
        """(wait per batch) x (number of batches): the time the fixed waits add (serial:
        a batch is one server)."""
        return self.wait_per_batch * len(self.batch_plans())

    def skipping(self, unreachable: Mapping[str, str]) -> DeployPlan:
        """This plan without the servers in ``unreachable`` (name -> why), listed as skipped."""
        kept = tuple(s for s in self.servers if s.name not in unreachable)
        skipped = tuple(
            SkippedServer(s.name, unreachable[s.name])
            for s in self.servers
            if s.name in unreachable
        )
        return replace(self, servers=kept, skipped=self.skipped + skipped)

    @property
    def workers(self) -> int:
        """At most how many servers deploy at once."""
        if self.rollout.uses_load_balancer:
            return max(self.batches or (1,))
        count = len(self.servers)
        return min(self.max_parallel, count) if self.max_parallel else count


def plan(
    request: DeployRequest,
    app: App,
    settings: Mapping[str, Any],
    applied_waits: Mapping[str, AppliedWait] | None = None,
    origins: Mapping[str, SettingChange] | None = None,
) -> DeployPlan:
    """Decide strategy, order, migrations and waits for ``request``; pure.

    ``origins``: the change that set each stored setting, which the reason names."""
    request = with_profile(request, app.deploy.profiles)
    values = effective_settings(settings)
    parallel = bool(values["deploy.parallel"])
    setting = origin_text(
        "deploy.parallel",
        parallel,
        stored="deploy.parallel" in settings,
        change=(origins or {}).get("deploy.parallel"),
        zone=app.zone,
    )
    strategy, reason = _choose_strategy(request, app, parallel, setting)
    if request.profile is not None:
        reason = f"profile {request.profile}: {reason}"
    rollout = rollout_for(strategy)
    servers = _select_servers(request, app)
    applied = applied_waits or {}
    lb_config = app.load_balancer.configuration
    waits = (
        effective_wait(
            "wait_after_removing_servers",
            lb_config.wait_after_removing_servers,
            applied.get("wait_after_removing_servers"),
        ),
        effective_wait(
            "wait_after_adding_servers",
            lb_config.wait_after_adding_servers,
            applied.get("wait_after_adding_servers"),
        ),
    )
    warnings: list[str] = []
    migrations_on = None if request.rollback_to is not None else app.migrations_server
    if migrations_on is not None and "migrations" in request.skip:
        how = f"profile {request.profile}" if request.profile else "--skip migrations"
        warnings.append(f"migrations are skipped: {how} leaves them out of this deploy")
        migrations_on = None
    if migrations_on is not None and migrations_on not in {s.name for s in servers}:
        warnings.append(
            f"migrations are skipped: their server {migrations_on} is not among the servers "
            "selected with --servers"
        )
        migrations_on = None
    if not rollout.uses_load_balancer and migrations_on is not None:
        warnings.append(
            "this parallel deploy runs database migrations: they can make the other servers' "
            "deploys fail, so it is advisable to deploy in serial (--serial)"
        )
    use_lb = rollout.uses_load_balancer and app.load_balancer.type != "none"
    server_plans = tuple(
        ServerPlan(
            server,
            index,
            _steps(app, server, use_lb, migrations_on, waits, request.rollback_to is not None),
        )
        for index, server in enumerate(servers)
    )
    batches = rollout.batch_sizes(request, app, len(servers))
    _check_floor(app, request, batches, len(app.servers), use_lb)
    if migrations_on is not None and rollout.uses_load_balancer and max(batches) > 1:
        warnings.append("migrations run once, on their server, while the rest of its batch deploys")
    return DeployPlan(
        app_name=request.app,
        app=app,
        request=request,
        strategy=strategy,
        reason=reason,
        ref=request.ref or app.deploy.default_ref,
        servers=server_plans,
        waits=waits,
        max_parallel=int(values["deploy.max_parallel"]),
        migrations_server=migrations_on,
        warnings=tuple(warnings),
        batches=batches,
    )


def _choose_strategy(
    request: DeployRequest, app: App, parallel_setting: bool, setting: str
) -> tuple[StrategyName, str]:
    if request.canary is not None:
        return "canary", f"one-off --canary {request.canary} ({setting})"
    if request.batch is not None:
        return "batch", f"one-off --batch {request.batch} ({setting})"
    if request.strategy is not None:
        return request.strategy, f"one-off override --{request.strategy} ({setting})"
    if parallel_setting:
        return "parallel", setting
    if app.deploy.canary is not None:
        return "canary", f"deploy.canary in the manifest ({setting})"
    if app.deploy.batch_size is not None:
        sizes = ", ".join(str(a) for a in app.deploy.batch_size)
        return "batch", f"deploy.batch_size is {sizes} ({setting})"
    return "serial", setting


def _check_floor(
    app: App, request: DeployRequest, batches: tuple[int, ...], fleet: int, use_lb: bool
) -> None:
    """Refuse a plan that would take more servers out at once than min_healthy allows."""
    floor = app.deploy.min_healthy
    if floor is None or not use_lb or not batches:
        return
    needed = floor.ceil_of(fleet)
    widest = max(batches)
    if fleet - widest < needed:
        how = f"--batch {request.batch}" if request.batch else f"batches of up to {widest}"
        raise RequestError(
            f"{how} would take {widest} of {fleet} servers out at once, leaving "
            f"{fleet - widest} serving, below deploy.min_healthy {floor} (= {needed}); "
            "use smaller batches"
        )


def _select_servers(request: DeployRequest, app: App) -> tuple[Server, ...]:
    if request.servers is None:
        return app.servers
    known = {server.name for server in app.servers}
    unknown = [name for name in request.servers if name not in known]
    if unknown:
        raise RequestError(
            f"unknown server {unknown[0]!r} for {request.app} (servers: {', '.join(sorted(known))})"
        )
    wanted = set(request.servers)
    # Manifest order, not the order typed: the migrations server stays where the manifest put it.
    return tuple(server for server in app.servers if server.name in wanted)


def _steps(
    app: App,
    server: Server,
    use_lb: bool,
    migrations_on: str | None,
    waits: tuple[EffectiveWait, EffectiveWait],
    rollback: bool = False,
) -> tuple[Step, ...]:
    steps: list[Step] = []
    if use_lb:
        # Connect first: a server that cannot be reached when its turn comes must
        # fail while it is still in the load balancer, not after it was taken out.
        steps.append(Step("connect", "connect"))
        steps.append(Step("lb_remove", "remove from load balancer"))
        steps.append(Step("wait_removed", "wait after removing", seconds=waits[0].seconds))
    commands = app.deploy.commands
    if rollback and app.deploy.rollback_commands:
        commands = app.deploy.rollback_commands
    steps.extend(
        Step("command", command, command=command, timeout=app.deploy.timeout)
        for command in commands
    )
    if app.migrations is not None and server.name == migrations_on:
        steps.append(
            Step(
                "migrations",
                f"migrations: {app.migrations.command}",
                command=app.migrations.command,
                timeout=app.migrations.timeout,
            )
        )
    check = app.deploy.health_check
    if check is not None:
        target = server.health_url or check.url
        what = target.format(host=server.address, name=server.name) if target else check.command
        steps.append(Step("health", f"health check {what}", command=what, timeout=check.timeout))
    if use_lb:
        steps.append(Step("lb_add", "add to load balancer"))
        steps.append(Step("wait_added", "wait after adding", seconds=waits[1].seconds))
    return tuple(steps)
