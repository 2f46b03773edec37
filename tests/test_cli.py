"""The terminal front ends, driven as a user drives them: real processes."""

from __future__ import annotations

import getpass
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import Run, WriteManifest, app_config, fleet_file


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def index_of(lines: list[str], needle: str) -> int:
    for index, line in enumerate(lines):
        if needle in line:
            return index
    raise AssertionError(f"{needle!r} not in output:\n" + "\n".join(lines))


def test_shell_serial_deploy_of_the_example_app_shows_each_server_in_order(
    workdir: Path, shipbot: Run
) -> None:
    done = shipbot("shell", input="/deploy shop --serial\n")

    assert done.returncode == 0, done.stderr
    lines = lines_of(done.stdout)
    assert "Deploy #1 of shop @ main, serial — one-off override --serial" in lines[1]
    previous = 0
    for server in ("web1", "web2", "web3"):
        removed = index_of(lines, f"{server}: removed from the load balancer")
        deployed = index_of(lines, f"{server}: deployed main")
        added = index_of(lines, f"{server}: added back to the load balancer")
        assert previous < removed < deployed < added
        previous = added
    summary = index_of(lines, "└ Deploy #1 of shop succeeded in")
    assert summary > previous
    assert re.search(r"succeeded in \d+\.\ds: 3 ok", lines[summary])
    assert sum("migrations ran once" in line for line in lines) == 1
    fleet = workdir / ".shipbot" / "fleet" / "shop"
    assert (fleet / "web1" / "migrations.log").read_text().count("migrated") == 1
    assert not (fleet / "web2" / "migrations.log").exists()
    for server in ("web1", "web2", "web3"):
        assert (fleet / server / "RELEASE").read_text() == f"{server} main\n"


def test_setting_parallel_changes_the_plan_and_serial_overrides_it_once(shipbot: Run) -> None:
    done = shipbot("settings", "set", "-s", "shop", "deploy.parallel", "true")
    assert done.returncode == 0, done.stderr
    assert "shop: deploy.parallel = true (was false)" in done.stdout

    parallel = shipbot("plan", "shop")
    assert parallel.returncode == 0, parallel.stderr
    assert "strategy: parallel — setting deploy.parallel is true (set by " in parallel.stdout
    assert "advisable to deploy in serial" in parallel.stdout

    serial = shipbot("plan", "shop", "--serial")
    assert serial.returncode == 0, serial.stderr
    assert "strategy: serial — one-off override --serial" in serial.stdout
    assert "(1s + 1s) per server x 3 servers = 6.0s" in serial.stdout

    # The override was for one deploy only: the setting still decides.
    assert "strategy: parallel" in shipbot("plan", "shop").stdout
    got = shipbot("settings", "get", "-s", "shop", "deploy.parallel")
    who = getpass.getuser()
    assert f"deploy.parallel = true (set by {who} from the terminal on " in got.stdout
    assert got.stdout.rstrip().endswith(" UTC; default false)")


def test_console_and_terminal_changes_are_kept_and_say_whether_anyone_is_told(
    write_manifest: WriteManifest, shipbot: Run
) -> None:
    write_manifest(slack={"channel": "C0DEPLOYS"})
    console = shipbot(
        "shell",
        input="/settings set deploy.max_parallel 2\n/settings set deploy.max_parallel 2\n",
    )
    assert console.returncode == 0, console.stderr
    assert "shop: deploy.max_parallel = 2 (was 0). Next parallel deploys of shop" in console.stdout
    assert "No Slack bot runs on this store now: it is announced in C0DEPLOYS when one" in (
        console.stdout
    )
    assert "shop: deploy.max_parallel is already 2; nothing changed" in console.stdout

    write_manifest()  # no channel bound any more
    unset = shipbot("settings", "unset", "-s", "shop", "deploy.max_parallel")
    assert "Not announced: shop has no Slack channel" in unset.stdout
    history = shipbot("settings", "history", "-s", "shop", "deploy.max_parallel")
    lines = history.stdout.splitlines()
    assert len(lines) == 3 and "2 → 0 (default)" in lines[1] and "from the terminal" in lines[1]
    assert lines[2].endswith(" in the console chat") and "0 (default) → 2" in lines[2]
    none = shipbot("settings", "history", "-s", "shop", "deploy.parallel")
    assert none.stdout == "no setting of shop deploy.parallel was ever changed\n"
    bad = shipbot("settings", "history", "-s", "shop", "deploy.nope")
    assert (bad.returncode, bad.stderr.count("\n")) == (2, 1)
    assert bad.stderr.startswith("error: unknown setting 'deploy.nope'")


FAIL_ON_WEB2 = [
    'test "$SHIPBOT_SERVER" != web2 || { echo "v7"; echo "boom: disk full" >&2; exit 3; }',
    'echo "$SHIPBOT_REF" > RELEASE',
]


def test_serial_failure_on_second_server_stops_and_history_says_where_each_server_is(
    workdir: Path, write_manifest: WriteManifest, shipbot: Run
) -> None:
    write_manifest(commands=FAIL_ON_WEB2)

    done = shipbot("deploy", "shop")

    assert done.returncode == 1
    assert "web2: FAILED" in done.stdout and "exit 3" in done.stdout
    assert "boom: disk full" in done.stdout  # the tail of the failing output
    assert fleet_file(workdir, "web1").exists()
    assert not fleet_file(workdir, "web2").exists()
    assert not (workdir / "fleet" / "shop" / "web3").exists()  # never touched

    history = shipbot("history", "shop")
    assert history.returncode == 0
    text = history.stdout
    assert "#1" in text and ": failed" in text
    assert "web1: ok, in the load balancer" in text
    assert re.search(r"web2: FAILED \(`test .*`: exit 3\), OUT of the load balancer", text)
    assert "web3: untouched (web2 failed)" in text


def test_sticky_waits_survive_removal_from_the_manifest_until_set_to_zero(
    workdir: Path, write_manifest: WriteManifest, shipbot: Run
) -> None:
    write_manifest(wait_removing=0.2, wait_adding=0.1)
    assert shipbot("deploy", "shop").returncode == 0

    write_manifest(wait_removing=None, wait_adding=None)
    plan = shipbot("plan", "shop").stdout
    assert re.search(
        r"wait_after_removing_servers: 0\.2s — applied by deploy #1 on \d{4}-\d\d-\d\d; "
        r"set it to 0 in the manifest to remove",
        plan,
    )
    assert "wait_after_adding_servers: 0.1s — applied by deploy #1" in plan
    assert "(0.2s + 0.1s) per server x 3 servers" in plan

    write_manifest(wait_removing=0, wait_adding=None)
    plan = shipbot("plan", "shop").stdout
    assert "wait_after_removing_servers: 0s — from manifest (0 clears the value 0.2s" in plan
    assert shipbot("deploy", "shop").returncode == 0  # deploy #2 applies the 0

    write_manifest(wait_removing=None, wait_adding=None)
    plan = shipbot("plan", "shop").stdout
    assert "wait_after_removing_servers: 0s — default (not set)" in plan
    assert "wait_after_adding_servers: 0.1s — applied by deploy #1" in plan  # never cleared


def test_two_deploys_started_together_one_runs_the_other_is_refused(
    workdir: Path, write_manifest: WriteManifest
) -> None:
    write_manifest(commands=["sleep 1.5", 'echo "$SHIPBOT_REF" > RELEASE'])
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "deploy", "shop"],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]

    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1]
    refused = next(err for code, _, err in results if code == 1)
    assert re.fullmatch(
        r"refused: deploy of shop in progress by \S+ since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
        r"\(deploy #\d\)\n",
        refused,
    )
    db = sqlite3.connect(workdir / ".shipbot" / "shipbot.db")
    assert db.execute("select count(*), max(status) from deploys").fetchone() == (1, "succeeded")


def snapshot(workdir: Path) -> tuple[list[str], list[str]]:
    db_path = workdir / ".shipbot" / "shipbot.db"
    dump = list(sqlite3.connect(db_path).iterdump()) if db_path.exists() else []
    files = sorted(
        str(p.relative_to(workdir)) for p in workdir.rglob("*") if "shipbot.db" not in p.name
    )
    return dump, files


BAD_INPUTS = [
    (["deploy", "nope"], "unknown app 'nope' (apps: shop)"),
    (["settings", "set", "-s", "shop", "deploy.bogus", "1"], "unknown setting 'deploy.bogus'"),
    (
        ["settings", "set", "-s", "shop", "deploy.parallel", "maybe"],
        "deploy.parallel: expected true or false, got 'maybe'",
    ),
    (["deploy", "shop", "--ref", "$(reboot)"], "not a valid git ref name"),
    (["deploy", "shop", "--ref", "main;touch pwned"], "not a valid git ref name"),
    (["deploy", "shop", "--servers", "web1,web9"], "unknown server 'web9'"),
    (["deploy", "shop", "--serial", "--parallel"], "--serial"),
    (
        ["settings", "set", "-s", "shop", "deploy.max_parallel", "many"],
        "expected an integer from 0 to 999,999",
    ),
    (
        ["settings", "set", "-s", "shop", "deploy.max_parallel", "-3"],
        "deploy.max_parallel: expected an integer from 0 to 999,999, got '-3'",
    ),
    (["frobnicate"], "unknown command"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS, ids=lambda v: str(v)[:40])
def test_bad_input_gets_one_clear_line_and_changes_nothing(
    workdir: Path, write_manifest: WriteManifest, shipbot: Run, args: list[str], message: str
) -> None:
    write_manifest()
    assert shipbot("settings", "set", "-s", "shop", "deploy.max_parallel", "2").returncode == 0
    before = snapshot(workdir)

    done = shipbot(*args)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    if args[0] != "frobnicate":
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert snapshot(workdir) == before
    assert not (workdir / "pwned").exists()


def test_manifest_with_a_wrong_type_is_refused_with_the_path(workdir: Path, shipbot: Run) -> None:
    config = app_config()
    config["servers"][1]["port"] = "twenty-two"
    (workdir / "bad.yml").write_text(yaml.safe_dump({"apps": {"shop": config}}))

    done = shipbot("--manifest", "bad.yml", "plan", "shop")

    assert done.returncode == 2
    assert done.stderr.strip() == "error: bad.yml: apps.shop.servers[1].port: expected an integer"
    assert not (workdir / ".shipbot").exists()


def test_shell_refuses_an_injection_attempt_and_runs_nothing(
    workdir: Path, write_manifest: WriteManifest, shipbot: Run
) -> None:
    write_manifest()

    done = shipbot("shell", input="/deploy shop --ref 'main$(touch pwned)'\n/deploy status\n")

    assert done.returncode == 2
    assert "not a valid git ref name" in done.stdout
    assert "shop: idle; never deployed" in done.stdout
    assert not (workdir / "pwned").exists()
    assert not (workdir / "fleet").exists()


def test_status_and_cancel_from_another_terminal_reach_a_running_deploy(
    workdir: Path, write_manifest: WriteManifest, shipbot: Run
) -> None:
    write_manifest(commands=["sleep 2"], migrations=False)
    deploy = subprocess.Popen(
        [sys.executable, "-m", "bot", "deploy", "shop"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(100):
        status = shipbot("status", "shop").stdout
        if "running since" in status:
            break
    assert re.search(r"shop: deploy #1 @ main \(serial\) running since .* by \S+, [01]/3", status)

    cancel = shipbot("cancel", "shop")
    out, _ = deploy.communicate(timeout=60)

    assert cancel.returncode == 0 and "cancel requested for deploy #1" in cancel.stdout
    assert deploy.returncode == 1
    assert "Deploy #1 of shop cancelled" in out
    history = shipbot("history", "shop").stdout
    assert ": cancelled" in history
    assert "OUT of the load balancer" not in history  # nobody is left out
    assert "untouched (the deploy was cancelled)" in history
    assert shipbot("cancel", "shop").stdout.strip() == "no deploy of shop is running"
