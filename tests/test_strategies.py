"""Serial and parallel deploys against the real local fleet and the memory LB."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from adapters.memory_lb import MemoryLoadBalancer
from bot import render
from bot.wiring import Services
from strategies.cancel import CancelToken
from strategies.events import Event, ServerFinished, StepFinished, StepStarted
from strategies.manifest import parse_manifest
from strategies.plan import plan
from strategies.ports import LoadBalancerError
from strategies.requests import DeployRequest
from strategies.results import DeployResult
from tests.conftest import app_config, fleet_file, manifest_from
from tests.infra.settings import put_setting

Build = Callable[..., Services]


def deploy(
    services: Services,
    *,
    strategy: str | None = "serial",
    listeners: list[Callable[[Event], None]] | None = None,
    cancel: CancelToken | None = None,
    **request: Any,
) -> DeployResult:
    store = services.store
    request_ = DeployRequest(app="shop", requested_by="U0TEST", strategy=strategy, **request)  # type: ignore[arg-type]
    the_plan = plan(
        request_,
        services.manifest.app("shop"),
        store.get_settings("shop"),
        store.applied_waits("shop"),
    )
    return services.deployer("shop").run(the_plan, listeners=listeners or [], cancel=cancel)


def concurrency(events: list[Event]) -> int:
    """The most servers that had a command running at the same moment."""
    running, most = 0, 0
    for event in events:
        if isinstance(event, StepStarted) and event.step.kind == "command":
            running += 1
            most = max(most, running)
        elif isinstance(event, StepFinished) and event.step.kind == "command":
            running -= 1
    return most


def test_serial_takes_each_server_out_deploys_it_and_puts_it_back_in_order(
    services: Build, workdir: Path
) -> None:
    built = services()
    lb = built.load_balancer("shop")
    assert isinstance(lb, MemoryLoadBalancer)
    members_during_deploy: dict[str, set[str]] = {}

    def watch(event: Event) -> None:
        if isinstance(event, StepStarted) and event.step.kind == "command":
            members_during_deploy[event.server] = lb.members()

    result = deploy(built, listeners=[watch])

    assert result.ok and [o.lb for o in result.outcomes] == ["in", "in", "in"]
    assert lb.history == [
        (action, server) for server in ("web1", "web2", "web3") for action in ("remove", "add")
    ]
    # While a server deploys it is out, and every other server keeps serving.
    assert members_during_deploy == {
        "web1": {"web2", "web3"},
        "web2": {"web1", "web3"},
        "web3": {"web1", "web2"},
    }
    assert fleet_file(workdir, "web2").read_text() == "shop web2 main\n"
    assert fleet_file(workdir, "web1", "MIGRATED").read_text() == "main\n"
    assert not fleet_file(workdir, "web2", "MIGRATED").exists()


def test_serial_runs_migrations_on_their_server_before_it_goes_back(services: Build) -> None:
    built = services()
    order: list[str] = []

    def watch(event: Event) -> None:
        if isinstance(event, StepFinished) and event.server == "web1":
            order.append(event.step.kind)

    deploy(built, listeners=[watch])

    assert order == [
        "connect",
        "lb_remove",
        "wait_removed",
        "command",
        "migrations",
        "lb_add",
        "wait_added",
    ]


def test_parallel_deploys_all_at_once_without_touching_the_load_balancer(
    services: Build, workdir: Path
) -> None:
    built = services(commands=["sleep 0.5", 'echo "$SHIPBOT_SERVER" > RELEASE'], servers=4)
    events: list[Event] = []

    result = deploy(built, strategy="parallel", listeners=[events.append])

    assert result.ok and len(result.succeeded) == 4
    assert concurrency(events) == 4
    lb = built.load_balancer("shop")
    assert isinstance(lb, MemoryLoadBalancer) and lb.history == []
    assert [o.lb for o in result.outcomes] == ["n/a"] * 4
    migrated = [
        s for s in ("web1", "web2", "web3", "web4") if fleet_file(workdir, s, "MIGRATED").exists()
    ]
    assert migrated == ["web1"]


def test_parallel_respects_max_parallel(services: Build) -> None:
    built = services(commands=["sleep 0.3"], servers=5, migrations=False)
    put_setting(built.store, "shop", "deploy.max_parallel", 2, by="U0TEST")
    events: list[Event] = []

    result = deploy(built, strategy="parallel", listeners=[events.append])

    assert result.ok
    assert concurrency(events) == 2


def test_parallel_collects_every_outcome_when_some_servers_fail(services: Build) -> None:
    built = services(
        commands=['test "$SHIPBOT_SERVER" != web2', "echo ok > RELEASE"],
        servers=4,
        migrations=False,
    )

    result = deploy(built, strategy="parallel")

    assert result.status == "failed"
    assert [o.server for o in result.failed] == ["web2"]
    assert [o.server for o in result.succeeded] == ["web1", "web3", "web4"]
    assert "exit 1" in result.failed[0].detail


def test_parallel_reports_a_failure_of_the_migrations_server_first(services: Build) -> None:
    config = app_config(commands=['test "$SHIPBOT_SERVER" != web1', "true"], servers=3)
    config["migrations"] = {"command": "exit 4", "server": "web3"}
    built = services(parse_manifest(yaml.safe_dump({"apps": {"shop": config}})))

    result = deploy(built, strategy="parallel")

    assert [o.server for o in result.failed] == ["web1", "web3"]
    lines = render.result_lines(result)
    assert lines[1].startswith("  web3: FAILED (migrations `exit 4`: exit 4)")
    assert [line.split(":")[0].strip() for line in lines[1:4]] == ["web3", "web1", "web2"]


def test_parallel_with_fewer_workers_stops_starting_servers_after_a_failure(
    services: Build,
) -> None:
    built = services(commands=['test "$SHIPBOT_SERVER" != web1'], servers=4, migrations=False)
    put_setting(built.store, "shop", "deploy.max_parallel", 1, by="U0")

    result = deploy(built, strategy="parallel")

    assert [(o.server, o.status) for o in result.outcomes] == [
        ("web1", "failed"),
        ("web2", "skipped"),
        ("web3", "skipped"),
        ("web4", "skipped"),
    ]
    assert result.outcomes[1].detail == "web1 failed"


def test_serial_failure_leaves_the_failed_server_out_and_the_rest_untouched(
    services: Build, workdir: Path
) -> None:
    built = services(commands=['test "$SHIPBOT_SERVER" != web2 || { echo broken; exit 4; }'])

    result = deploy(built)

    assert [(o.server, o.status, o.lb) for o in result.outcomes] == [
        ("web1", "ok", "in"),
        ("web2", "failed", "out"),
        ("web3", "skipped", "n/a"),
    ]
    assert result.outcomes[1].output_tail == "broken"
    assert result.outcomes[2].detail == "web2 failed"
    lb = built.load_balancer("shop")
    assert isinstance(lb, MemoryLoadBalancer) and lb.members() == {"web1", "web3"}
    record = built.store.get_deploy(result.deploy_id)
    assert record is not None and record.status == "failed"
    assert [(s.server, s.status, s.lb) for s in record.servers] == [
        ("web1", "ok", "in"),
        ("web2", "failed", "out"),
        ("web3", "skipped", "n/a"),
    ]


def test_every_step_start_and_end_is_journaled(services: Build) -> None:
    built = services(servers=2)

    result = deploy(built)

    steps = built.store.steps(result.deploy_id)
    kinds = ("connect", "lb_remove", "wait_removed", "command", "migrations", "lb_add")
    assert [(s.server, s.kind, s.status) for s in steps[:6]] == [
        ("web1", kind, "ok") for kind in kinds
    ]
    assert len(steps) == 13 and all(s.finished_at is not None for s in steps)


def test_cancel_stops_at_the_next_step_and_puts_a_healthy_server_back(services: Build) -> None:
    built = services(migrations=False)
    token = CancelToken()

    def cancel_after_web2_leaves(event: Event) -> None:
        if (
            isinstance(event, StepFinished)
            and event.server == "web2"
            and event.step.kind == "lb_remove"
        ):
            token.cancel()

    result = deploy(built, listeners=[cancel_after_web2_leaves], cancel=token)

    assert result.status == "cancelled"
    assert [(o.server, o.status, o.lb) for o in result.outcomes] == [
        ("web1", "ok", "in"),
        ("web2", "cancelled", "in"),
        ("web3", "skipped", "n/a"),
    ]
    assert (
        result.outcomes[1].describe()
        == "cancelled (stopped before deploying), in the load balancer"
    )
    lb = built.load_balancer("shop")
    assert isinstance(lb, MemoryLoadBalancer) and lb.members() == {"web1", "web2", "web3"}


def test_cancel_from_another_process_reaches_the_running_deploy(services: Build) -> None:
    built = services(commands=["sleep 0.3"], migrations=False)

    def cancel_through_the_store(event: Event) -> None:
        if isinstance(event, ServerFinished) and event.outcome.server == "web1":
            assert built.store.request_cancel("shop", by="U0OTHER") is not None

    result = deploy(built, listeners=[cancel_through_the_store])

    assert [o.status for o in result.outcomes] == ["ok", "skipped", "skipped"]
    assert built.store.request_cancel("shop", by="U0OTHER") is None  # lock released


def test_abort_kills_the_running_command_and_reports_the_server_out(services: Build) -> None:
    built = services(commands=["sleep 30"], migrations=False)
    token = CancelToken()

    def abort_soon(event: Event) -> None:
        if isinstance(event, StepStarted) and event.step.kind == "command":
            threading.Timer(0.2, token.abort).start()

    result = deploy(built, listeners=[abort_soon], cancel=token)

    first = result.outcomes[0]
    assert (first.status, first.lb) == ("failed", "out")
    assert "aborted" in first.detail
    assert first.duration < 10
    assert [o.server for o in result.out_of_lb] == ["web1"]


def test_a_command_that_overruns_its_timeout_is_killed(services: Build) -> None:
    built = services(commands=["sleep 20"], migrations=False, timeout=0.3)

    result = deploy(built, strategy="parallel")

    assert all(o.status == "failed" and "timed out" in o.detail for o in result.outcomes)
    assert max(o.duration for o in result.outcomes) < 10


def lagging(services: Build, lag: float, floor: float, timeout: float = 300) -> Services:
    return services(
        servers=1,
        migrations=False,
        load_balancer={
            "type": "memory",
            "lag": lag,
            "configuration": {
                "wait_after_removing_servers": floor,
                "wait_after_adding_servers": 0,
                "settle_timeout": timeout,
            },
        },
    )


def wait_details(events: list[Event]) -> list[str]:
    return [
        e.detail for e in events if isinstance(e, StepFinished) and e.step.kind == "wait_removed"
    ]


def test_the_strategy_waits_for_the_load_balancer_to_report_drained(services: Build) -> None:
    events: list[Event] = []
    result = deploy(lagging(services, lag=0.4, floor=0), listeners=[events.append])

    assert result.ok
    (detail,) = wait_details(events)
    reported = float(detail.split("reported drained after ")[1].rstrip("s)"))
    assert reported >= 0.4


def test_a_fixed_floor_longer_than_the_lag_wins(services: Build) -> None:
    events: list[Event] = []
    result = deploy(lagging(services, lag=0.1, floor=0.6), listeners=[events.append])

    assert result.ok
    (detail,) = wait_details(events)
    waited = float(detail.split("waited ")[1].split("s")[0])
    assert waited >= 0.6 and "fixed floor 0.6s" in detail


def test_lag_longer_than_the_timeout_fails_the_step_and_says_where_the_server_is(
    services: Build,
) -> None:
    result = deploy(lagging(services, lag=5, floor=0, timeout=0.3))

    (outcome,) = result.outcomes
    # No command had run: the server is as it was, so it goes back into rotation.
    assert (outcome.status, outcome.lb) == ("failed", "in")
    assert "still reports draining after 0.3s (want drained)" in outcome.detail
    assert "put back into the load balancer (no command had run)" in outcome.detail


class RefusingLoadBalancer(MemoryLoadBalancer):
    """A load balancer that rejects every change, as AWS does for an unknown target group."""

    def remove(self, server: Any) -> None:
        raise LoadBalancerError("TargetGroupNotFound: no such target group", refused=True)


def test_a_refused_load_balancer_call_stops_the_deploy_and_says_nothing_moved(
    services: Build, workdir: Path
) -> None:
    built = services()
    built._load_balancers["shop"] = RefusingLoadBalancer(["web1", "web2", "web3"])

    result = deploy(built)

    first, *rest = result.outcomes
    assert (first.status, first.lb) == ("failed", "unchanged")
    assert "TargetGroupNotFound" in first.detail
    assert "load balancer unchanged" in first.describe()
    assert [(o.status, o.lb) for o in rest] == [("skipped", "n/a"), ("skipped", "n/a")]
    assert not (workdir / "fleet").exists()  # nothing ran anywhere


def test_the_memory_load_balancer_reports_draining_then_starting_while_it_lags() -> None:
    now = [0.0]
    lb = MemoryLoadBalancer(["web1"], lag=5, monotonic=lambda: now[0])
    web1 = manifest_from(servers=1).app("shop").server("web1")
    assert lb.report(web1) == "serving"
    lb.remove(web1)
    assert lb.report(web1) == "draining"
    now[0] = 5.0
    assert lb.report(web1) == "drained"
    lb.add(web1)
    assert lb.report(web1) == "starting"
    now[0] = 10.0
    assert lb.report(web1) == "serving"
