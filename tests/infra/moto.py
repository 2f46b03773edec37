"""Fixtures: AWS through a real moto server over HTTP.

One ``python -m moto.server`` per test session on a port picked at run time,
stopped by its saved PID; its state is reset before every test. Tests get
dummy credentials and a region through the environment (so nothing can read a
real AWS account) and, with ``aws_fleet``, a VPC with three running instances
behind both an ALB target group and a classic ELB.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

REGION = "us-east-1"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_pid(pid: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM, wait, then SIGKILL; a lingering zombie counts as gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if proc is not None:
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            pass
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if proc is not None:
        proc.wait(timeout=5)


@dataclass
class MotoServer:
    url: str
    pid: int
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A boto3 client on this server (kept: building one costs ~50 ms)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
        return self._clients[service]

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/data.json", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _start(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        if _ready(url):
            return proc, url
        time.sleep(0.05)
    stop_pid(proc.pid, proc)
    raise RuntimeError(f"moto server did not start on {url}:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    try:
        proc, url = _start(log)
    except RuntimeError:  # the free port was taken between picking and binding
        proc, url = _start(log)
    try:
        yield MotoServer(url, proc.pid)
    finally:
        stop_pid(proc.pid, proc)


@pytest.fixture
def moto(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    """A reset moto server; dummy credentials and region in the environment."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    moto_server.reset()
    return moto_server


@dataclass(frozen=True)
class AwsFleet:
    """Three running instances, all registered with both load balancers."""

    url: str
    instance_ids: tuple[str, ...]
    target_group_arn: str
    elb_name: str
    vpc_id: str

    def server_ids(self) -> dict[str, str]:
        return {f"web{i}": iid for i, iid in enumerate(self.instance_ids, start=1)}


def create_fleet(moto: MotoServer, count: int = 3) -> AwsFleet:
    ec2, elbv2, elb = moto.client("ec2"), moto.client("elbv2"), moto.client("elb")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for n, z in ((1, "a"), (2, "b"))
    ]
    reservation = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=count, MaxCount=count, SubnetId=subnets[0]
    )
    ids = tuple(i["InstanceId"] for i in reservation["Instances"])
    alb = elbv2.create_load_balancer(Name="shop", Subnets=subnets)["LoadBalancers"][0]
    group = elbv2.create_target_group(
        Name="shop", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]
    elbv2.create_listener(
        LoadBalancerArn=alb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}],
    )
    elbv2.register_targets(TargetGroupArn=group["TargetGroupArn"], Targets=[{"Id": i} for i in ids])
    elb.create_load_balancer(
        LoadBalancerName="shop-classic",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 8080}],
        AvailabilityZones=[f"{REGION}a"],
    )
    elb.register_instances_with_load_balancer(
        LoadBalancerName="shop-classic", Instances=[{"InstanceId": i} for i in ids]
    )
    return AwsFleet(moto.url, ids, group["TargetGroupArn"], "shop-classic", vpc)


@pytest.fixture
def aws_fleet(moto: MotoServer) -> AwsFleet:
    return create_fleet(moto)
