"""Load balancer lag: the wait is max(fixed floor, time until the LB says so), capped.

moto drains and registers instantly, so a thin wrapper around the real
ElbV2LoadBalancer (still talking to moto) says ``draining`` for the first N
polls after each change, as a real ALB does during its deregistration delay
and first health checks.
"""

from __future__ import annotations

import re
from pathlib import Path

from adapters.aws_lb import ElbV2LoadBalancer
from bot.wiring import Services
from strategies.manifest import Server
from strategies.ports import LbReport
from tests.infra.moto import AwsFleet, MotoServer
from tests.test_aws_lb import aws_app, build, chat

WAITED = re.compile(
    r"(?P<server>web\d): after (?P<when>removing|adding), waited (?P<waited>[\d.]+)s "
    r"\(fixed floor (?P<floor>[\d.]+)s; load balancer reported (?P<state>\w+) "
    r"after (?P<after>[\d.]+)s\)"
)


class LaggingLoadBalancer:
    """The real adapter, except that the first ``polls`` reports after a change say draining."""

    def __init__(self, inner: ElbV2LoadBalancer, polls: int) -> None:
        self.inner = inner
        self.polls = polls
        self._lagging = 0
        self.reports: list[tuple[str, LbReport | None]] = []

    def remove(self, server: Server) -> None:
        self.inner.remove(server)
        self._lagging = self.polls

    def add(self, server: Server) -> None:
        self.inner.add(server)
        self._lagging = self.polls

    def report(self, server: Server) -> LbReport | None:
        answer: LbReport | None
        if self._lagging > 0:
            self._lagging -= 1
            answer = "draining"
        else:
            answer = self.inner.report(server)
        self.reports.append((server.name, answer))
        return answer

    def check(self, server: Server) -> LbReport | None:
        return self.inner.check(server)


def lagging(
    workdir: Path,
    fleet: AwsFleet,
    *,
    polls: int,
    servers: int,
    poll_interval: float,
    floor: float = 0,
    settle_timeout: float = 10,
) -> tuple[Services, LaggingLoadBalancer]:
    app = aws_app(fleet, {"type": "aws_elbv2", "target_group_arn": fleet.target_group_arn})
    app["servers"] = app["servers"][:servers]
    app["load_balancer"]["configuration"] = {
        "wait_after_removing_servers": floor,
        "wait_after_adding_servers": 0,
        "poll_interval": poll_interval,
        "settle_timeout": settle_timeout,
    }
    services = build(workdir, app)
    real = services.load_balancer("shop")
    assert isinstance(real, ElbV2LoadBalancer)
    wrapper = LaggingLoadBalancer(real, polls)
    services._load_balancers["shop"] = wrapper
    return services, wrapper


def waits(lines: list[str]) -> list[dict[str, str]]:
    return [m.groupdict() for line in lines if (m := WAITED.search(line))]


def test_the_deploy_waits_while_the_load_balancer_reports_draining(
    workdir: Path, aws_fleet: AwsFleet
) -> None:
    services, lb = lagging(workdir, aws_fleet, polls=3, servers=2, poll_interval=0.1)

    code, lines = chat(services, "/deploy shop --serial")

    assert code == 0, "\n".join(lines)
    seen = waits(lines)
    assert [(w["server"], w["when"], w["state"]) for w in seen] == [
        ("web1", "removing", "drained"),
        ("web1", "adding", "serving"),
        ("web2", "removing", "drained"),
        ("web2", "adding", "serving"),
    ]
    # Three draining answers, 0.1 s apart, before moto's real answer was heard.
    assert all(float(w["after"]) >= 0.3 and w["floor"] == "0" for w in seen)
    assert [answer for _, answer in lb.reports] == (
        ["draining"] * 3 + ["drained"] + ["draining"] * 3 + ["serving"]
    ) * 2


def test_a_fixed_floor_longer_than_the_lag_wins(workdir: Path, aws_fleet: AwsFleet) -> None:
    services, _ = lagging(workdir, aws_fleet, polls=3, servers=1, poll_interval=0.02, floor=1)

    code, lines = chat(services, "/deploy shop --serial")

    assert code == 0, "\n".join(lines)
    removing = next(w for w in waits(lines) if w["when"] == "removing")
    assert removing["floor"] == "1"
    assert float(removing["waited"]) >= 1.0
    assert float(removing["after"]) < float(removing["waited"])  # the LB was done first


def test_lag_beyond_the_timeout_stops_the_deploy_and_puts_the_unchanged_server_back(
    workdir: Path, aws_fleet: AwsFleet, moto: MotoServer
) -> None:
    services, lb = lagging(
        workdir, aws_fleet, polls=10_000, servers=3, poll_interval=0.05, settle_timeout=0.3
    )

    code, lines = chat(services, "/deploy shop --serial")
    _, history = chat(services, "/deploy history shop")

    assert code == 1
    assert any(
        "web1: FAILED wait after removing: load balancer still reports draining after 0.3s "
        "(want drained)" in line
        for line in lines
    ), "\n".join(lines)
    # No command had run on web1, so it went back; the lag outlasts that wait too.
    assert not any("left out of the load balancer" in line for line in lines)
    shown = [line.strip() for line in history]
    assert shown[1:] == [
        "web1: FAILED (wait removed: load balancer still reports draining after 0.3s "
        "(want drained); put back into the load balancer (no command had run), but load "
        "balancer still reports draining after 0.3s (want serving)), in the load balancer",
        "web2: untouched (web1 failed)",
        "web3: untouched (web1 failed)",
    ]
    assert {server for server, _ in lb.reports} == {"web1"}
    health = moto.client("elbv2").describe_target_health(
        TargetGroupArn=aws_fleet.target_group_arn,
        Targets=[{"Id": i} for i in aws_fleet.instance_ids],
    )
    assert [d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]] == [
        "healthy",
        "healthy",
        "healthy",
    ]
