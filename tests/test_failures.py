"""The failure policy and how shares of servers are counted."""

from __future__ import annotations

import pytest

from strategies.amounts import Amount
from strategies.failures import FailureBudget
from strategies.plan import plan
from strategies.requests import DeployRequest
from strategies.results import ServerOutcome
from tests.conftest import manifest_from


@pytest.mark.parametrize(
    ("written", "total", "servers"),
    [
        ("25%", 7, 1),  # 1.75 is rounded down: a limit is never exceeded by rounding
        ("25%", 8, 2),
        ("30%", 10, 3),  # 0.3 * 10 is 2.9999999999999996 in floating point
        ("0%", 5, 0),
        ("100%", 5, 5),
        ("12.5%", 16, 2),
        (3, 2, 2),  # a count larger than the fleet is the whole fleet
        ("2", 5, 2),
    ],
)
def test_a_share_of_servers_is_rounded_down(written: object, total: int, servers: int) -> None:
    assert Amount.parse(written).floor_of(total) == servers


@pytest.mark.parametrize("bad", ["lots", "-1", "101%", "1e3", True, 2.5, "", "5 %%"])
def test_a_bad_amount_says_what_is_allowed(bad: object) -> None:
    with pytest.raises(ValueError, match=r"count|percentage|negative|exceed"):
        Amount.parse(bad)


def budget(servers: int = 7, **deploy: object) -> FailureBudget:
    manifest = manifest_from(servers=servers)
    app = manifest.app("shop")
    app = app.model_copy(update={"deploy": app.deploy.model_copy(update=deploy)})
    return FailureBudget(plan(DeployRequest("shop", "U0"), app, {}))


def fail(name: str) -> ServerOutcome:
    return ServerOutcome(name, "failed")


def test_stop_ends_at_the_first_failure() -> None:
    policy = budget()
    policy.record(ServerOutcome("web1", "ok"))
    assert policy.stop_reason() is None
    policy.record(fail("web2"))
    assert policy.stop_reason() == "web2 failed"


def test_continue_stops_once_the_failures_exceed_the_share() -> None:
    policy = budget(on_failure="continue", max_failures=Amount.parse("25%"))  # 1 of 7
    policy.record(fail("web1"))
    assert policy.stop_reason() is None  # 1 is not more than 1
    policy.record(ServerOutcome("web2", "skipped"))
    assert policy.stop_reason() is None  # only failures count
    policy.record(fail("web3"))
    assert policy.stop_reason() == ("2 servers failed, more than deploy.max_failures 25% = 1 of 7")


def test_continue_without_a_limit_never_stops() -> None:
    policy = budget(on_failure="continue")
    for n in range(1, 8):
        policy.record(fail(f"web{n}"))
    assert policy.stop_reason() is None
