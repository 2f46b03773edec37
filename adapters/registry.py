"""Adapters by the manifest's ``type``: plain registries that fail loudly."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from adapters.local import LocalExecutor
from adapters.memory_lb import MemoryLoadBalancer
from adapters.secrets import command_environment
from strategies.manifest import App, Server
from strategies.ports import Executor, LbReport, LoadBalancer
from strategies.store import HostKeyStore as HostKeyPins

T = TypeVar("T")


class AdapterError(ValueError):
    """The manifest asks for an adapter this build does not have."""


class NoLoadBalancer:
    """``type: none``: nothing to take servers out of."""

    def remove(self, server: Server) -> None:
        raise AdapterError("there is no load balancer to remove servers from")

    def add(self, server: Server) -> None:
        raise AdapterError("there is no load balancer to add servers to")

    def report(self, server: Server) -> LbReport | None:
        return None

    def check(self, server: Server) -> LbReport | None:
        return None


def _local(app_name: str, app: App, pins: HostKeyPins | None) -> Executor:
    return LocalExecutor(app.connection.root, app_name, env=command_environment(app))


def _memory(app_name: str, app: App) -> LoadBalancer:
    return MemoryLoadBalancer((s.lb_name or s.name for s in app.servers), lag=app.load_balancer.lag)


def _none(app_name: str, app: App) -> LoadBalancer:
    return NoLoadBalancer()


# The adapters below import paramiko or boto3; import them only when a manifest asks.
def _ssh(app_name: str, app: App, pins: HostKeyPins | None) -> Executor:
    from adapters.ssh import SshExecutor

    return SshExecutor.from_app(app_name, app, pins)


def _haproxy(app_name: str, app: App) -> LoadBalancer:
    from adapters.haproxy import HAProxyLoadBalancer

    return HAProxyLoadBalancer.from_app(app_name, app)


def _elbv2(app_name: str, app: App) -> LoadBalancer:
    from adapters.aws_lb import ElbV2LoadBalancer

    return ElbV2LoadBalancer.from_app(app_name, app)


def _elb(app_name: str, app: App) -> LoadBalancer:
    from adapters.aws_lb import ElbLoadBalancer

    return ElbLoadBalancer.from_app(app_name, app)


EXECUTORS: dict[str, Callable[[str, App, HostKeyPins | None], Executor]] = {
    "local": _local,
    "ssh": _ssh,
}
LOAD_BALANCERS: dict[str, Callable[[str, App], LoadBalancer]] = {
    "none": _none,
    "memory": _memory,
    "haproxy": _haproxy,
    "aws_elbv2": _elbv2,
    "aws_elb": _elb,
}


def _lookup(registry: dict[str, T], kind: str, path: str) -> T:
    try:
        return registry[kind]
    except KeyError:
        raise AdapterError(
            f"{path}: {kind!r} is not available in this build "
            f"(available: {', '.join(sorted(registry))})"
        ) from None


def build_executor(app_name: str, app: App, *, pins: HostKeyPins | None = None) -> Executor:
    """The app's executor; ``pins`` keeps SSH host keys accepted on first use."""
    kind = app.connection.type
    return _lookup(EXECUTORS, kind, f"apps.{app_name}.connection.type")(app_name, app, pins)


def build_load_balancer(app_name: str, app: App) -> LoadBalancer:
    kind = app.load_balancer.type
    return _lookup(LOAD_BALANCERS, kind, f"apps.{app_name}.load_balancer.type")(app_name, app)
