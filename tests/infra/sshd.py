"""Fixtures: real OpenSSH sshd servers on loopback, and a bastion in a network namespace.

Recipe from shared TESTBED.md: absolute paths everywhere, ``/usr/sbin/sshd -D
-e -f CFG`` started and stopped by its PID, ports picked free at run time, a
non-root deploy user, a generated ed25519 client key and a known_hosts file
with ``[HOST]:PORT key`` lines so host key checks stay ON. Each sshd sets
``FLEET_HOST=<its name>`` in its sessions (``SetEnv``), so a command's output
proves which server ran it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
DEPLOY_USER = "shipbot-deploy"
FLEET_SIZE = 5
START_TIMEOUT = 10.0


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_deploy_user(name: str = DEPLOY_USER) -> pwd.struct_passwd:
    """A plain non-root login user; ``useradd`` leaves it locked, sshd then refuses it.

    Its shell is ``/bin/sh``: commands run as ``sh -c`` and read no start-up files."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        done = subprocess.run(
            ["useradd", "-m", "-s", "/bin/sh", name], capture_output=True, text=True
        )
        if done.returncode not in (0, 9):  # 9: created meanwhile by a concurrent run
            pytest.fail(f"useradd {name} failed: {done.stderr.strip()}")
    _run("usermod", "-p", "*", name)
    user = pwd.getpwnam(name)
    home = Path(user.pw_dir)
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, user.pw_uid, user.pw_gid)
    return user


@dataclass
class Sshd:
    """One running sshd."""

    name: str
    host: str
    port: int
    host_key: str  # "ssh-ed25519 AAAA..."
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_key}"

    def logins(self) -> int:
        """Connections that logged in so far (sshd -e logs each one)."""
        return self.log.read_text(errors="replace").count("Accepted publickey for")

    def stop(self) -> None:
        """SIGTERM by PID, wait, SIGKILL; then the session children it forked."""
        children = _children(self.process.pid)
        _terminate(self.process)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@dataclass
class SshdFleet:
    """sshd servers sharing one client key and one deploy user; started on demand."""

    base: Path
    user: pwd.struct_passwd
    client_key: Path
    started: list[Sshd] = field(default_factory=list)

    @classmethod
    def create(cls, user_name: str = DEPLOY_USER) -> SshdFleet:
        if not Path(SSHD).exists():
            pytest.fail(f"{SSHD} is missing: install openssh-server (make test does)")
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        user = ensure_deploy_user(user_name)
        # sshd reads authorized_keys as the deploy user: every parent must be traversable.
        base = Path(tempfile.mkdtemp(prefix="shipbot-sshd-"))
        base.chmod(0o755)
        client_key = base / "client_key"
        _run(
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "shipbot-tests",
            "-f",
            str(client_key),
        )
        shutil.copy(client_key.with_suffix(".pub"), base / "authorized_keys")
        (base / "authorized_keys").chmod(0o644)
        return cls(base, user, client_key)

    @property
    def username(self) -> str:
        return self.user.pw_name

    def servers(self, count: int = FLEET_SIZE) -> list[Sshd]:
        """The first ``count`` plain servers ``web1..``, starting any not yet running."""
        plain = [s for s in self.started if s.name.startswith("web")]
        for index in range(len(plain) + 1, count + 1):
            plain.append(self.start(f"web{index}"))
        return plain[:count]

    def start(
        self,
        name: str,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        netns: str | None = None,
    ) -> Sshd:
        """Start one sshd named ``name``; inside ``netns`` if given (then ``port`` is needed)."""
        home = self.base / f"{name}-{secrets.token_hex(3)}"
        home.mkdir()
        host_key = home / "host_key"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key))
        for attempt in range(3):
            chosen = port or free_port(host)
            sshd = self._launch(name, home, host, chosen, netns)
            if sshd is not None:
                return sshd
            if port is not None or attempt == 2:
                break
        pytest.fail(f"sshd {name} did not start:\n{(home / 'sshd.log').read_text()}")

    def _launch(
        self, name: str, home: Path, host: str, port: int, netns: str | None
    ) -> Sshd | None:
        config = home / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {host}",
                    f"Port {port}",
                    f"HostKey {home / 'host_key'}",
                    f"PidFile {home / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.base / 'authorized_keys'}",
                    "UsePAM no",
                    "StrictModes no",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "AllowTcpForwarding yes",
                    "MaxStartups 200:30:400",
                    "MaxSessions 50",
                    f"SetEnv FLEET_HOST={name}",
                    "",
                ]
            )
        )
        log = home / "sshd.log"
        command = [SSHD, "-D", "-e", "-f", str(config)]
        if netns:
            # `ip netns exec` execs sshd in place, so the PID is still sshd's.
            command = ["ip", "netns", "exec", netns, *command]
        with log.open("ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        listening = f"Server listening on {host} port {port}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if listening in log.read_text(errors="replace"):
                key = (home / "host_key.pub").read_text().split()
                sshd = Sshd(name, host, port, f"{key[0]} {key[1]}", log, process)
                self.started.append(sshd)
                return sshd
            if process.poll() is not None:
                return None
            time.sleep(0.01)
        _terminate(process)
        return None

    def write_known_hosts(self, path: Path, servers: Sequence[Sshd]) -> Path:
        path.write_text("".join(f"{s.known_hosts_line}\n" for s in servers))
        return path

    def remote_dir(self) -> Path:
        """A fresh directory in the deploy user's home, owned by that user."""
        path = Path(self.user.pw_dir) / f"t-{secrets.token_hex(4)}"
        path.mkdir()
        os.chown(path, self.user.pw_uid, self.user.pw_gid)
        return path

    def stop(self) -> None:
        for sshd in self.started:
            sshd.stop()
        self.started.clear()
        shutil.rmtree(self.base, ignore_errors=True)


@dataclass(frozen=True)
class HiddenNetwork:
    """A network namespace joined to ours by a veth pair.

    ``bastion`` listens on the namespace side of the veth (reachable from
    here); ``target`` listens on 127.0.0.1 INSIDE the namespace, so only the
    bastion can reach it.
    """

    netns: str
    veth: str
    bastion: Sshd
    target: Sshd


def _create_netns(netns: str, veth: str, root_ip: str, ns_ip: str) -> None:
    _run("ip", "netns", "add", netns)
    _run("ip", "-n", netns, "link", "set", "lo", "up")
    _run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth-hidden", "netns", netns)
    _run("ip", "addr", "add", f"{root_ip}/30", "dev", veth)
    _run("ip", "link", "set", veth, "up")
    _run("ip", "-n", netns, "addr", "add", f"{ns_ip}/30", "dev", "eth-hidden")
    _run("ip", "-n", netns, "link", "set", "eth-hidden", "up")


def _delete_netns(netns: str, veth: str) -> None:
    subprocess.run(["ip", "link", "del", veth], capture_output=True)
    subprocess.run(["ip", "netns", "del", netns], capture_output=True)


@pytest.fixture(scope="session")
def sshd_fleet() -> Iterator[SshdFleet]:
    """The fleet with its first FLEET_SIZE servers running; stopped at the end."""
    fleet = SshdFleet.create()
    try:
        fleet.servers(FLEET_SIZE)
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture(scope="session")
def hidden_network(sshd_fleet: SshdFleet) -> Iterator[HiddenNetwork]:
    """A bastion, and a target sshd reachable only through it (see HiddenNetwork)."""
    tag = secrets.token_hex(4)
    netns, veth = f"shipbot-{tag}", f"sbv{tag}"
    # A private /30 on a veth that exists only for this run, inside our own namespace.
    subnet = f"10.254.{secrets.randbelow(256)}.{4 * secrets.randbelow(64)}"
    prefix, last = subnet.rsplit(".", 1)
    root_ip, ns_ip = f"{prefix}.{int(last) + 1}", f"{prefix}.{int(last) + 2}"
    _create_netns(netns, veth, root_ip, ns_ip)
    started: list[Sshd] = []
    try:
        # Nothing else lives in the new namespace, so any port is free there;
        # the target's port is also free here, so a direct try gets "refused".
        bastion = sshd_fleet.start("bastion", host=ns_ip, port=2222, netns=netns)
        started.append(bastion)
        target = sshd_fleet.start("hidden", port=free_port(), netns=netns)
        started.append(target)
        yield HiddenNetwork(netns, veth, bastion, target)
    finally:
        for sshd in started:
            sshd.stop()
        _delete_netns(netns, veth)
