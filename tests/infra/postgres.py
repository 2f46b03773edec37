"""Fixture: a real PostgreSQL server, started by the test run itself.

Recipe from shared TESTBED.md: Debian's binaries in /usr/lib/postgresql/N/bin,
``initdb`` and ``pg_ctl`` run as a non-root system user (PostgreSQL refuses
root) in a temporary directory it owns, on a free loopback port, fsync off
(tests only). One server per test session; each test gets a fresh database.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "shipbot-pg"
_databases = itertools.count(1)


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail("PostgreSQL is missing: install the postgresql package (make test does)")
    return Path(found[-1]).parent


def _system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        done = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            capture_output=True,
            text=True,
        )
        if done.returncode not in (0, 9):
            pytest.fail(f"useradd {USER} failed: {done.stderr.strip()}")
        return pwd.getpwnam(USER)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Postgres:
    directory: Path
    port: int
    bin: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", self.url(database), "-c", sql],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"shipbot_{os.getpid()}_{next(_databases)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def _as_user(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", USER, "--", *args], capture_output=True, text=True, timeout=120
        )

    def start(self, *, durable: bool = False) -> None:
        """initdb and start; fsync and synchronous commit off unless ``durable``
        (a benchmark measures what production pays)."""
        data = self.directory / "data"
        done = self._as_user(
            str(self.bin / "initdb"), "-D", str(data), "-U", USER, "-A", "trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"initdb failed: {done.stderr.strip()}")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c max_connections=200"
        )
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off"
        done = self._as_user(
            str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.directory / "log"),
            "-w", "-t", "60", "-o", options, "start",
        )  # fmt: skip
        if done.returncode != 0:
            log = (self.directory / "log").read_text(errors="replace")
            pytest.fail(f"pg_ctl start failed: {done.stderr.strip()}\n{log}")

    def stop(self) -> None:
        data = str(self.directory / "data")
        self._as_user(str(self.bin / "pg_ctl"), "-D", data, "-m", "fast", "stop")


@contextlib.contextmanager
def running_postgres(*, durable: bool = False) -> Iterator[Postgres]:
    """A PostgreSQL server in a temporary directory, stopped and removed at the end."""
    if shutil.which("psql") is None:
        pytest.fail("psql is missing: install the postgresql package (make test does)")
    user = _system_user()
    directory = Path(tempfile.mkdtemp(prefix="shipbot-pg-"))
    os.chown(directory, user.pw_uid, user.pw_gid)
    server = Postgres(directory, _free_port(), _bin_dir())
    try:
        server.start(durable=durable)
        yield server
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(directory)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A running PostgreSQL server for the whole session; stopped at the end."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: Postgres) -> str:
    """A fresh database on the session's server."""
    return postgres.new_database()
