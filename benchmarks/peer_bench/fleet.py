"""The benchmark's loopback fleet: one sshd per port, on top of the tests' SshdFleet.

Reuses ``tests.infra.sshd`` (a non-root deploy user of its own, ed25519 keys, host keys
in a known_hosts file). Each server gets its own directory in the deploy
user's home, named after the server (sshd sets ``FLEET_HOST`` in its
sessions), so a file written by a job proves which server ran it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.infra.sshd import Sshd, SshdFleet

BENCH_USER = "shipbot-bench"  # its own user and home: the tests' deploy user is left alone
LIGHT_SHELLS = ("/bin/sh", "/bin/dash", "/usr/bin/dash")


@dataclass
class BenchFleet:
    """``size`` sshd processes started up front; every run uses the first N of them."""

    fleet: SshdFleet
    servers: list[Sshd]
    known_hosts: Path
    work: Path  # the harness's own scratch directory (manifests, inventories, dbs)

    @classmethod
    def start(cls, size: int, work: Path) -> BenchFleet:
        fleet = SshdFleet.create(BENCH_USER)
        try:
            servers = fleet.servers(size)
            known_hosts = fleet.write_known_hosts(work / "known_hosts", servers)
            bench = cls(fleet, servers, known_hosts, work)
            bench.reset_homes()
            return bench
        except BaseException:
            fleet.stop()
            raise

    @property
    def user(self) -> str:
        return self.fleet.username

    @property
    def key(self) -> Path:
        return self.fleet.client_key

    @property
    def home(self) -> Path:
        return Path(self.fleet.user.pw_dir)

    @property
    def pids(self) -> set[int]:
        return {s.process.pid for s in self.servers}

    def first(self, count: int) -> list[Sshd]:
        return self.servers[:count]

    def server_dir(self, server: Sshd) -> Path:
        return self.home / server.name

    def reset_homes(self) -> None:
        """A fresh, deploy-user-owned directory per server (what the jobs write into)."""
        uid, gid = self.fleet.user.pw_uid, self.fleet.user.pw_gid
        for server in self.servers:
            path = self.server_dir(server)
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            os.chown(path, uid, gid)

    def logins(self, count: int) -> list[int]:
        """Logins so far on each of the first ``count`` servers (from the sshd logs)."""
        return [s.logins() for s in self.first(count)]

    def shell_notes(self) -> list[str]:
        """Why the deploy user's sessions start light (or what makes them heavy)."""
        shell = self.fleet.user.pw_shell
        notes = [f"deploy user {self.user}, shell {shell}"]
        if shell not in LIGHT_SHELLS:
            notes.append(f"WARNING: {shell} may read start-up files for each command")
        for rc in (self.home / ".ssh" / "rc", Path("/etc/ssh/sshrc")):
            if rc.exists():
                notes.append(f"WARNING: {rc} runs at every login")
        notes.append("commands run as `sh -c` (not a login shell): no profile or rc files read")
        return notes

    def stop(self) -> None:
        self.fleet.stop()
        for server in self.servers:
            shutil.rmtree(self.server_dir(server), ignore_errors=True)
