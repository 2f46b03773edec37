"""ElbV2LoadBalancer and ElbLoadBalancer against a real moto server over HTTP.

Deploys go through the real command handler and core with a local fleet whose
deploy command (tests/aws_probe.py) asks moto for every target's state, so the
tests see what the load balancer said while each server was being deployed.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.awsrequest import AWSResponse

from adapters.aws_lb import ElbLoadBalancer, ElbV2LoadBalancer
from adapters.sqlite_store import SqliteStore
from bot.console import ConsoleFrontEnd
from bot.handler import Caller, CommandHandler
from bot.wiring import Services
from strategies.manifest import parse_manifest
from strategies.ports import LoadBalancerError
from tests.conftest import Run, WriteManifest
from tests.infra.moto import AwsFleet, MotoServer, free_port

PROBE = Path(__file__).with_name("aws_probe.py")
Config = dict[str, Any]


def aws_app(fleet: AwsFleet, lb: Config, probe: list[str] | None = None) -> Config:
    """App ``shop``: web1..web3 are the fleet's instances; the deploy runs ``probe``."""
    command = shlex.join([sys.executable, str(PROBE), fleet.url, *probe]) if probe else "true"
    return {
        "deployers": ["*"],
        "connection": {"type": "local", "root": "fleet"},
        "servers": [{"name": n, "instance_id": i} for n, i in fleet.server_ids().items()],
        "deploy": {"commands": [command], "timeout": 60},
        "load_balancer": {
            "endpoint_url": fleet.url,
            "configuration": {
                "wait_after_removing_servers": 0,
                "wait_after_adding_servers": 0,
                "poll_interval": 0.02,
                "settle_timeout": 10,
            },
            **lb,
        },
    }


def build(workdir: Path, app: Config) -> Services:
    return Services(
        manifest=parse_manifest(yaml.safe_dump({"apps": {"shop": app}})),
        store=SqliteStore(workdir / "shipbot.db"),
        poll_interval=0.01,
    )


def chat(services: Services, text: str) -> tuple[int, list[str]]:
    """Type ``text`` in the console chat; the exit code and every line shown."""
    lines: list[str] = []
    code = CommandHandler(services).handle_text(
        text, Caller("U0TEST"), ConsoleFrontEnd(lines.append)
    )
    return code, lines


def named(fleet: AwsFleet, text: str) -> str:
    for name, instance in fleet.server_ids().items():
        text = text.replace(instance, name)
    return text


def record_changes(client: Any) -> list[tuple[str, str]]:
    """(operation, target) for every register/deregister call the client makes."""
    calls: list[tuple[str, str]] = []

    def note(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if "register" in model.name.lower():
            for target in params.get("Targets") or params.get("Instances") or []:
                calls.append((model.name, target.get("Id") or target["InstanceId"]))

    client.meta.events.register("provide-client-params", note)
    return calls


def test_elbv2_serial_deploy_takes_each_target_out_and_back_in_order(
    workdir: Path, aws_fleet: AwsFleet, moto: MotoServer
) -> None:
    log = workdir / "probe.log"
    arn = aws_fleet.target_group_arn
    services = build(
        workdir,
        aws_app(
            aws_fleet,
            {"type": "aws_elbv2", "target_group_arn": arn},
            ["elbv2", arn, str(log), *aws_fleet.instance_ids],
        ),
    )
    lb = services.load_balancer("shop")
    assert isinstance(lb, ElbV2LoadBalancer)
    changes = record_changes(lb.client)

    code, lines = chat(services, "/deploy shop --serial")

    assert code == 0, "\n".join(lines)
    assert named(aws_fleet, log.read_text()).splitlines() == [
        "web1: web1=unused web2=healthy web3=healthy",
        "web2: web1=healthy web2=unused web3=healthy",
        "web3: web1=healthy web2=healthy web3=unused",
    ]
    assert [(op, named(aws_fleet, target)) for op, target in changes] == [
        (op, server)
        for server in ("web1", "web2", "web3")
        for op in ("DeregisterTargets", "RegisterTargets")
    ]
    health = moto.client("elbv2").describe_target_health(TargetGroupArn=arn)
    assert (
        sorted(d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"])
        == ["healthy"] * 3
    )
    text = "\n".join(lines)
    assert "web2: after removing, waited" in text
    assert "load balancer reported drained after" in text
    assert "load balancer reported serving after" in text


def test_classic_elb_serial_deploy_takes_each_instance_out_and_back_in_order(
    workdir: Path, aws_fleet: AwsFleet, moto: MotoServer
) -> None:
    log = workdir / "probe.log"
    name = aws_fleet.elb_name
    services = build(
        workdir,
        aws_app(
            aws_fleet,
            {"type": "aws_elb", "name": name},
            ["elb", name, str(log), *aws_fleet.instance_ids],
        ),
    )
    lb = services.load_balancer("shop")
    assert isinstance(lb, ElbLoadBalancer)
    changes = record_changes(lb.client)

    code, lines = chat(services, "/deploy shop --serial")

    assert code == 0, "\n".join(lines)
    assert named(aws_fleet, log.read_text()).splitlines() == [
        "web1: web1=Unknown/out web2=InService web3=InService",
        "web2: web1=InService web2=Unknown/out web3=InService",
        "web3: web1=InService web2=InService web3=Unknown/out",
    ]
    assert [(op, named(aws_fleet, target)) for op, target in changes] == [
        (op, server)
        for server in ("web1", "web2", "web3")
        for op in ("DeregisterInstancesFromLoadBalancer", "RegisterInstancesWithLoadBalancer")
    ]
    described = moto.client("elb").describe_load_balancers(LoadBalancerNames=[name])
    registered = [i["InstanceId"] for i in described["LoadBalancerDescriptions"][0]["Instances"]]
    assert sorted(registered) == sorted(aws_fleet.instance_ids)


def test_the_cli_takes_the_endpoint_and_region_from_the_usual_aws_environment(
    aws_fleet: AwsFleet,
    moto: MotoServer,
    write_manifest: WriteManifest,
    shipbot: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    arn = aws_fleet.target_group_arn
    app = aws_app(aws_fleet, {"type": "aws_elbv2", "target_group_arn": arn})
    del app["load_balancer"]["endpoint_url"]  # the moto fixture sets AWS_DEFAULT_REGION
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_fleet.url)
    write_manifest(apps={"shop": app})

    done = shipbot("deploy", "shop", "--serial")

    assert done.returncode == 0, done.stdout + done.stderr
    for server in ("web1", "web2", "web3"):
        assert re.search(
            rf"{server}: after removing, waited [\d.]+s \(fixed floor 0s; "
            r"load balancer reported drained after [\d.]+s\)",
            done.stdout,
        ), done.stdout
    health = moto.client("elbv2").describe_target_health(TargetGroupArn=arn)
    assert [d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]] == [
        "healthy"
    ] * 3


MISSING = [
    pytest.param(
        lambda fleet: {
            "type": "aws_elbv2",
            "target_group_arn": fleet.target_group_arn.replace("/shop/", "/gone/"),
        },
        "TargetGroupNotFound",
        id="elbv2-target-group",
    ),
    pytest.param(
        lambda fleet: {"type": "aws_elb", "name": "gone"}, "LoadBalancerNotFound", id="classic-elb"
    ),
]


@pytest.mark.parametrize(("lb", "code"), MISSING)
def test_a_missing_load_balancer_refuses_the_deploy_at_pre_flight_and_moves_nothing(
    workdir: Path, aws_fleet: AwsFleet, moto: MotoServer, lb: Any, code: str
) -> None:
    services = build(workdir, aws_app(aws_fleet, lb(aws_fleet)))

    exit_code, lines = chat(services, "/deploy shop --serial")
    _, history = chat(services, "/deploy history shop")

    assert exit_code == 1
    problems = [line for line in lines if ": problem: load balancer: " in line]
    assert len(problems) == 3 and all(f"load balancer: {code}: " in p for p in problems)
    assert any("refused at pre-flight" in line and "nothing was changed" in line for line in lines)
    shown = "\n".join(history)
    assert ": refused" in shown
    for server in ("web1", "web2", "web3"):
        assert f"{server}: untouched (pre-flight: load balancer: {code}: " in shown
    assert not (workdir / "fleet").exists()  # no command ran anywhere
    health = moto.client("elbv2").describe_target_health(TargetGroupArn=aws_fleet.target_group_arn)
    assert [d["TargetHealth"]["State"] for d in health["TargetHealthDescriptions"]] == [
        "healthy"
    ] * 3
    described = moto.client("elb").describe_load_balancers(LoadBalancerNames=[aws_fleet.elb_name])
    assert len(described["LoadBalancerDescriptions"][0]["Instances"]) == 3


def test_a_server_left_out_by_a_failed_deploy_is_redeployed_and_put_back(
    workdir: Path, aws_fleet: AwsFleet, moto: MotoServer
) -> None:
    web2 = aws_fleet.instance_ids[1]
    elbv2, elb = moto.client("elbv2"), moto.client("elb")
    arn, name = aws_fleet.target_group_arn, aws_fleet.elb_name
    # What a failed serial deploy leaves behind: web2 out of both load balancers.
    elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": web2}])
    elb.deregister_instances_from_load_balancer(
        LoadBalancerName=name, Instances=[{"InstanceId": web2}]
    )

    for lb in ({"type": "aws_elbv2", "target_group_arn": arn}, {"type": "aws_elb", "name": name}):
        code, lines = chat(build(workdir, aws_app(aws_fleet, lb)), "/deploy shop --servers web2")
        assert code == 0, "\n".join(lines)

    health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    assert sorted(d["TargetHealth"]["State"] for d in health) == ["healthy"] * 3
    described = elb.describe_load_balancers(LoadBalancerNames=[name])
    assert web2 in {i["InstanceId"] for i in described["LoadBalancerDescriptions"][0]["Instances"]}


def test_servers_without_instance_id_are_ip_targets_on_the_target_groups_port(
    workdir: Path, aws_fleet: AwsFleet, moto: MotoServer
) -> None:
    elbv2 = moto.client("elbv2")
    group = elbv2.create_target_group(
        Name="shop-ip", Protocol="HTTP", Port=9000, VpcId=aws_fleet.vpc_id, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": "10.0.1.11"}])
    app = aws_app(aws_fleet, {"type": "aws_elbv2", "target_group_arn": group})
    app["servers"] = [{"name": "web1", "host": "10.0.1.11", "port": 2222}]
    services = build(workdir, app)

    code, lines = chat(services, "/deploy shop --serial")

    assert code == 0, "\n".join(lines)
    (target,) = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert target["Target"] == {"Id": "10.0.1.11", "Port": 9000}  # not the SSH port 2222
    assert target["TargetHealth"]["State"] == "healthy"


BAD_MANIFESTS = [
    pytest.param(
        {"type": "aws_elbv2"},
        None,
        "apps.shop.load_balancer.target_group_arn: required for type aws_elbv2",
        id="no-target-group",
    ),
    pytest.param(
        {"type": "aws_elb"},
        None,
        "apps.shop.load_balancer.name: required for type aws_elb",
        id="no-name",
    ),
    pytest.param(
        {"type": "aws_elb", "name": "shop-classic"},
        [{"name": "web1", "host": "10.0.1.11"}],
        "apps.shop.servers[0].instance_id: required for type aws_elb",
        id="classic-needs-instances",
    ),
    pytest.param(
        {"type": "aws_elbv2", "target_group_arn": "arn:x"},
        [{"name": "web1", "host": "web1.example.com"}],
        "apps.shop.servers[0].host: 'web1.example.com' is not an IP address",
        id="ip-target-needs-ip",
    ),
    pytest.param(
        {"type": "aws_elbv2", "target_group_arn": "arn:x", "profile": "nobody"},
        None,
        "apps.shop.load_balancer.profile: The config profile (nobody) could not be found",
        id="unknown-profile",
    ),
    pytest.param(
        {"type": "aws_elbv2", "target_group_arn": "arn:x", "endpoint_url": "not a url"},
        None,
        "apps.shop.load_balancer.endpoint_url: Invalid endpoint: not a url",
        id="bad-endpoint",
    ),
]


@pytest.fixture
def paper_fleet(moto: MotoServer) -> AwsFleet:
    """Names that exist only on paper: enough where the error comes before any AWS call."""
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop/0123456789abcdef"
    ids = ("i-00000000000000001", "i-00000000000000002", "i-00000000000000003")
    return AwsFleet(moto.url, ids, arn, "shop-classic", "vpc-0")


@pytest.mark.parametrize(("lb", "servers", "error"), BAD_MANIFESTS)
def test_bad_aws_settings_get_one_line_naming_the_manifest_key(
    workdir: Path,
    paper_fleet: AwsFleet,
    lb: Config,
    servers: list[Config] | None,
    error: str,
) -> None:
    app = aws_app(paper_fleet, lb)
    if servers:
        app["servers"] = servers

    code, lines = chat(build(workdir, app), "/deploy shop --serial")

    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"shipbot ▸ error: {error}")


def test_no_region_anywhere_is_a_clear_error(
    workdir: Path, paper_fleet: AwsFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    arn = paper_fleet.target_group_arn
    app = aws_app(paper_fleet, {"type": "aws_elbv2", "target_group_arn": arn})

    code, lines = chat(build(workdir, app), "/deploy shop --serial")

    assert code == 2
    assert lines == [
        "shipbot ▸ error: apps.shop.load_balancer.region: no AWS region; set it here, "
        "or AWS_DEFAULT_REGION, or a region in the AWS profile"
    ]


class Intercept:
    """A ``before-send`` hook: counts every attempt botocore makes and answers
    those ``answer`` returns a (status, body) for, as AWS would; the rest go to moto.
    """

    def __init__(self, answer: Callable[[Any], tuple[int, bytes] | None]) -> None:
        self.answer = answer
        self.attempts = 0

    def __call__(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        self.attempts += 1
        canned = self.answer(request)
        return None if canned is None else AWSResponse(request.url, canned[0], {}, _Raw(canned[1]))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


THROTTLING = (
    400,
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
    b"<Message>Rate exceeded</Message></Error><RequestId>t</RequestId></ErrorResponse>",
)


def throttle(times: int) -> Intercept:
    """Answer the first ``times`` attempts with AWS's Throttling error."""
    hook = Intercept(lambda request: THROTTLING if hook.attempts <= times else None)
    return hook


def test_throttling_is_retried_and_a_throttle_that_persists_is_reported(
    workdir: Path, aws_fleet: AwsFleet, moto: MotoServer
) -> None:
    app = aws_app(aws_fleet, {"type": "aws_elbv2", "target_group_arn": aws_fleet.target_group_arn})
    lb = build(workdir, app).load_balancer("shop")
    assert isinstance(lb, ElbV2LoadBalancer)
    web1 = parse_manifest(yaml.safe_dump({"apps": {"shop": app}})).app("shop").server("web1")
    once = throttle(1)
    lb.client.meta.events.register_first("before-send", once)

    lb.remove(web1)  # its health check: a Throttling answer, then moto; then the change

    assert once.attempts == 3
    assert lb.report(web1) == "drained"
    lb.client.meta.events.unregister("before-send", once)
    always = throttle(100)
    lb.client.meta.events.register_first("before-send", always)
    with pytest.raises(LoadBalancerError) as failed:
        lb.add(web1)
    assert str(failed.value) == "Throttling: Rate exceeded"
    assert failed.value.refused  # AWS refused it: web1 is still out, as moto shows
    assert always.attempts == 3  # botocore's default: 3 attempts in standard mode
    health = moto.client("elbv2").describe_target_health(
        TargetGroupArn=aws_fleet.target_group_arn, Targets=[{"Id": aws_fleet.instance_ids[0]}]
    )
    assert health["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "unused"


def test_an_unreachable_endpoint_refuses_the_deploy_at_pre_flight_with_a_clear_error(
    workdir: Path, paper_fleet: AwsFleet
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    arn = paper_fleet.target_group_arn
    app = aws_app(paper_fleet, {"type": "aws_elbv2", "target_group_arn": arn})
    app["load_balancer"]["endpoint_url"] = nowhere
    services = build(workdir, app)
    lb = services.load_balancer("shop")
    assert isinstance(lb, ElbV2LoadBalancer)
    attempts = Intercept(lambda request: None)  # lets every attempt through, counting them
    lb.client.meta.events.register_first("before-send", attempts)

    code, lines = chat(services, "/deploy shop --serial")

    assert code == 1
    # Pre-flight asks about each of the 3 servers; a connection error is retried 3 times.
    assert attempts.attempts == 9
    problems = [line for line in lines if ": problem: load balancer: " in line]
    assert len(problems) == 3, "\n".join(lines)
    assert all(f'Could not connect to the endpoint URL: "{nowhere}/"' in p for p in problems)
    assert any("refused at pre-flight" in line for line in lines)
    assert any("web2: untouched (pre-flight: " in line for line in lines)


CONNECTION_DRAINING = b"""<DescribeInstanceHealthResponse
  xmlns="http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/">
<DescribeInstanceHealthResult><InstanceStates><member>
<Description>Instance deregistration currently in progress.</Description>
<InstanceId>%s</InstanceId><ReasonCode>N/A</ReasonCode><State>InService</State>
</member></InstanceStates></DescribeInstanceHealthResult>
<ResponseMetadata><RequestId>d</RequestId></ResponseMetadata>
</DescribeInstanceHealthResponse>"""


def test_a_classic_elb_instance_still_draining_connections_is_not_drained(
    workdir: Path, aws_fleet: AwsFleet
) -> None:
    app = aws_app(aws_fleet, {"type": "aws_elb", "name": aws_fleet.elb_name})
    lb = build(workdir, app).load_balancer("shop")
    assert isinstance(lb, ElbLoadBalancer)
    web1 = parse_manifest(yaml.safe_dump({"apps": {"shop": app}})).app("shop").server("web1")
    body = CONNECTION_DRAINING % aws_fleet.instance_ids[0].encode()

    def draining(request: Any) -> tuple[int, bytes] | None:
        # What AWS answers during connection draining; moto deregisters at once.
        return (200, body) if "DescribeInstanceHealth" in str(request.body) else None

    lb.remove(web1)
    hook = Intercept(draining)
    lb.client.meta.events.register_first("before-send", hook)
    assert lb.report(web1) == "draining"
    lb.client.meta.events.unregister("before-send", hook)
    assert lb.report(web1) == "drained"  # moto: deregistered, health Unknown
