"""HAProxyLoadBalancer against a real HAProxy and real app servers."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.haproxy import HAProxyLoadBalancer
from adapters.sqlite_store import SqliteStore
from bot.console import ConsoleFrontEnd
from bot.handler import Caller, CommandHandler
from bot.wiring import Services
from strategies.manifest import Manifest, Server
from strategies.ports import LbReport, LoadBalancerError
from tests.infra.haproxy import HAProxyFleet

MAINT, DRAIN = 1, 8
UP = (2, 0)
WEB1, WEB2, WEB3 = Server(name="web1"), Server(name="web2"), Server(name="web3")


def poll(condition: Callable[[], bool], timeout: float = 15.0) -> float:
    """Seconds until ``condition()`` holds; fails the test after ``timeout``."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, "condition not met in time"
        time.sleep(0.01)
    return time.monotonic() - began


def wait_for(lb: HAProxyLoadBalancer, server: Server, want: LbReport) -> float:
    return poll(lambda: lb.report(server) == want)


def served_by(fleet: HAProxyFleet, requests: int) -> Counter[str]:
    """Who answered ``requests`` requests through the frontend; each must be a 200."""
    answers: Counter[str] = Counter()
    for _ in range(requests):
        status, body = fleet.get()
        assert status == 200, body
        answers[body.strip()] += 1
    return answers


def deploy(manifest: Manifest, workdir: Path, line: str) -> tuple[int, list[str]]:
    """Type ``line`` into the console chat; the exit code and what the thread shows."""
    services = Services(manifest=manifest, store=SqliteStore(workdir / "shipbot.db"))
    shown: list[str] = []
    code = CommandHandler(services).handle_text(
        line, Caller("U0TEST"), ConsoleFrontEnd(shown.append)
    )
    return code, shown


def test_remove_drains_then_maint_and_no_request_reaches_the_removed_server(
    haproxy_fleet: HAProxyFleet,
) -> None:
    fleet = haproxy_fleet
    lb = HAProxyLoadBalancer(str(fleet.socket), "shop")

    lb.remove(WEB2)
    assert fleet.servers_state()["web2"][1] == DRAIN
    assert lb.report(WEB2) == "drained"  # no session was open: straight to maint

    assert fleet.servers_state()["web2"] == (0, MAINT)
    assert set(served_by(fleet, 60)) == {"web1 v1", "web3 v1"}  # 0 of 60 reached web2

    lb.add(WEB2)
    wait_for(lb, WEB2, "serving")
    assert fleet.servers_state()["web2"] == UP
    assert set(served_by(fleet, 30)) == {"web1 v1", "web2 v1", "web3 v1"}


def test_added_server_is_not_serving_until_haproxys_check_says_up(
    haproxy_fleet: HAProxyFleet,
) -> None:
    fleet = haproxy_fleet
    lb = HAProxyLoadBalancer(str(fleet.socket), "shop")
    lb.remove(WEB3)
    wait_for(lb, WEB3, "drained")
    fleet.stop_backend("web3")

    lb.add(WEB3)
    # HAProxy would treat a server leaving maint as UP at once; with web3 dead
    # and retries off, any request sent its way would fail here.
    began, rounds = time.monotonic(), 0
    while rounds < 30 or time.monotonic() - began < 0.5:  # several check intervals
        assert lb.report(WEB3) == "starting"
        assert set(served_by(fleet, 1)) <= {"web1 v1", "web2 v1"}
        rounds += 1
    assert fleet.servers_state()["web3"] == (0, 0)

    fleet.start_backend("web3", "v2")
    wait_for(lb, WEB3, "serving")
    assert set(served_by(fleet, 30)) == {"web1 v1", "web2 v1", "web3 v2"}


def test_open_session_keeps_the_server_draining_until_it_ends(
    haproxy_fleet: HAProxyFleet,
) -> None:
    fleet = haproxy_fleet
    lb = HAProxyLoadBalancer(str(fleet.socket), "shop")
    for name in ("web2", "web3"):  # every request now goes to web1
        assert fleet.command(f"set server shop/{name} state maint").strip() == ""
    slow: list[tuple[int, str]] = []
    client = threading.Thread(target=lambda: slow.append(fleet.get("/slow?seconds=2.5")))
    client.start()
    poll(lambda: lb.sessions("web1") == 1)

    lb.remove(WEB1)
    assert lb.report(WEB1) == "draining"
    assert fleet.servers_state()["web1"][1] == DRAIN
    wait_for(lb, WEB1, "drained")
    client.join()

    assert slow == [(200, "web1 v1\n")]  # the drain let it finish
    assert fleet.servers_state()["web1"] == (0, MAINT)


@pytest.mark.parametrize(
    ("backend", "server", "replies"),
    [
        ("shop", "web9", ["No such server.", "No such server.", "lists no server 'web9'"]),
        ("nope", "web1", ["No such backend.", "Can't find backend.", "Can't find backend."]),
    ],
)
def test_unknown_server_or_backend_is_refused_with_haproxys_text(
    haproxy_fleet: HAProxyFleet, backend: str, server: str, replies: list[str]
) -> None:
    lb = HAProxyLoadBalancer(haproxy_fleet.admin_address, backend)  # over TCP

    for call, reply in zip((lb.remove, lb.add, lb.report), replies, strict=True):
        with pytest.raises(LoadBalancerError) as refused:
            call(Server(name=server))
        assert reply in str(refused.value) and refused.value.refused
    assert set(haproxy_fleet.servers_state().values()) == {UP}


def test_an_unknown_backend_refuses_the_deploy_at_pre_flight_and_leaves_everything_serving(
    haproxy_fleet: HAProxyFleet, workdir: Path
) -> None:
    manifest = haproxy_fleet.manifest(["touch ran"], backend="nope")

    code, shown = deploy(manifest, workdir, "/deploy shop --serial")

    assert code == 1
    text = "\n".join(shown)
    refusal = "HAProxy: Can't find backend. (show servers state nope)"
    for server in ("web1", "web2", "web3"):
        assert f"{server}: problem: load balancer: {refusal}" in text, text
    assert "refused at pre-flight" in text and "nothing was changed" in text
    assert set(haproxy_fleet.servers_state().values()) == {UP}
    assert not list((haproxy_fleet.directory / "fleet").rglob("ran"))


@pytest.mark.parametrize("address", ["missing.sock", "127.0.0.1:1"])
def test_unreachable_runtime_api_gives_a_clear_error(tmp_path: Path, address: str) -> None:
    where = str(tmp_path / address) if address.endswith(".sock") else address
    lb = HAProxyLoadBalancer(where, "shop", timeout=2)

    with pytest.raises(LoadBalancerError) as failed:
        lb.remove(WEB1)

    assert str(failed.value).startswith(f"cannot reach the HAProxy runtime API at {where}: ")
    assert not failed.value.refused


def test_serial_deploy_waits_for_what_haproxy_reports(
    haproxy_fleet: HAProxyFleet, workdir: Path
) -> None:
    fleet = haproxy_fleet
    manifest = fleet.manifest([fleet.restart_command(pause=0.2)], socket=fleet.admin_address)

    code, shown = deploy(manifest, workdir, "/deploy shop --serial --ref v2")

    assert code == 0, "\n".join(shown)
    text = "\n".join(shown)
    for name in fleet.servers:
        assert re.search(
            rf"{name}: after removing, waited \d+\.\ds \(fixed floor 0\.1s; "
            r"load balancer reported drained after \d+\.\ds\)",
            text,
        ), text
        assert re.search(
            rf"{name}: after adding, waited \d+\.\ds \(fixed floor 0\.1s; "
            r"load balancer reported serving after \d+\.\ds\)",
            text,
        ), text
    assert set(fleet.servers_state().values()) == {UP}
    assert set(served_by(fleet, 30)) == {"web1 v2", "web2 v2", "web3 v2"}


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"backend": None}, "apps.shop.load_balancer.backend: required"),
        ({"backend": "shop;shutdown frontend www"}, "apps.shop.load_balancer.backend: 'shop;"),
        ({"lb_names": {"web2": "web2 state maint"}}, "apps.shop.servers[1].lb_name: 'web2 "),
    ],
)
def test_bad_haproxy_settings_are_refused_in_one_line(
    haproxy_fleet: HAProxyFleet, workdir: Path, change: dict[str, Any], path: str
) -> None:
    manifest = haproxy_fleet.manifest(["touch DEPLOYED"], **change)

    code, shown = deploy(manifest, workdir, "/deploy shop --serial")

    assert code == 2
    assert len(shown) == 1 and path in shown[0]
    assert not list((haproxy_fleet.directory / "fleet").glob("**/DEPLOYED"))
    assert set(haproxy_fleet.servers_state().values()) == {UP}
