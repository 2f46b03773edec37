"""SshExecutor against real sshd servers: deploys through the real core,
host key checks, a bastion, timeouts, and how the request reaches the shell."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from paramiko import SSHConfig

from adapters.registry import AdapterError
from adapters.sqlite_store import SqliteStore
from adapters.ssh import SshExecutor
from adapters.ssh_config import Endpoint, SshConfigError, load_ssh_config, resolve_server
from bot.console import ConsoleFrontEnd
from bot.handler import Caller, CommandHandler
from bot.wiring import Services, example_manifest_path
from strategies.manifest import App, Connection, Manifest, Server, parse_manifest
from strategies.records import ServerRecord
from strategies.results import CommandResult
from tests.conftest import Run
from tests.infra.sshd import HiddenNetwork, Sshd, SshdFleet, free_port


@dataclass
class Ssh:
    """One test's view of the fleet: its own known_hosts, ssh config and remote directory."""

    fleet: SshdFleet
    servers: list[Sshd]
    remote: Path  # in the deploy user's home; every sshd shares this machine's disk
    workdir: Path
    known_hosts: Path
    ssh_config: Path
    records: dict[str, ServerRecord] | None = None  # the last deploy's, by server

    def release_command(self) -> str:
        where = f"{self.remote}/releases/$FLEET_HOST"
        return (
            f'mkdir -p {where} && echo "$FLEET_HOST $SHIPBOT_SERVER $(id -un) $SHIPBOT_REF"'
            f" > {where}/RELEASE"
        )

    def release(self, server: str) -> str | None:
        path = self.remote / "releases" / server / "RELEASE"
        return path.read_text() if path.exists() else None

    def app_config(self, servers: list[str] | None = None, **connection: Any) -> dict[str, Any]:
        """The example app, deployed over SSH to the fleet (servers by ssh config alias)."""
        example = yaml.safe_load(example_manifest_path().read_text())
        app: dict[str, Any] = example["apps"]["shop"]
        app["deployers"] = ["*"]
        app["connection"] = {
            "type": "ssh",
            "user": self.fleet.username,
            "key_file": str(self.fleet.client_key),
            "known_hosts": str(self.known_hosts),
            "ssh_config": str(self.ssh_config),
            **connection,
        }
        app["servers"] = [{"name": name} for name in servers or [s.name for s in self.servers]]
        app["deploy"]["commands"] = [self.release_command(), "true"]
        app["migrations"] = {
            "command": f'echo "$FLEET_HOST $SHIPBOT_REF" >> {self.remote}/migrations.log',
            "server": app["servers"][0]["name"],
        }
        app["load_balancer"]["configuration"] = {
            "wait_after_removing_servers": 0.01,
            "wait_after_adding_servers": 0.01,
        }
        return {"apps": {"shop": app}}

    def manifest(self, servers: list[str] | None = None, **connection: Any) -> Manifest:
        return parse_manifest(yaml.safe_dump(self.app_config(servers, **connection)))

    def app(self, servers: list[str] | None = None, **connection: Any) -> App:
        return self.manifest(servers, **connection).app("shop")

    def deploy(self, line: str, manifest: Manifest | None = None) -> tuple[int, list[str]]:
        """Type ``line`` into the console chat; the exit code and what the thread showed."""
        services = Services(
            manifest=manifest or self.manifest(),
            store=SqliteStore(self.workdir / "shipbot.db"),
            poll_interval=0.01,
        )
        shown: list[str] = []
        code = CommandHandler(services).handle_text(
            line, Caller("U0TEST"), ConsoleFrontEnd(shown.append)
        )
        self.records = {
            record.server: record for record in services.store.history("shop", 1)[0].servers
        }
        return code, shown

    def logins(self) -> dict[str, int]:
        return {s.name: s.logins() for s in self.servers}


def ssh_config_text(servers: list[Sshd], **extra: str) -> str:
    blocks = [f"Host {s.name}\n  HostName {s.host}\n  Port {s.port}\n" for s in servers]
    blocks += [f"Host {alias}\n{body}" for alias, body in extra.items()]
    return "\n".join(blocks)


@pytest.fixture
def ssh(sshd_fleet: SshdFleet, workdir: Path) -> Iterator[Ssh]:
    servers = sshd_fleet.servers()
    remote = sshd_fleet.remote_dir()
    known_hosts = sshd_fleet.write_known_hosts(workdir / "known_hosts", servers)
    config = workdir / "ssh_config"
    config.write_text(ssh_config_text(servers))
    yield Ssh(sshd_fleet, servers, remote, workdir, known_hosts, config)
    shutil.rmtree(remote, ignore_errors=True)


def run(
    executor: SshExecutor,
    app: App,
    command: str,
    env: dict[str, str] | None = None,
    timeout: float = 20,
) -> CommandResult:
    return executor.run(
        app.servers[0], command, env=env or {}, timeout=timeout, abort=threading.Event()
    )


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def wait_until(condition: Any, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def test_serial_deploy_of_the_example_app_runs_as_the_deploy_user_on_each_server(
    ssh: Ssh,
) -> None:
    before = ssh.logins()

    code, shown = ssh.deploy("/deploy shop --serial --ref v1.2")

    assert code == 0, "\n".join(shown)
    user = ssh.fleet.username
    for server in ssh.servers:
        assert ssh.release(server.name) == f"{server.name} {server.name} {user} v1.2\n"
    assert (ssh.remote / "migrations.log").read_text() == "web1 v1.2\n"
    assert any("succeeded" in line and "5 ok" in line for line in shown)
    # Two commands on every server (three on web1): still one login per server.
    after = ssh.logins()
    assert {name: after[name] - before[name] for name in after} == dict.fromkeys(after, 1)


def test_parallel_deploy_from_the_cli_reaches_all_five_servers(ssh: Ssh, shipbot: Run) -> None:
    path = ssh.workdir / "manifest.yml"
    path.write_text(yaml.safe_dump(ssh.app_config()))
    before = ssh.logins()

    done = shipbot("--manifest", str(path), "deploy", "shop", "--parallel", "--ref", "v2")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 ok" in done.stdout
    for server in ssh.servers:
        assert ssh.release(server.name) == f"{server.name} {server.name} {ssh.fleet.username} v2\n"
    after = ssh.logins()
    assert {name: after[name] - before[name] for name in after} == dict.fromkeys(after, 1)


def test_an_unknown_host_key_refuses_the_deploy_at_pre_flight_and_runs_nothing(
    ssh: Ssh,
) -> None:
    ssh.fleet.write_known_hosts(ssh.known_hosts, [s for s in ssh.servers if s.name != "web3"])
    before = ssh.logins()

    code, shown = ssh.deploy("/deploy shop --parallel")

    assert code == 1 and ssh.records is not None
    web3 = ssh.records["web3"]
    assert web3.status == "skipped"
    assert f"host key of [127.0.0.1]:{ssh.servers[2].port}" in web3.detail
    assert f"is not in {ssh.known_hosts}; nothing was run there" in web3.detail
    assert "accept_unknown_host_keys" in web3.detail and "\n" not in web3.detail
    assert any("refused at pre-flight" in line for line in shown), "\n".join(shown)
    assert ssh.logins()["web3"] == before["web3"]  # refused before logging in
    assert [ssh.release(s.name) for s in ssh.servers] == [None] * 5  # nothing ran anywhere


@pytest.mark.parametrize("strategy", ["--parallel", "--serial"])
def test_force_skips_the_server_with_an_unknown_host_key_and_deploys_the_rest(
    ssh: Ssh, strategy: str
) -> None:
    ssh.fleet.write_known_hosts(ssh.known_hosts, [s for s in ssh.servers if s.name != "web3"])
    before = ssh.logins()

    code, shown = ssh.deploy(f"/deploy shop {strategy} --force")

    assert code == 0 and ssh.records is not None, "\n".join(shown)
    web3 = ssh.records["web3"]
    assert web3.status == "unreachable" and "is not in" in web3.detail
    assert ssh.release("web3") is None and ssh.logins()["web3"] == before["web3"]
    for name in ("web1", "web2", "web4", "web5"):
        assert ssh.records[name].status == "ok"
        assert ssh.release(name) == f"{name} {name} {ssh.fleet.username} main\n"
    # Pre-flight logged in once, and the deploy used that same connection.
    after = ssh.logins()
    assert all(after[n] == before[n] + 1 for n in ("web1", "web2", "web4", "web5"))


def test_changed_host_key_fails_even_when_unknown_keys_are_accepted(ssh: Ssh) -> None:
    web1, web2 = ssh.servers[0], ssh.servers[1]
    impostor = f"[127.0.0.1]:{web2.port} {web1.host_key}\n"  # web2 "known" with web1's key
    lines = [s.known_hosts_line + "\n" for s in ssh.servers if s is not web2]
    ssh.known_hosts.write_text("".join(lines) + impostor)
    before = ssh.logins()

    code, _ = ssh.deploy(
        "/deploy shop --parallel --force", ssh.manifest(accept_unknown_host_keys=True)
    )

    assert code == 0 and ssh.records is not None
    detail = ssh.records["web2"].detail
    assert f"HOST KEY CHANGED for 127.0.0.1:{web2.port}" in detail
    assert "nothing was run there" in detail and "may be intercepting" in detail
    assert ssh.release("web2") is None and ssh.logins()["web2"] == before["web2"]
    assert [r.status for r in ssh.records.values()].count("ok") == 4


def test_accepting_unknown_host_keys_lets_one_through_without_saving_it(ssh: Ssh) -> None:
    ssh.fleet.write_known_hosts(ssh.known_hosts, [s for s in ssh.servers if s.name != "web3"])
    saved = ssh.known_hosts.read_text()

    code, shown = ssh.deploy("/deploy shop --parallel", ssh.manifest(accept_unknown_host_keys=True))

    assert code == 0, "\n".join(shown)
    assert ssh.release("web3") == f"web3 web3 {ssh.fleet.username} main\n"
    assert ssh.known_hosts.read_text() == saved


def test_proxyjump_reaches_a_server_that_only_the_bastion_can_reach(
    ssh: Ssh, hidden_network: HiddenNetwork
) -> None:
    bastion, hidden = hidden_network.bastion, hidden_network.target
    ssh.fleet.write_known_hosts(ssh.known_hosts, [bastion, hidden])
    jump = f"  HostName {bastion.host}\n  Port {bastion.port}\n  User {ssh.fleet.username}\n"
    direct = f"  HostName 127.0.0.1\n  Port {hidden.port}\n"
    # Nothing listens on 127.0.0.1:2222 inside the namespace (the bastion is on the veth).
    gone = "  HostName 127.0.0.1\n  Port 2222\n  ProxyJump bastion\n"
    ssh.ssh_config.write_text(
        ssh_config_text([], bastion=jump, hidden=direct + "  ProxyJump bastion\n", gone=gone)
    )
    (ssh.workdir / "direct_config").write_text(ssh_config_text([], hidden=direct))

    straight = SshExecutor.from_app(
        "shop", ssh.app(["hidden"], ssh_config=str(ssh.workdir / "direct_config"))
    )
    refused = run(straight, ssh.app(["hidden"]), "true")
    straight.close()
    assert refused.error == (
        f"cannot connect to 127.0.0.1:{hidden.port}: connection refused (is sshd running?)"
    )

    before = (hidden.logins(), bastion.logins())
    code, shown = ssh.deploy("/deploy shop --ref v3", ssh.manifest(["hidden"]))

    assert code == 0, "\n".join(shown)
    assert ssh.release("hidden") == f"hidden hidden {ssh.fleet.username} v3\n"
    assert (hidden.logins() - before[0], bastion.logins() - before[1]) == (1, 1)

    beyond = SshExecutor.from_app("shop", ssh.app(["gone"]))
    lost = run(beyond, ssh.app(["gone"]), "true")
    beyond.close()
    assert lost.error == (
        f"bastion {bastion.host}:2222 could not open a connection to 127.0.0.1:2222 "
        "(Connect failed); check that the server is up and reachable from the bastion"
    )

    # The bastion's host key is checked like any other.
    ssh.fleet.write_known_hosts(ssh.known_hosts, [hidden])
    unchecked = SshExecutor.from_app("shop", ssh.app(["hidden"]))
    result = run(unchecked, ssh.app(["hidden"]), "true")
    unchecked.close()
    assert result.error is not None
    assert result.error.startswith(f"via bastion {ssh.fleet.username}@{bastion.host}:2222: ")
    assert f"host key of [{bastion.host}]:2222" in result.error


def test_refused_connection_and_wrong_key_give_one_clear_line(ssh: Ssh) -> None:
    port = free_port()
    (ssh.workdir / "closed_config").write_text(
        f"Host closed\n  HostName 127.0.0.1\n  Port {port}\n"
    )
    app = ssh.app(["closed"], ssh_config=str(ssh.workdir / "closed_config"))
    executor = SshExecutor.from_app("shop", app)
    refused = run(executor, app, "true")
    executor.close()
    assert not refused.ok and refused.exit_code is None
    assert refused.describe() == (
        f"cannot connect to 127.0.0.1:{port}: connection refused (is sshd running?)"
    )

    stranger = ssh.workdir / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    app = ssh.app(["web1"], key_file=str(stranger), use_agent=False)
    executor = SshExecutor.from_app("shop", app)
    denied = run(executor, app, "true")
    executor.close()
    where = f"{ssh.fleet.username}@127.0.0.1:{ssh.servers[0].port}"
    assert denied.error is not None
    assert denied.error.startswith(f"authentication as {where} failed (")
    assert f"tried key {stranger})" in denied.error


def test_a_port_where_no_sshd_answers_gives_one_clear_line(ssh: Ssh) -> None:
    with socket.socket() as silent:  # the kernel accepts; nobody ever speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        (ssh.workdir / "silent_config").write_text(
            f"Host silent\n  HostName 127.0.0.1\n  Port {port}\n"
        )
        app = ssh.app(
            ["silent"], ssh_config=str(ssh.workdir / "silent_config"), connect_timeout=0.5
        )
        executor = SshExecutor.from_app("shop", app)
        result = run(executor, app, "true")
        executor.close()
    assert result.error is not None
    assert result.error.startswith(f"ssh to 127.0.0.1:{port} failed: no SSH handshake (")
    assert result.error.endswith(
        "is an sshd listening there? If it is just slow, raise connection.connect_timeout"
    )


def test_timeout_and_abort_stop_the_remote_command(ssh: Ssh) -> None:
    app = ssh.app(["web1"])
    executor = SshExecutor.from_app("shop", app)
    marker = f"30.{time.time_ns() % 10**9}"
    try:
        timed = run(executor, app, f"sleep {marker}; echo finished", timeout=0.5)
        assert timed.timed_out and not timed.ok and "finished" not in timed.output_tail
        assert wait_until(lambda: not processes_with(f"sleep {marker}"))

        abort = threading.Event()
        results: list[CommandResult] = []
        worker = threading.Thread(
            target=lambda: results.append(
                executor.run(app.servers[0], f"sleep {marker}1", env={}, timeout=60, abort=abort)
            )
        )
        worker.start()
        assert wait_until(lambda: processes_with(f"sleep {marker}1"))
        abort.set()
        worker.join(timeout=20)
        assert results and results[0].aborted and not results[0].timed_out
        assert wait_until(lambda: not processes_with(f"sleep {marker}1"))
    finally:
        executor.close()


def test_environment_arrives_literally_and_bad_names_are_refused(ssh: Ssh) -> None:
    app = ssh.app(["web2"])
    executor = SshExecutor.from_app("shop", app)
    hostile = 'v1\'; touch /tmp/pwned; $(id) `id` "$HOME" \\ *\nsecond line'
    try:
        shown = run(executor, app, 'printf "[%s]" "$SHIPBOT_REF"', {"SHIPBOT_REF": hostile})
        assert (shown.exit_code, shown.output_tail) == (0, f"[{hostile}]")
        assert not Path("/tmp/pwned").exists()

        refused = run(executor, app, "echo ran", {"SHIPBOT_X;id": "1"})
        assert refused.error is not None and refused.error.startswith("refused: environment")
        assert refused.output_tail == ""
    finally:
        executor.close()


def test_output_tail_and_exit_status_come_back_and_stdin_is_closed(ssh: Ssh) -> None:
    app = ssh.app(["web4"])
    executor = SshExecutor.from_app("shop", app)
    try:
        result = run(executor, app, "cat; seq 1 30; echo oops >&2; exit 3")
    finally:
        executor.close()
    assert (result.exit_code, result.ok, result.describe()) == (3, False, "exit 3")
    assert result.output_tail.splitlines() == [str(i) for i in range(12, 31)] + ["oops"]


def test_a_missing_key_file_is_refused_before_anything_runs(ssh: Ssh, shipbot: Run) -> None:
    path = ssh.workdir / "manifest.yml"
    path.write_text(yaml.safe_dump(ssh.app_config(key_file=str(ssh.workdir / "nope"))))
    before = ssh.logins()

    done = shipbot("--manifest", str(path), "deploy", "shop")

    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: apps.shop.connection.key_file: {ssh.workdir / 'nope'}: no such file"
    )
    assert ssh.logins() == before


def test_ssh_config_aliases_tokens_jumps_and_precedence(tmp_path: Path) -> None:
    key = tmp_path / "id_web"
    key.write_text("a key file")
    config = SSHConfig.from_text(
        "Host web-*\n  HostName %h.internal\n  User cfg\n  Port 2200\n"
        f"  IdentityFile {key}\n  IdentityFile {tmp_path}/absent\n"
        "  ProxyJump jumper@bastion:2022,inner\n"
        "Host inner\n  HostName 10.9.9.9\n  User inner-user\n"
    )
    ssh = Connection(type="ssh")

    endpoint = resolve_server(Server(name="a", host="web-1"), ssh, config)

    assert (endpoint.hostname, endpoint.port, endpoint.user) == ("web-1.internal", 2200, "cfg")
    assert endpoint.identity_files == (str(key),)
    bastion = Endpoint("bastion", 2022, "jumper")
    assert endpoint.via == Endpoint("10.9.9.9", 22, "inner-user", via=bastion)
    # server.port/user beat connection.user, which beats the config.
    own = resolve_server(
        Server(name="web-2", port=22, user="own"), Connection(type="ssh", user="conn"), config
    )
    assert (own.hostname, own.port, own.user) == ("web-2.internal", 22, "own")
    conn = resolve_server(Server(name="web-3"), Connection(type="ssh", user="conn"), config)
    assert conn.user == "conn"
    plain = resolve_server(Server(name="db", host="10.1.1.1"), ssh, config)
    assert (plain.hostname, plain.port, plain.via) == ("10.1.1.1", 22, None)


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ("Host a\n  ProxyCommand nc %h %p\n", "sets ProxyCommand, which shipbot does not run"),
        ("Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n", "ProxyJump chain longer than 8"),
        ("Host a\n  ProxyJump u@b:x\n", "ProxyJump hop 'u@b:x': expected [user@]host[:port]"),
        ("Host a\n  Port http\n", "bad Port 'http'"),
    ],
)
def test_ssh_config_that_cannot_be_honoured_is_refused(config: str, error: str) -> None:
    with pytest.raises(SshConfigError, match=re.escape(error)):
        resolve_server(Server(name="a"), Connection(type="ssh"), SSHConfig.from_text(config))


@pytest.mark.parametrize("line", ['Match exec "true"', "  match host a EXEC 'touch /tmp/x'"])
def test_an_ssh_config_with_match_exec_is_refused_without_running_it(
    tmp_path: Path, line: str
) -> None:
    ran = tmp_path / "ran"
    config = tmp_path / "config"
    config.write_text(f"Host a\n  Port 2222\n{line.replace('/tmp/x', str(ran))}\n  User x\n")
    with pytest.raises(SshConfigError, match="uses Match exec, which shipbot does not run"):
        load_ssh_config(str(config))
    assert not ran.exists()


def test_bad_connection_files_refuse_the_deploy_with_the_key_path(ssh: Ssh) -> None:
    locked = ssh.workdir / "locked_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", str(locked)], check=True
    )
    cases = {
        "key_file": (str(locked), "is protected by a passphrase; load it into ssh-agent"),
        "known_hosts": (str(ssh.workdir / "nowhere"), "nowhere: no such file"),
        "ssh_config": (str(ssh.workdir / "nowhere"), "cannot read ssh config"),
    }
    for key, (value, error) in cases.items():
        connection: dict[str, Any] = {key: value}
        with pytest.raises(AdapterError) as raised:
            SshExecutor.from_app("shop", ssh.app(**connection))
        assert str(raised.value).startswith(f"apps.shop.connection.{key}: ")
        assert error in str(raised.value)
