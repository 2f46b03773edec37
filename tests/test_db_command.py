"""``shipbot db migrate`` / ``shipbot db check`` as an operator runs them, on both
engines, and ``GET /healthz`` while the database goes away and comes back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from adapters.store_schema import MIGRATIONS
from adapters.stores import open_store
from tests.conftest import WriteManifest
from tests.infra.postgres import Postgres
from tests.infra.shipbot_server import Serve

KNOWN = len(MIGRATIONS)


def db(workdir: Path, location: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPBOT_", "SLACK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "--db", location, "db", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_reports_a_missing_file_and_changes_nothing(workdir: Path) -> None:
    checked = db(workdir, "state/none.db", "check")

    assert checked.returncode == 1
    assert (
        checked.stdout
        == "error: state/none.db: no database there (shipbot db migrate creates it)\n"
    )
    assert not (workdir / "state").exists()


def test_migrate_then_check_on_either_engine(workdir: Path, store_location: str) -> None:
    migrated = db(workdir, store_location, "migrate")
    again = db(workdir, store_location, "migrate")
    store = open_store(store_location)
    me = store.register_process("serve", datetime.now(UTC))
    gone = store.register_process("socket", datetime.now(UTC))
    store.retire_process(gone, datetime.now(UTC))

    checked = db(workdir, store_location, "check")
    store.close()

    assert (
        migrated.returncode == 0
        and f"applied {KNOWN} migrations: create_settings" in migrated.stdout
    )
    assert again.stdout.endswith(f"schema up to date ({KNOWN} migrations)\n")
    assert checked.returncode == 0, checked.stdout
    lines = checked.stdout.splitlines()
    assert lines[0].startswith("database   ") and "reachable (opened in " in lines[0]
    assert lines[1] == f"schema     up to date ({KNOWN} migrations)"
    host = os.uname().nodename
    assert sorted(line.rsplit(", last heartbeat", 1)[0] for line in lines[2:]) == [
        f"replica    serve pid {os.getpid()} on {host}: running",
        f"replica    socket pid {os.getpid()} on {host}: stopped",
    ]
    assert me != gone


def test_check_names_pending_and_unknown_migrations(workdir: Path, store_location: str) -> None:
    store = open_store(store_location)
    store._execute("DELETE FROM _migrations WHERE name = 'add_requests_to_deploys'", [])  # type: ignore[attr-defined]
    store._execute("INSERT INTO _migrations VALUES ('from_the_future', 'x')", [])  # type: ignore[attr-defined]
    store.close()

    checked = db(workdir, store_location, "check")

    assert checked.returncode == 1
    assert (
        f"schema     {KNOWN - 1} migrations applied, 1 pending (add_requests_to_deploys): "
        "run shipbot db migrate"
    ) in checked.stdout
    assert "applied by a newer shipbot: from_the_future (upgrade this one)" in checked.stdout


def test_replicas_migrating_a_new_database_at_once_all_succeed(
    workdir: Path, postgres: Postgres
) -> None:
    url = postgres.new_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPBOT_", "SLACK_"))}
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "--db", url, "db", "migrate"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [child.communicate(timeout=120)[0] for child in children]

    assert [child.returncode for child in children] == [0] * 4
    assert sum(f"applied {KNOWN} migrations" in out for out in outputs) == 1, outputs
    names = postgres.psql("SELECT name FROM _migrations", url.rsplit("/", 1)[1]).split()
    assert sorted(names) == sorted(m.__name__ for m in MIGRATIONS)


def test_an_unreachable_server_is_one_line_without_the_password(workdir: Path) -> None:
    checked = db(workdir, "postgresql://ops:s3cret-pw@127.0.0.1:1/shipbot", "check")

    assert checked.returncode == 1
    assert checked.stdout.startswith("error: postgresql://ops@127.0.0.1:1/shipbot: cannot use")
    assert len(checked.stdout.splitlines()) == 1
    assert "s3cret" not in checked.stdout + checked.stderr


def health(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_healthz_says_503_while_the_database_is_unreachable_and_recovers(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, postgres: Postgres
) -> None:
    write_manifest()
    url = postgres.new_database()
    name = url.rsplit("/", 1)[1]
    server = serve(db=url)
    assert health(server.base) == 200

    # The database refuses connections and drops the bot's: as a failover would.
    postgres.psql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    postgres.psql(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )
    down = health(server.base)
    postgres.psql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    deadline = time.monotonic() + 20
    while health(server.base) != 200:
        assert time.monotonic() < deadline, server.logs
        time.sleep(0.2)

    assert down == 503
    assert server.sender.command("status shop").status == 200  # and it works again
