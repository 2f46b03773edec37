"""Planning is pure: the same inputs always give the same frozen plan."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from bot.render import render_plan
from strategies.manifest import Deploy
from strategies.plan import plan
from strategies.requests import DeployRequest, RequestError
from strategies.waits import AppliedWait
from tests.conftest import manifest_from


def request(**kw: object) -> DeployRequest:
    return DeployRequest(app="shop", requested_by="U0TEST", **kw)  # type: ignore[arg-type]


def test_strategy_comes_from_the_setting_unless_overridden_once() -> None:
    shop = manifest_from().app("shop")
    assert plan(request(), shop, {}).strategy == "serial"
    by_setting = plan(request(), shop, {"deploy.parallel": True})
    assert (by_setting.strategy, by_setting.reason) == (
        "parallel",
        "setting deploy.parallel is true",
    )
    override = plan(request(strategy="serial"), shop, {"deploy.parallel": True})
    assert override.strategy == "serial"
    assert override.reason == "one-off override --serial (setting deploy.parallel is true)"


def test_serial_plan_orders_steps_and_counts_the_extra_wait() -> None:
    shop = manifest_from(servers=4, wait_removing=10, wait_adding=30).app("shop")
    the_plan = plan(request(), shop, {})
    assert the_plan.extra_wait_seconds == (10 + 30) * 4
    first = the_plan.servers[0]
    assert [s.kind for s in first.steps] == [
        "connect",
        "lb_remove",
        "wait_removed",
        "command",
        "migrations",
        "lb_add",
        "wait_added",
    ]
    assert [s.kind for s in the_plan.servers[1].steps] == [
        "connect",
        "lb_remove",
        "wait_removed",
        "command",
        "lb_add",
        "wait_added",
    ]


def test_parallel_plan_keeps_servers_in_and_warns_about_migrations() -> None:
    shop = manifest_from(servers=4).app("shop")
    the_plan = plan(request(strategy="parallel"), shop, {"deploy.max_parallel": 3})
    assert not the_plan.uses_load_balancer and the_plan.extra_wait_seconds == 0
    assert the_plan.workers == 3
    assert sum(s.runs_migrations for s in the_plan.servers) == 1
    assert any("advisable to deploy in serial" in w for w in the_plan.warnings)
    assert plan(request(strategy="parallel"), shop, {}).workers == 4


def test_no_load_balancer_means_no_lb_steps_and_no_extra_wait() -> None:
    shop = manifest_from(lb="none").app("shop")
    the_plan = plan(request(), shop, {})
    kinds = {s.kind for sp in the_plan.servers for s in sp.steps}
    assert kinds == {"command", "migrations"}  # nothing to leave, so no connect step either
    assert the_plan.extra_wait_seconds == 0


def test_server_subset_keeps_manifest_order_and_warns_when_migrations_are_skipped() -> None:
    shop = manifest_from(servers=3).app("shop")
    the_plan = plan(request(servers=("web3", "web2")), shop, {})
    assert [s.name for s in the_plan.servers] == ["web2", "web3"]
    assert the_plan.migrations_server is None
    assert any("migrations are skipped" in w for w in the_plan.warnings)
    with pytest.raises(RequestError, match="unknown server 'web7'"):
        plan(request(servers=("web7",)), shop, {})


def test_waits_show_where_each_value_came_from() -> None:
    applied = {
        "wait_after_removing_servers": AppliedWait(
            "wait_after_removing_servers", 12, 7, datetime(2026, 11, 20, tzinfo=UTC)
        )
    }
    shop = manifest_from(wait_removing=None, wait_adding=5).app("shop")
    the_plan = plan(request(), shop, {}, applied)
    removing, adding = the_plan.waits
    assert (removing.seconds, removing.origin) == (12, "applied")
    assert removing.describe() == (
        "applied by deploy #7 on 2026-11-20; set it to 0 in the manifest to remove"
    )
    assert (adding.seconds, adding.origin, adding.change) == (5, "manifest", "store")
    zero = plan(request(), manifest_from(wait_removing=0).app("shop"), {}, applied).waits[0]
    assert (zero.seconds, zero.change) == (0, "clear")


def test_plans_are_frozen_and_planning_is_repeatable() -> None:
    shop = manifest_from().app("shop")
    first, second = plan(request(ref="v1.2"), shop, {}), plan(request(ref="v1.2"), shop, {})
    assert first == second
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.strategy = "parallel"  # type: ignore[misc]


@pytest.mark.parametrize("ref", ["main", "release/2026.11", "v1.2.3", "feature/x_y-z", "a" * 40])
def test_valid_refs_are_accepted(ref: str) -> None:
    assert request(ref=ref).ref == ref


@pytest.mark.parametrize(
    "ref",
    [
        "$(reboot)",
        "`id`",
        "main;rm -rf /",
        "a b",
        "-x",
        "a..b",
        "x.lock",
        "refs/heads/",
        "a|b",
        "",
        "@{1}",
    ],
)
def test_invalid_refs_are_refused(ref: str) -> None:
    with pytest.raises(RequestError, match="not a valid git ref name"):
        request(ref=ref)


def test_the_rendered_plan_says_the_fixed_waits_are_floors_under_the_lb_report() -> None:
    lb = {"type": "memory", "configuration": {"wait_after_removing_servers": 10}}
    shop = manifest_from(load_balancer=lb).app("shop")
    text = render_plan(plan(request(), shop, {}))
    assert "wait_after_removing_servers: 10s — from manifest" in text
    assert "it also lasts until the memory load balancer reports the server drained" in text
    assert "at most 300s" in text
    parallel = render_plan(plan(request(strategy="parallel"), shop, {}))
    assert "reports the server drained" not in parallel


@pytest.mark.parametrize(
    ("config", "request_batch", "sizes"),
    [
        ({}, "2", (2, 2, 2, 1)),
        ({}, "25%", (1, 1, 1, 1, 1, 1, 1)),  # 25% of 7 is 1.75, rounded down
        ({"batch_size": [1, "30%", "50%"]}, None, (1, 2, 3, 1)),  # the last entry repeats
        ({"batch_size": 3}, None, (3, 3, 1)),
    ],
)
def test_batches_round_shares_down_and_repeat_the_last_ramp_entry(
    config: dict[str, object], request_batch: str | None, sizes: tuple[int, ...]
) -> None:
    app = manifest_from(servers=7)
    shop = app.app("shop")
    shop = shop.model_copy(update={"deploy": shop.deploy.model_copy(update=_deploy(config))})
    made = plan(DeployRequest("shop", "U0", batch=request_batch), shop, {})
    assert made.strategy == "batch" and made.batches == sizes
    assert made.extra_wait_seconds == pytest.approx(0.1 * len(sizes))


def _deploy(config: dict[str, object]) -> dict[str, object]:
    data = {"commands": ["true"], **config}
    return dict(Deploy.model_validate(data))


def test_a_canary_is_its_own_first_batch_and_min_healthy_rounds_up() -> None:
    shop = manifest_from(servers=4).app("shop")
    made = plan(DeployRequest("shop", "U0", canary="1"), shop, {})
    assert made.strategy == "canary" and made.batches == (1, 1, 1, 1)
    floor = shop.model_copy(
        update={"deploy": shop.deploy.model_copy(update=_deploy({"min_healthy": "60%"}))}
    )
    # 60% of 4 is 2.4, rounded up to 3: a batch of 2 would leave 2.
    with pytest.raises(RequestError, match=r"below deploy.min_healthy 60% \(= 3\)"):
        plan(DeployRequest("shop", "U0", batch="2"), floor, {})
