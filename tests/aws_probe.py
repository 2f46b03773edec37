"""A deploy command for AWS tests: record what the load balancer says right now.

Run by the local executor as a server's deploy step, it appends one line,
``<SHIPBOT_SERVER>: <id>=<state> ...``, to OUT, so a test can see each target's
state at the moment that server was being deployed.

usage: python aws_probe.py ENDPOINT_URL (elbv2 TARGET_GROUP_ARN | elb NAME) OUT ID...

For ``elb`` the state is the instance health, with ``/out`` appended when the
instance is not registered with the ELB.
"""

from __future__ import annotations

import os
import sys

import boto3

# A deploy command gets no AWS credentials from the bot (never its own); moto
# takes any, so the probe brings dummy ones and the region of the tests.
for name, value in (
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
):
    os.environ.setdefault(name, value)


def elbv2_states(endpoint: str, arn: str, ids: list[str]) -> list[str]:
    client = boto3.client("elbv2", endpoint_url=endpoint)
    answer = client.describe_target_health(
        TargetGroupArn=arn, Targets=[{"Id": target} for target in ids]
    )
    return [str(d["TargetHealth"]["State"]) for d in answer["TargetHealthDescriptions"]]


def elb_states(endpoint: str, name: str, ids: list[str]) -> list[str]:
    client = boto3.client("elb", endpoint_url=endpoint)
    description = client.describe_load_balancers(LoadBalancerNames=[name])[
        "LoadBalancerDescriptions"
    ][0]
    registered = {i["InstanceId"] for i in description["Instances"]}
    health = client.describe_instance_health(
        LoadBalancerName=name, Instances=[{"InstanceId": i} for i in ids]
    )["InstanceStates"]
    return [f"{h['State']}{'' if h['InstanceId'] in registered else '/out'}" for h in health]


def main(argv: list[str]) -> int:
    endpoint, kind, lb, out, *ids = argv
    states = (elbv2_states if kind == "elbv2" else elb_states)(endpoint, lb, ids)
    pairs = " ".join(f"{i}={s}" for i, s in zip(ids, states, strict=True))
    with open(out, "a") as file:
        file.write(f"{os.environ['SHIPBOT_SERVER']}: {pairs}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
