"""Fault injection against real sshd and real HAProxy: a deploy never leaves a
healthy server out of the load balancer, and recovers from a crash.

Each test gets four fresh sshd servers (so it may stop one) and an HAProxy
whose backends web1..web4 are real HTTP servers. Deploy commands run over SSH
as the deploy user; HAProxy's own state is sampled while the deploy runs, so
"never left rotation" is what HAProxy saw, not what shipbot says.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Run
from tests.infra.haproxy import HAProxyFleet, StartHAProxy
from tests.infra.sshd import Sshd, SshdFleet

UP, MAINT, DRAIN = (2, 0), 1, 8
SERVERS = ("web1", "web2", "web3", "web4")


def state_word(state: tuple[int, int]) -> str:
    op, admin = state
    if admin & MAINT:
        return "MAINT"
    if admin & DRAIN:
        return "DRAIN"
    return "UP" if op == 2 else "DOWN"


class Sampler:
    """HAProxy's server states every 20 ms while a deploy runs."""

    def __init__(self, haproxy: HAProxyFleet) -> None:
        self._haproxy = haproxy
        self._stop = threading.Event()
        self.seen: dict[str, set[str]] = {name: set() for name in haproxy.servers}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, state in self._haproxy.servers_state().items():
                self.seen[name].add(state_word(state))
            time.sleep(0.02)


@dataclass
class Rig:
    fleet: SshdFleet
    sshd: dict[str, Sshd]
    haproxy: HAProxyFleet
    remote: Path
    workdir: Path
    known_hosts: Path
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def manifest(
        self,
        *,
        commands: list[str] | None = None,
        removing: float = 0.05,
        adding: float = 0.05,
        **deploy: Any,
    ) -> Path:
        release = (
            f'mkdir -p {self.remote}/$SHIPBOT_SERVER && echo "$SHIPBOT_SERVER $SHIPBOT_REF" '
            f"> {self.remote}/$SHIPBOT_SERVER/RELEASE"
        )
        app = {
            "deployers": ["*"],
            "connection": {
                "type": "ssh",
                "user": self.fleet.username,
                "key_file": str(self.fleet.client_key),
                "known_hosts": str(self.known_hosts),
                "ssh_config": str(self.workdir / "no_ssh_config"),
                "connect_timeout": 3,
            },
            "servers": [
                {"name": name, "host": "127.0.0.1", "port": self.sshd[name].port}
                for name in SERVERS
            ],
            "deploy": {"commands": [*(commands or []), release], "timeout": 60, **deploy},
            "load_balancer": {
                "type": "haproxy",
                "socket": str(self.haproxy.socket),
                "backend": "shop",
                "configuration": {
                    "wait_after_removing_servers": removing,
                    "wait_after_adding_servers": adding,
                    "settle_timeout": 20,
                    "poll_interval": 0.02,
                },
            },
        }
        (self.workdir / "no_ssh_config").write_text("")
        path = self.workdir / "manifest.yml"
        path.write_text(yaml.safe_dump({"apps": {"shop": app}}))
        return path

    def released(self) -> list[str]:
        return [name for name in SERVERS if (self.remote / name / "RELEASE").exists()]

    def states(self) -> dict[str, str]:
        return {name: state_word(s) for name, s in self.haproxy.servers_state().items()}

    def started(self, server: str) -> Path:
        return self.remote / f"started-{server}"

    def wait_for(self, condition: Any, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPBOT_")}
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", *args],
            cwd=self.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.processes.append(process)
        return process


@pytest.fixture
def rig(sshd_fleet: SshdFleet, start_haproxy: StartHAProxy, workdir: Path) -> Iterator[Rig]:
    tag = secrets.token_hex(2)
    sshd = {name: sshd_fleet.start(f"{name}-{tag}") for name in SERVERS}
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text("".join(f"[127.0.0.1]:{s.port} {s.host_key}\n" for s in sshd.values()))
    rig = Rig(sshd_fleet, sshd, start_haproxy(4), sshd_fleet.remote_dir(), workdir, known_hosts)
    try:
        yield rig
    finally:
        for process in rig.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        for server in sshd.values():
            server.stop()


def test_an_unreachable_server_refuses_the_deploy_and_force_skips_it_in_rotation(
    rig: Rig, shipbot: Run
) -> None:
    rig.manifest()
    rig.sshd["web3"].stop()

    with Sampler(rig.haproxy) as refused_run:
        refused = shipbot("deploy", "shop", "--serial")

    assert refused.returncode == 1, refused.stdout + refused.stderr
    out = refused.stdout + refused.stderr
    assert "web3: problem: unreachable: cannot connect to 127.0.0.1:" in out
    assert "connection refused (is sshd running?)" in out
    assert "refused at pre-flight" in out and "nothing was changed" in out
    assert rig.released() == []
    assert all(seen == {"UP"} for seen in refused_run.seen.values()), refused_run.seen

    with Sampler(rig.haproxy) as forced_run:
        forced = shipbot("deploy", "shop", "--serial", "--force")

    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "web3: skipped (unreachable: cannot connect" in forced.stdout
    assert rig.released() == ["web1", "web2", "web4"]
    assert forced_run.seen["web3"] == {"UP"}  # never touched, never left rotation
    assert "MAINT" in forced_run.seen["web2"]  # the others really went out and back
    assert set(rig.states().values()) == {"UP"}


def test_a_server_lost_after_pre_flight_fails_while_still_in_rotation(
    rig: Rig, shipbot: Run
) -> None:
    touch = f"touch {rig.remote}/started-$SHIPBOT_SERVER && sleep 1"
    rig.manifest(commands=[touch])
    stopper = threading.Thread(
        target=lambda: (
            rig.wait_for(lambda: rig.started("web2").exists(), "web2 to start deploying"),
            rig.sshd["web3"].stop(),  # and the pre-flight connection with it
        )
    )

    with Sampler(rig.haproxy) as run:
        stopper.start()
        done = shipbot("deploy", "shop", "--serial")
        stopper.join()

    assert done.returncode == 1, done.stdout
    assert "web3: FAILED (connect: " in done.stdout and "in the load balancer" in done.stdout
    assert "web4: untouched (web3 failed)" in done.stdout
    assert run.seen["web3"] == {"UP"}, run.seen  # it failed in rotation, not out of it
    assert rig.released() == ["web1", "web2"]
    assert set(rig.states().values()) == {"UP"}


FAIL_ON_WEB2 = 'if [ "$SHIPBOT_SERVER" = web2 ]; then echo "boom: disk full"; exit 3; fi'


@pytest.mark.parametrize(
    ("policy", "released", "why"),
    [
        ({}, ["web1"], "web2 failed"),
        ({"on_failure": "continue"}, ["web1", "web3", "web4"], ""),
        (
            {"on_failure": "continue", "max_failures": 0},
            ["web1"],
            "1 server failed, more than deploy.max_failures 0",
        ),
    ],
    ids=["stop", "continue", "continue-max-0"],
)
def test_the_failure_policy_decides_who_deploys_and_the_failed_server_stays_out(
    rig: Rig, shipbot: Run, policy: dict[str, Any], released: list[str], why: str
) -> None:
    rig.manifest(commands=[FAIL_ON_WEB2], **policy)

    done = shipbot("deploy", "shop", "--serial")

    assert done.returncode == 1
    assert rig.released() == released
    expected = {name: "UP" for name in SERVERS} | {"web2": "MAINT"}
    assert rig.states() == expected
    lines = [line.strip() for line in done.stdout.splitlines()]
    heading = lines.index("left out of the load balancer:")
    assert lines[heading + 1].startswith("web2 (failed: `if [") and "exit 3" in lines[heading + 1]
    assert lines[heading + 2].startswith("fix them and redeploy")  # web2 is the only one
    assert "boom: disk full" in done.stdout
    untouched = [name for name in ("web3", "web4") if name not in released]
    for name in untouched:
        assert f"{name}: untouched ({why})" in done.stdout


def test_a_killed_deploy_is_announced_by_status_and_recover_puts_the_server_back(
    rig: Rig, shipbot: Run
) -> None:
    rig.manifest(removing=3)  # web2's wait: long enough to be killed in it
    deploying = rig.spawn("deploy", "shop", "--serial")
    rig.wait_for(lambda: rig.states()["web2"] == "MAINT", "web2 to leave rotation")
    deploying.send_signal(signal.SIGKILL)  # during web2's wait, before its command
    deploying.wait(timeout=10)

    status = shipbot("status", "shop")
    assert "interrupted: the bot process that ran it" in status.stdout
    assert "out of the load balancer: web2 (known good)" in status.stdout
    assert "LOCKED until recovered" in status.stdout
    blocked = shipbot("deploy", "shop")
    assert blocked.returncode == 1 and "run /deploy recover shop first" in blocked.stderr
    assert rig.states()["web2"] == "MAINT" and rig.released() == ["web1"]

    recovered = shipbot("recover", "shop")

    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert (
        "web2: out of the load balancer; no command had started; now drained: putting it back"
        in (recovered.stdout)
    )
    assert set(rig.states().values()) == {"UP"}
    assert rig.released() == ["web1"]  # recovery never runs a command
    history = shipbot("history", "shop").stdout
    assert "recovery of #1 by " in history and "#1 " in history
    rig.manifest(removing=0.05)
    again = shipbot("deploy", "shop", "--serial")
    assert again.returncode == 0, again.stdout + again.stderr
    assert rig.released() == list(SERVERS)
