"""AWS load balancers through boto3: ALB/NLB target groups and classic ELBs.

``remove``/``add`` make one API call and return; ``report`` answers from the
load balancer's own view of the target, so the core's settle loop waits for
the real drain (deregistration delay, connection draining) and the real health
check instead of trusting a fixed sleep.

Retries are botocore's ``standard`` mode: throttling, 5xx answers and
connection errors are retried with jittered exponential backoff; the number
of attempts comes from the usual AWS environment (``AWS_MAX_ATTEMPTS`` or the
profile's ``max_attempts``; botocore's default is 3). What AWS still rejects
becomes ``LoadBalancerError("<Code>: <message>", refused=True)``: AWS checked
the call and changed nothing. Anything else (unreachable endpoint, a 5xx after
the last retry) is ``refused=False``: the change may or may not have happened.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
)

from adapters.registry import AdapterError
from strategies.manifest import App, Server
from strategies.ports import LbReport, LoadBalancerError

# Failures botocore raises before anything is sent: AWS cannot have changed anything.
_NOT_SENT = (NoCredentialsError, PartialCredentialsError, ParamValidationError)

# ELBv2 target states. ``initial``/``unhealthy`` mean registered but not serving
# yet ("starting"): the core's ``_settle`` keeps polling any report other than
# the one it wants, so a target that never turns healthy fails at ``settle_timeout``.
_ELBV2_STATES: dict[str, LbReport] = {
    "healthy": "serving",
    "draining": "draining",
    "unhealthy.draining": "draining",
    "initial": "starting",
    "unhealthy": "starting",
    "unused": "drained",
}
# ``unavailable`` depends on why: health checks off means the LB routes to it.
_UNAVAILABLE: dict[str, LbReport] = {
    "Target.HealthCheckDisabled": "serving",
    "Target.NotRegistered": "drained",
}


def aws_client(service: str, app_name: str, app: App) -> Any:
    """A boto3 client for ``service`` from the manifest's region/profile/endpoint_url."""
    lb = app.load_balancer
    path = f"apps.{app_name}.load_balancer"
    try:
        session = boto3.session.Session(profile_name=lb.profile, region_name=lb.region)
        region = session.region_name
    except ProfileNotFound as exc:  # from the manifest, or AWS_PROFILE
        raise AdapterError(f"{path}.profile: {exc}") from None
    if not region:
        raise AdapterError(
            f"{path}.region: no AWS region; set it here, or AWS_DEFAULT_REGION, "
            "or a region in the AWS profile"
        )
    # Every call is bounded: load_balancer.timeout to connect and again to read
    # the answer, for each of botocore's attempts.
    config = Config(
        retries={"mode": "standard"}, connect_timeout=lb.timeout, read_timeout=lb.timeout
    )
    try:
        return session.client(service, endpoint_url=lb.endpoint_url, config=config)
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        raise AdapterError(f"{path}.endpoint_url: {exc}") from None


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn boto3 failures into LoadBalancerError, saying whether AWS changed nothing."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        code, text = error.get("Code", "Unknown"), error.get("Message", "")
        message = f"{code}: {text}" if text else str(code)
        raise LoadBalancerError(message, refused=status < 500) from exc
    except _NOT_SENT as exc:
        raise LoadBalancerError(f"{action}: {exc}", refused=True) from exc
    except BotoCoreError as exc:
        raise LoadBalancerError(f"{action}: {exc}", refused=False) from exc


def _lookup(ids: Mapping[str, str], server: Server) -> str:
    try:
        return ids[server.name]
    except KeyError:
        raise LoadBalancerError(f"{server.name} is not in the manifest", refused=True) from None


def _require(value: str | None, path: str, kind: str) -> str:
    if not value:
        raise AdapterError(f"{path}: required for type {kind}")
    return value


class ElbV2LoadBalancer:
    """An ALB/NLB target group.

    A server with ``instance_id`` is an instance target; otherwise its ``host``
    (an IP address) is an IP target. Targets use the target group's port:
    ``servers[].port`` is the SSH port and is never sent to AWS.
    """

    def __init__(self, client: Any, target_group_arn: str, targets: Mapping[str, str]) -> None:
        self.client = client  # the boto3 client; public so tests can hook its events
        self._arn = target_group_arn
        self._targets = dict(targets)  # server name -> target id

    @classmethod
    def from_app(cls, app_name: str, app: App) -> ElbV2LoadBalancer:
        path = f"apps.{app_name}"
        arn = _require(
            app.load_balancer.target_group_arn,
            f"{path}.load_balancer.target_group_arn",
            "aws_elbv2",
        )
        targets = {
            server.name: _target_id(server, f"{path}.servers[{index}]")
            for index, server in enumerate(app.servers)
        }
        return cls(aws_client("elbv2", app_name, app), arn, targets)

    def remove(self, server: Server) -> None:
        """Deregister; a target already out (left out by a failed deploy) stays as it is."""
        if self.report(server) == "drained":
            return
        target = self._target(server)
        with aws_errors(f"deregistering target {target['Id']}"):
            self.client.deregister_targets(TargetGroupArn=self._arn, Targets=[target])

    def add(self, server: Server) -> None:
        target = self._target(server)
        with aws_errors(f"registering target {target['Id']}"):
            self.client.register_targets(TargetGroupArn=self._arn, Targets=[target])

    def report(self, server: Server) -> LbReport | None:
        target = self._target(server)
        with aws_errors(f"reading the health of target {target['Id']}"):
            answer = self.client.describe_target_health(TargetGroupArn=self._arn, Targets=[target])
        descriptions = answer.get("TargetHealthDescriptions", [])
        if not descriptions:
            return "drained"
        health = descriptions[0].get("TargetHealth", {})
        state, reason = str(health.get("State", "")), str(health.get("Reason", ""))
        if state == "unavailable":
            return _UNAVAILABLE.get(reason, "draining")
        return _ELBV2_STATES.get(state)  # a state this build does not know: cannot tell

    def check(self, server: Server) -> LbReport | None:
        """Pre-flight: the target group answers (a missing one is TargetGroupNotFound).
        A target not registered is no problem: the deploy registers it."""
        return self.report(server)

    def _target(self, server: Server) -> dict[str, str]:
        return {"Id": _lookup(self._targets, server)}


def _target_id(server: Server, path: str) -> str:
    if server.instance_id:
        return server.instance_id
    if not server.host:
        raise AdapterError(f"{path}: needs instance_id, or host as an IP target, for aws_elbv2")
    try:
        ipaddress.ip_address(server.host)
    except ValueError:
        raise AdapterError(
            f"{path}.host: {server.host!r} is not an IP address; "
            "an IP target needs one (or set instance_id)"
        ) from None
    return server.host


class ElbLoadBalancer:
    """A classic ELB: servers are EC2 instances (``instance_id`` is required)."""

    def __init__(self, client: Any, name: str, instances: Mapping[str, str]) -> None:
        self.client = client  # the boto3 client; public so tests can hook its events
        self._name = name
        self._instances = dict(instances)  # server name -> instance id

    @classmethod
    def from_app(cls, app_name: str, app: App) -> ElbLoadBalancer:
        path = f"apps.{app_name}"
        name = _require(app.load_balancer.name, f"{path}.load_balancer.name", "aws_elb")
        instances = {
            server.name: _require(
                server.instance_id, f"{path}.servers[{index}].instance_id", "aws_elb"
            )
            for index, server in enumerate(app.servers)
        }
        return cls(aws_client("elb", app_name, app), name, instances)

    def remove(self, server: Server) -> None:
        instance = _lookup(self._instances, server)
        with aws_errors(f"deregistering {instance} from ELB {self._name}"):
            # Ask first: an unknown ELB is then a clean LoadBalancerNotFound
            # before any change (moto answers the change itself with a 500),
            # and an instance already out (left out by a failed deploy) stays out.
            if instance not in self._registered():
                return
            self.client.deregister_instances_from_load_balancer(
                LoadBalancerName=self._name, Instances=[{"InstanceId": instance}]
            )

    def add(self, server: Server) -> None:
        instance = _lookup(self._instances, server)
        with aws_errors(f"registering {instance} with ELB {self._name}"):
            self._registered()
            self.client.register_instances_with_load_balancer(
                LoadBalancerName=self._name, Instances=[{"InstanceId": instance}]
            )

    def report(self, server: Server) -> LbReport | None:
        """InService while connection draining ("Instance deregistration currently
        in progress"): draining. Registered and InService: serving; registered
        otherwise: starting. Deregistered (OutOfService, moto's Unknown,
        or InvalidInstance): drained."""
        instance = _lookup(self._instances, server)
        with aws_errors(f"reading the health of {instance} in ELB {self._name}"):
            registered = instance in self._registered()
            state, description = self._health(instance)
        if state == "InService" and "deregistration" in description.lower():
            return "draining"
        if registered:
            return "serving" if state == "InService" else "starting"
        return "draining" if state == "InService" else "drained"

    def check(self, server: Server) -> LbReport | None:
        """Pre-flight: the ELB answers (a missing one is LoadBalancerNotFound)."""
        return self.report(server)

    def _registered(self) -> set[str]:
        answer = self.client.describe_load_balancers(LoadBalancerNames=[self._name])
        (description,) = answer["LoadBalancerDescriptions"]
        return {str(i["InstanceId"]) for i in description.get("Instances", [])}

    def _health(self, instance: str) -> tuple[str, str]:
        """The instance's (State, Description); empty when AWS does not know it."""
        try:
            answer = self.client.describe_instance_health(
                LoadBalancerName=self._name, Instances=[{"InstanceId": instance}]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidInstance":
                return "", ""
            raise
        states = answer.get("InstanceStates", [])
        if not states:
            return "", ""
        return str(states[0].get("State", "")), str(states[0].get("Description", ""))
