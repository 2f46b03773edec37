"""The manifest: which apps exist, where their servers are and how to deploy them.

Validated with pydantic; every error is reported as one line naming the dotted
path of the bad key (``apps.shop.servers[1].port: expected an integer``).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from strategies.amounts import Amount
from strategies.calendar import CalendarError, Freeze, Window, day_start
from strategies.durations import parse_duration
from strategies.manifest_errors import PathError, explain
from strategies.profiles import MAX_PROFILES, DeployProfile

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]{0,63}$"
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_DEPTH = 32  # nesting of mappings and lists; a real manifest needs 6
MAX_SERVERS = 10_000
DAY, WEEK = 86400.0, 7 * 86400.0
# Names a manifest may never pass to deploy commands: the bot's own credentials
# (Slack, AWS, its ssh-agent) and the names shipbot sets itself.
BOT_CREDENTIALS = ("SLACK_", "AWS_", "SHIPBOT_")
BOT_CREDENTIAL_NAMES = ("SSH_AUTH_SOCK", "GOOGLE_APPLICATION_CREDENTIALS")

Seconds = Annotated[float, Field(gt=0, le=WEEK)]  # a timeout
Wait = Annotated[float, Field(ge=0, le=DAY)]  # a fixed wait
EnvName = Annotated[str, Field(pattern=ENV_NAME_PATTERN)]
CONNECTION_TYPES = ("local", "ssh")
LOAD_BALANCER_TYPES = ("none", "memory", "haproxy", "aws_elbv2", "aws_elb")


class ManifestError(ValueError):
    """A manifest that cannot be used; ``str()`` is one line per problem."""


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=False,
        arbitrary_types_allowed=True,
        allow_inf_nan=False,
        defer_build=True,
    )


class SlackBinding(_Model):
    channel: str


class Approval(_Model):
    required: bool = False
    approvers: tuple[str, ...] = ()
    timeout: float = 1800.0

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class Connection(_Model):
    type: Literal["local", "ssh"] = "local"
    root: str = ".shipbot/fleet"  # local: each server gets ROOT/APP/SERVER as working directory
    user: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None  # ssh: default ~/.ssh/known_hosts; keys are always checked
    accept_unknown_host_keys: bool = False  # ssh: trust a host not in known_hosts (never default)
    ssh_config: str | None = None  # ssh: default ~/.ssh/config when it exists
    use_agent: bool = True  # ssh: also try keys from $SSH_AUTH_SOCK
    connect_timeout: Annotated[float, Field(gt=0, le=3600)] = 10.0  # each of connect, login...
    keepalive: Annotated[float, Field(ge=0, le=3600)] = 15.0  # ssh: seconds between, 0 = none


class Server(_Model):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    user: str | None = None
    lb_name: str | None = None  # the server's name in the load balancer, default its name
    instance_id: str | None = None  # aws: EC2 instance id target; default the host as an IP target
    health_url: str | None = None  # this server's health check URL (overrides the template)

    @field_validator("health_url")
    @classmethod
    def _health_url(cls, value: str | None) -> str | None:
        problem = template_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @property
    def address(self) -> str:
        return self.host or self.name


ServerAmount = Annotated[Amount, BeforeValidator(Amount.parse)]


def _duration_field(value: Any) -> float:
    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration_field)]


class FreezeSpec(_Model):
    """A dated freeze: ``{from: 2026-12-24, until: 2026-12-28, reason: holidays}``.

    A date means midnight at the start of that day, in the app's timezone, so
    ``until: 2026-12-28`` lets deploys run again on the 28th."""

    start: date | datetime = Field(alias="from")
    until: date | datetime
    reason: Annotated[str, Field(min_length=1, max_length=200)]

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ordered(self) -> FreezeSpec:
        if _as_naive(self.until) <= _as_naive(self.start):
            raise PathError(("until",), "must be after from")
        return self

    def freeze(self, zone: tzinfo) -> Freeze:
        return Freeze(_moment(self.start, zone), _moment(self.until, zone), self.reason)


def _as_naive(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime.combine(value, datetime.min.time())


def _moment(value: date | datetime, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    return day_start(value, zone)


def _ramp(value: Any) -> tuple[Amount, ...]:
    """``2``, ``"25%"`` or a ramp ``[1, "10%", "50%"]`` (the last entry repeats)."""
    items = value if isinstance(value, list | tuple) else [value]
    if not items or len(items) > 20:
        raise ValueError("give a size, or a list of 1 to 20 sizes")
    ramp = tuple(Amount.parse(item) for item in items)
    if any(a.count == 0 or a.percent == 0 for a in ramp):
        raise ValueError("a batch holds at least one server")
    return ramp


Ramp = Annotated[tuple[Amount, ...], BeforeValidator(_ramp)]


class HealthCheck(_Model):
    """When a server counts as healthy after its deploy: an HTTP check or a command."""

    url: str | None = None  # a template: {host}, {name}; servers[].health_url overrides it
    command: str | None = None  # run on the server; exit 0 = healthy
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200
    expect_body: str | None = None  # a substring the answer must contain
    interval: Annotated[Duration, Field(gt=0, le=60)] = 1.0
    timeout: Annotated[Duration, Field(gt=0, le=DAY)] = 60.0
    successes: Annotated[int, Field(ge=1, le=100)] = 1  # consecutive passes needed
    request_timeout: Annotated[float, Field(gt=0, le=60)] = 5.0  # each HTTP request

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        if (self.url is None) == (self.command is None):
            raise PathError(("url",), "give exactly one of url or command")
        if self.url is not None:
            problem = template_problem(self.url)
            if problem:
                raise PathError(("url",), problem)
        return self


def template_problem(url: str) -> str | None:
    """Why ``url`` is not a health check URL template, or None."""
    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    try:
        url.format(host="h", name="n")
    except (KeyError, IndexError, ValueError):
        return "the only placeholders are {host} and {name} (write {{ }} for a brace)"
    return None


class CanarySpec(_Model):
    servers: ServerAmount = Amount(count=1)
    bake: Duration = 0.0  # the least time before Promote is accepted
    timeout: Duration = 3600.0  # not promoted by then: aborted


class Deploy(_Model):
    commands: Annotated[tuple[str, ...], Field(min_length=1)]
    timeout: Seconds = 600.0
    default_ref: str = "main"
    on_failure: Literal["stop", "continue"] = "stop"
    max_failures: ServerAmount | None = None  # with on_failure: continue; None = no limit
    env: dict[EnvName, str] = Field(default_factory=dict)  # fixed values for the commands
    pass_env: tuple[EnvName, ...] = ()  # names passed on from the bot's own environment
    windows: tuple[str, ...] = ()  # weekly windows deploys may run in; none = always
    freezes: tuple[FreezeSpec, ...] = ()  # dated periods nothing may deploy in
    queue_timeout: Duration = 3600.0  # how long a --queue deploy waits for its turn
    health_check: HealthCheck | None = None
    batch_size: Ramp | None = None  # rolling batches by default; None: serial (batches of 1)
    min_healthy: ServerAmount | None = None  # servers that must stay serving, rounded up
    canary: CanarySpec | None = None  # every deploy starts with a canary that waits
    rollback_commands: Annotated[tuple[str, ...], Field(min_length=1)] | None = None
    auto_rollback: bool = False  # a failed rollout rolls back the servers it changed
    profiles: Annotated[
        dict[Annotated[str, Field(pattern=NAME_PATTERN)], DeployProfile],
        Field(max_length=MAX_PROFILES),
    ] = Field(default_factory=dict)  # saved options: /deploy APP --profile NAME

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, text in enumerate(value):
            try:
                Window.parse(text)
            except CalendarError as exc:
                raise PathError((index,), str(exc)) from None
        return value

    @property
    def weekly_windows(self) -> tuple[Window, ...]:
        return tuple(Window.parse(text) for text in self.windows)

    @field_validator("env", "pass_env")
    @classmethod
    def _not_the_bots(cls, value: Any) -> Any:
        for index, name in enumerate(value):
            if name.startswith(BOT_CREDENTIALS) or name in BOT_CREDENTIAL_NAMES:
                where = (index,) if isinstance(value, tuple) else (name,)
                kind = (
                    "reserved for shipbot"
                    if name.startswith("SHIPBOT_")
                    else ("the bot's own credential")
                )
                raise PathError(where, f"{name} is {kind} and is never passed to commands")
        return value

    @model_validator(mode="after")
    def _policy(self) -> Deploy:
        if self.max_failures is not None and self.on_failure != "continue":
            raise PathError(
                ("max_failures",),
                "only applies with on_failure: continue (stop already ends at the first failure)",
            )
        return self


class Migrations(_Model):
    command: str
    server: str | None = None
    timeout: Seconds = 600.0


class LoadBalancerWaits(_Model):
    wait_after_removing_servers: Wait | None = None
    wait_after_adding_servers: Wait | None = None
    settle_timeout: Seconds = 300.0
    poll_interval: Annotated[float, Field(gt=0, le=60)] | None = None  # how often to ask


class LoadBalancer(_Model):
    type: Literal["none", "memory", "haproxy", "aws_elbv2", "aws_elb"] = "none"
    configuration: LoadBalancerWaits = LoadBalancerWaits()
    lag: Wait = 0.0  # memory: simulated seconds of lag
    socket: str | None = None  # haproxy runtime API: a unix socket path or HOST:PORT
    backend: str | None = None
    target_group_arn: str | None = None  # aws_elbv2
    name: str | None = None  # aws_elb
    region: str | None = None  # aws: default from the AWS environment
    profile: str | None = None
    endpoint_url: str | None = None
    timeout: Annotated[float, Field(gt=0, le=600)] = 10.0  # each call to its API


class App(_Model):
    slack: SlackBinding | None = None
    timezone: str = "UTC"  # of deploy windows, freezes and --at times
    deployers: tuple[str, ...] = ()  # nobody unless listed; "*" must be written
    freeze_overriders: tuple[str, ...] | None = None  # may --override; None: the approvers
    settings_editors: tuple[str, ...] | None = None  # who may change settings; None: deployers
    approval: Approval = Approval()
    connection: Connection = Connection()
    servers: Annotated[tuple[Server, ...], Field(min_length=1, max_length=MAX_SERVERS)]
    deploy: Deploy
    migrations: Migrations | None = None
    load_balancer: LoadBalancer = LoadBalancer()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a timezone name (like UTC or Europe/Paris)"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @model_validator(mode="after")
    def _consistent(self) -> App:
        names = [s.name for s in self.servers]
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                raise PathError(("servers", index, "name"), f"duplicate server name '{name}'")
            seen.add(name)
        for profile_name, profile in self.deploy.profiles.items():
            for index, server in enumerate(profile.servers or ()):
                if server not in seen:
                    raise PathError(
                        ("deploy", "profiles", profile_name, "servers", index),
                        f"'{server}' is not in the server list ({', '.join(names)})",
                    )
        if self.migrations and self.migrations.server and self.migrations.server not in seen:
            raise PathError(
                ("migrations", "server"),
                f"'{self.migrations.server}' is not in the server list ({', '.join(names)})",
            )
        return self

    @property
    def migrations_server(self) -> str | None:
        if self.migrations is None:
            return None
        return self.migrations.server or self.servers[0].name

    def server(self, name: str) -> Server:
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(name)


class Manifest(_Model):
    apps: dict[Annotated[str, Field(pattern=NAME_PATTERN)], App] = Field(min_length=1)

    def app(self, name: str) -> App:
        try:
            return self.apps[name]
        except KeyError:
            raise ManifestError(
                f"unknown app '{name}' (apps: {', '.join(sorted(self.apps))})"
            ) from None

    def app_for_channel(self, channel: str | None) -> str | None:
        """The app bound to ``channel``, else the only app, else None."""
        if channel:
            for name, app in self.apps.items():
                if app.slack and app.slack.channel == channel:
                    return name
        if len(self.apps) == 1:
            return next(iter(self.apps))
        return None


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest file; raise ManifestError with one line per problem."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest ({exc.strerror})") from None
    return parse_manifest(text, source=str(path))


MAX_NODES = 200_000  # values after expanding aliases; a real manifest has hundreds


class _ManifestLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with nesting bounded (its composer recurses)."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _expanded_size(node: yaml.Node, seen: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias is expanded."""
    known = seen.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, seen) + _expanded_size(v, seen) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, seen) for item in node.value)
    seen[id(node)] = size = min(size, MAX_NODES + 1)
    return size


def _load_yaml(text: str, source: str) -> Any:
    if len(text) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{source}: larger than {MAX_MANIFEST_BYTES // 1024} KiB")
    loader = _ManifestLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_NODES:
            raise ManifestError(
                f"{source}: its aliases expand to more than {MAX_NODES:,} values "
                "(a YAML bomb?); write the values out"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def parse_manifest(text: str, *, source: str = "manifest") -> Manifest:
    try:
        data = _load_yaml(text, source)
    except RecursionError:
        raise ManifestError(f"{source}: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ManifestError(f"{source}:{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: expected a mapping with an 'apps' key")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {line}" for line in explain(exc)]
        raise ManifestError("\n".join(lines)) from None
