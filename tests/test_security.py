"""Security regressions, one per class of hole, against the real CLI and the real
``shipbot serve`` process: secrets never reach a command, what is approved is
what runs, closed by default, bounded against hostile input."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import WriteManifest, app_config, fleet_file
from tests.infra.shipbot_server import Serve
from tests.infra.slack import SlackFake
from tests.infra.sshd import SshdFleet
from tests.infra.threads import CHANNEL, in_thread, posts
from tests.test_approvals import DEV, LEAD, approval_row, ask, deploys

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-secret-bot-token-1234",
    "SLACK_SIGNING_SECRET": "signing-secret-5678abcd",
    "SLACK_APP_TOKEN": "xapp-secret-app-token-9",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLESECRET",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-key-abcdefgh",
    "SSH_AUTH_SOCK": "/tmp/agent-socket-of-the-bot",
}


def run_cli(
    workdir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPBOT_", "SLACK_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=workdir,
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# 1. Deploy commands never see the bot's secrets (local and SSH), nor do reports.


def test_a_deploy_command_sees_a_minimal_environment_and_no_bot_secret(workdir: Path) -> None:
    app = app_config(
        servers=1,
        migrations=False,
        commands=["env > ENV", 'echo "token is $SLACK_BOT_TOKEN"; cat ../../../leak; exit 3'],
    )
    app["deploy"] |= {"env": {"APP_ENV": "production"}, "pass_env": ["RELEASE_CHANNEL"]}
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": app}}))
    (workdir / "leak").write_text(f"{SECRETS['SLACK_SIGNING_SECRET']}\n")
    env = SECRETS | {"RELEASE_CHANNEL": "stable", "UNRELATED_VAR": "x"}

    done = run_cli(workdir, "deploy", "shop", env=env)

    assert done.returncode == 1, done.stdout + done.stderr
    seen = dict(
        line.split("=", 1)
        for line in fleet_file(workdir, "web1", "ENV").read_text().splitlines()
        if "=" in line
    )
    assert not set(SECRETS) & set(seen), sorted(seen)
    assert "UNRELATED_VAR" not in seen
    assert seen["APP_ENV"] == "production" and seen["RELEASE_CHANNEL"] == "stable"
    assert seen["SHIPBOT_SERVER"] == "web1" and "PATH" in seen and "HOME" in seen
    history = run_cli(workdir, "history", "shop", env=env).stdout
    everything = (
        done.stdout
        + done.stderr
        + history
        + b"".join(p.read_bytes() for p in (workdir / ".shipbot").glob("shipbot.db*")).decode(
            "latin-1"
        )
    )
    for value in SECRETS.values():
        assert value not in everything


def test_the_manifest_cannot_pass_a_bot_credential_to_commands(workdir: Path) -> None:
    app = app_config()
    app["deploy"]["pass_env"] = ["SLACK_BOT_TOKEN"]
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": app}}))
    done = run_cli(workdir, "plan", "shop")
    assert done.returncode == 2
    assert (
        "apps.shop.deploy.pass_env[0]: SLACK_BOT_TOKEN is the bot's own credential" in done.stderr
    )


def test_an_ssh_deploy_command_sees_no_bot_secret(workdir: Path, sshd_fleet: SshdFleet) -> None:
    (web1,) = sshd_fleet.servers(1)
    remote = sshd_fleet.remote_dir()
    known = sshd_fleet.write_known_hosts(workdir / "known_hosts", [web1])
    (workdir / "ssh_config").write_text("")
    app = app_config(servers=1, migrations=False, lb="none", commands=[f"env > {remote}/ENV"])
    app["connection"] = {
        "type": "ssh",
        "user": sshd_fleet.username,
        "key_file": str(sshd_fleet.client_key),
        "known_hosts": str(known),
        "ssh_config": str(workdir / "ssh_config"),
    }
    app["servers"] = [{"name": "web1", "host": "127.0.0.1", "port": web1.port}]
    app["deploy"]["env"] = {"APP_ENV": "production"}
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": app}}))

    done = run_cli(workdir, "deploy", "shop", env=SECRETS)

    assert done.returncode == 0, done.stdout + done.stderr
    remote_env = (remote / "ENV").read_text()
    for name, value in SECRETS.items():
        assert value not in remote_env and f"{name}=" not in remote_env
    assert "APP_ENV=production" in remote_env and "SHIPBOT_SERVER=web1" in remote_env


# 2 and 3. What is approved is what runs, by people who may, at decision time.


def approval_manifest(workdir: Path, deployers: list[str]) -> None:
    app = app_config(servers=2, slack={"channel": CHANNEL})
    app["approval"] = {"required": True, "approvers": [LEAD], "timeout": "10m"}
    app["deployers"] = deployers
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": app}}))


def strategies_run(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT strategy FROM deploys ORDER BY id")]


def test_a_setting_changed_after_the_request_does_not_change_what_runs(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    approval_manifest(workdir, [DEV, LEAD])
    server = serve()
    _, ts = ask(server, slack_fake)  # the approver sees "serial"
    changed = server.sender.command("set deploy.parallel true", command="/settings", user=DEV)
    assert "deploy.parallel = true" in changed.json["text"]

    server.sender.reaction("white_check_mark", user=LEAD, channel=CHANNEL, ts=ts)

    slack_fake.wait_for(lambda cs: any("succeeded" in t for t in in_thread(cs, ts)), timeout=30)
    assert strategies_run(server.db) == ["serial"]  # what was approved, not the new setting


def test_a_manifest_changed_after_the_request_is_never_run_silently(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    approval_manifest(workdir, [DEV, LEAD])
    server = serve()
    approval_id, ts = ask(server, slack_fake)
    assert server.stop() == 0
    app = yaml.safe_load((workdir / "manifest.yml").read_text())
    app["apps"]["shop"]["servers"].append({"name": "web9"})
    app["apps"]["shop"]["deploy"]["commands"] = ["touch CHANGED"]
    (workdir / "manifest.yml").write_text(yaml.safe_dump(app))
    server.start()

    server.sender.reaction("white_check_mark", user=LEAD, channel=CHANNEL, ts=ts)

    calls = slack_fake.wait_for(
        lambda cs: any("plan changed" in t for t in in_thread(cs, ts)), timeout=20
    )
    (said,) = [t for t in in_thread(calls, ts) if "plan changed" in t]
    assert "servers: web1, web2 → web1, web2, web9" in said
    assert "steps (commands, timeouts or waits) changed" in said
    assert deploys(server.db) == []  # nothing ran
    # ... and it asks again, with the plan as it is now.
    calls = slack_fake.wait_for(
        lambda cs: any(not c.body.get("thread_ts") and c.ts != ts for c in posts(cs))
    )
    again = [c for c in posts(calls) if not c.body.get("thread_ts") and c.ts != ts]
    assert "web9" in str(again[-1].body["blocks"]) and "shipbot_approve" in str(again[-1].body)
    assert approval_row(server.db, approval_id)["status"] == "approved"


def test_a_requester_who_lost_the_right_to_deploy_is_refused_at_approval(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    approval_manifest(workdir, [DEV, LEAD])
    server = serve()
    _, ts = ask(server, slack_fake)
    assert server.stop() == 0
    approval_manifest(workdir, [LEAD])  # DEV is no longer a deployer
    server.start()

    server.sender.reaction("white_check_mark", user=LEAD, channel=CHANNEL, ts=ts)

    calls = slack_fake.wait_for(
        lambda cs: any("may no longer deploy" in t for t in in_thread(cs, ts)), timeout=20
    )
    assert any("<@U0DEV> may no longer deploy shop" in t for t in in_thread(calls, ts))
    time.sleep(0.5)
    assert deploys(server.db) == []


# 4. Closed by default.


def test_a_manifest_without_deployers_lets_nobody_deploy_and_serve_warns_about_open_apps(
    workdir: Path, serve: Serve
) -> None:
    closed = app_config(slack={"channel": CHANNEL})
    closed.pop("deployers", None)  # nobody was written
    open_app = app_config(root="fleet-blog") | {"deployers": ["*"], "slack": {"channel": "C0BLOG"}}
    (workdir / "manifest.yml").write_text(
        yaml.safe_dump({"apps": {"shop": closed, "blog": open_app}})
    )
    server = serve()

    refused = server.sender.command("shop", user=DEV)
    settings = server.sender.command("set deploy.parallel true", command="/settings", user=DEV)

    assert "refused: <@U0DEV> may not deploy shop (deployers: nobody)" in refused.json["text"]
    assert "refused: <@U0DEV> may not change settings of shop" in settings.json["text"]
    assert "blog is open to everyone: deployers" in server.logs
    assert "shop is open" not in server.logs


# 5. A replayed slash command runs once.


def test_the_same_signed_slash_command_sent_three_times_deploys_once(
    workdir: Path, write_manifest: WriteManifest, serve: Serve
) -> None:
    write_manifest(servers=1, migrations=False, deployers=["*"], slack={"channel": CHANNEL})
    server = serve()
    body, stamp = server.sender.command_body("shop"), int(time.time())

    def statuses() -> list[str]:
        with sqlite3.connect(server.db) as conn:
            return [row[0] for row in conn.execute("SELECT status FROM deploys")]

    first = server.sender.send(body, "application/x-www-form-urlencoded", timestamp=stamp)
    deadline = time.monotonic() + 20
    while statuses() != ["succeeded"]:
        assert time.monotonic() < deadline, statuses()
        time.sleep(0.05)
    # The same signed request again, still inside Slack's 5-minute window.
    replays = [
        server.sender.send(body, "application/x-www-form-urlencoded", timestamp=stamp)
        for _ in range(2)
    ]

    assert [a.status for a in [first, *replays]] == [200, 200, 200]
    time.sleep(2)
    assert statuses() == ["succeeded"]


# 6. Bounded input before authentication.


def process_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def test_a_huge_body_is_refused_at_once_and_idle_connections_hold_no_threads(
    workdir: Path, write_manifest: WriteManifest, serve: Serve
) -> None:
    write_manifest(servers=1, migrations=False, deployers=["*"], slack={"channel": CHANNEL})
    server = serve()
    assert server.process is not None
    pid = server.process.pid
    rss_before = process_status(pid, "VmRSS")

    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(10)
        head = (
            "POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
        )
        began = time.monotonic()
        sock.sendall(head.encode())
        with contextlib.suppress(OSError):  # it may close first; the answer is already there
            sock.sendall(b"x" * (1024 * 1024))
        answer = sock.recv(200).decode("latin-1")
        took = time.monotonic() - began
    assert answer.startswith("HTTP/1.1 413"), answer
    grew = process_status(pid, "VmRSS") - rss_before
    print(f"\n50 MB body: 413 in {took * 1000:.0f} ms, RSS grew {grew} kB")  # -s: for the notes
    assert took < 1.0
    assert grew < 20 * 1024  # kB

    marker = "BODY-MARKER-" + "z" * 40
    bad = server.sender.send(f'{{"x": "{marker}"}}', "application/json", secret="wrong")
    assert bad.status == 401 and marker not in server.logs

    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(500)]
    try:
        for sock in idle[:250]:
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        threads = process_status(pid, "Threads")
        answer_ok = server.sender.command("status")
        print(
            f"500 idle connections: {threads} threads, signed request acked in "
            f"{answer_ok.took * 1000:.0f} ms"
        )
        assert answer_ok.status == 200 and "shop" in answer_ok.json["text"]
        assert answer_ok.took < 3
        assert process_status(pid, "Threads") <= threads + 2 and threads < 80
    finally:
        for sock in idle:
            sock.close()


# 7. An accepted unknown host key is pinned.


def test_an_accepted_unknown_host_key_is_pinned_and_a_changed_one_refused(
    workdir: Path, sshd_fleet: SshdFleet
) -> None:
    first = sshd_fleet.start("pinme")
    remote = sshd_fleet.remote_dir()
    (workdir / "known_hosts").write_text("")
    (workdir / "ssh_config").write_text("")
    app = app_config(servers=1, migrations=False, lb="none", commands=[f"touch {remote}/ran"])
    app["connection"] = {
        "type": "ssh",
        "user": sshd_fleet.username,
        "key_file": str(sshd_fleet.client_key),
        "known_hosts": str(workdir / "known_hosts"),
        "ssh_config": str(workdir / "ssh_config"),
        "accept_unknown_host_keys": True,
    }
    app["servers"] = [{"name": "web1", "host": "127.0.0.1", "port": first.port}]
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": app}}))
    assert run_cli(workdir, "deploy", "shop").returncode == 0
    port = first.port
    first.stop()
    (remote / "ran").unlink()
    impostor = sshd_fleet.start("impostor", port=port)  # same address, another host key

    again = run_cli(workdir, "deploy", "shop")
    impostor.stop()

    assert again.returncode == 1
    out = again.stdout + again.stderr
    assert "HOST KEY CHANGED" in out and "pinned" in out
    assert not (remote / "ran").exists()


# 8. Hostile manifests and settings: one line, bounded.


BOMB = """\
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
apps: {shop: {servers: *g, deploy: {commands: *g}}}
"""


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (BOMB, "aliases"),
        ("apps: " + "[" * 5000 + "]" * 5000, "nested"),
        (
            "apps: {shop: {servers: [{name: a}], deploy: {commands: [x], timeout: 1e400}}}",
            "deploy.timeout",
        ),
        (
            "apps: {shop: {servers: [{name: a}], deploy: {commands: [x]}, "
            "approval: {timeout: 99999999999999999999h}}}",
            "approval.timeout",
        ),
    ],
    ids=["billion-laughs", "deep-nesting", "infinite-timeout", "huge-duration"],
)
def test_a_hostile_manifest_is_one_line_in_bounded_time(
    workdir: Path, text: str, said: str
) -> None:
    (workdir / "manifest.yml").write_text(text)
    began = time.monotonic()
    done = run_cli(workdir, "plan", "shop", timeout=60)
    assert time.monotonic() - began < 10
    assert done.returncode == 2, done.stderr[-500:]
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert said in done.stderr


@pytest.mark.parametrize("value", ["²", "١٢", "9" * 40, "1_000"])
def test_a_setting_that_looks_like_digits_is_one_line(
    workdir: Path, write_manifest: WriteManifest, value: str
) -> None:
    write_manifest()
    done = run_cli(workdir, "settings", "set", "-s", "shop", "deploy.max_parallel", value)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "deploy.max_parallel: expected an integer" in done.stderr


# 9. Output is bounded and terminals get no control characters.


def test_a_command_printing_hundreds_of_megabytes_keeps_memory_bounded(
    workdir: Path, write_manifest: WriteManifest
) -> None:
    write_manifest(
        servers=1,
        migrations=False,
        commands=["head -c 300000000 /dev/zero | tr '\\0' a; echo; echo last-line"],
    )
    # A fresh parent whose only child is the CLI, so its peak RSS is the CLI's alone.
    measure = (
        "import resource, subprocess, sys; "
        "code = subprocess.run([sys.executable, '-m', 'bot', 'deploy', 'shop'], "
        "stdout=subprocess.DEVNULL).returncode; "
        "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run(
        [sys.executable, "-c", measure], cwd=workdir, capture_output=True, text=True, timeout=120
    )
    code, peak_kb = (int(word) for word in done.stdout.split())
    assert code == 0, done.stderr[-300:]
    print(f"\n300 MB of output: shipbot's peak RSS {peak_kb / 1024:.0f} MB")  # -s: for the notes
    assert peak_kb < 150 * 1024, f"peak RSS {peak_kb // 1024} MB"


def test_control_characters_from_commands_never_reach_the_terminal(
    workdir: Path, write_manifest: WriteManifest
) -> None:
    write_manifest(
        servers=1, migrations=False, commands=["printf 'ok\\033]0;pwned\\007\\033[2J\\n'; exit 1"]
    )
    done = run_cli(workdir, "deploy", "shop")
    assert done.returncode == 1
    assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout
    assert "ok\\x1b]0;pwned\\x07\\x1b[2J" in done.stdout


# 10. State on disk.


def test_the_state_directory_and_database_are_private(workdir: Path) -> None:
    done = run_cli(workdir, "status")
    assert done.returncode == 0, done.stderr
    state = workdir / ".shipbot"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for path in state.glob("shipbot.db*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize("damage", ["corrupt", "read-only"])
def test_a_damaged_database_is_one_line(
    workdir: Path, write_manifest: WriteManifest, damage: str
) -> None:
    write_manifest()
    db = workdir / "state.db"
    if damage == "corrupt":
        db.write_bytes(b"this is not a database at all\n" * 100)
    else:
        assert run_cli(workdir, "--db", str(db), "status").returncode == 0
        # Root ignores file modes; an immutable file it cannot write either.
        subprocess.run(["chattr", "+i", str(db)], check=True)
    try:
        done = run_cli(workdir, "--db", str(db), "deploy", "shop")
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert str(db) in done.stderr


def test_revoked_host_keys_are_refused_and_cert_authorities_do_not_break_the_rest(
    workdir: Path, sshd_fleet: SshdFleet
) -> None:
    web1, web2 = sshd_fleet.servers(2)
    remote = sshd_fleet.remote_dir()
    (workdir / "ssh_config").write_text("")
    (workdir / "known_hosts").write_text(
        f"@cert-authority *.example.com {web1.host_key}\n"
        f"{web1.known_hosts_line}\n{web2.known_hosts_line}\n"
        f"@revoked [127.0.0.1]:{web2.port} {web2.host_key}\n"
    )
    app = app_config(
        servers=2, migrations=False, lb="none", commands=[f"touch {remote}/$SHIPBOT_SERVER"]
    )
    app["connection"] = {
        "type": "ssh",
        "user": sshd_fleet.username,
        "key_file": str(sshd_fleet.client_key),
        "known_hosts": str(workdir / "known_hosts"),
        "ssh_config": str(workdir / "ssh_config"),
    }
    app["servers"] = [
        {"name": "web1", "host": "127.0.0.1", "port": web1.port},
        {"name": "web2", "host": "127.0.0.1", "port": web2.port},
    ]
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": app}}))

    done = run_cli(workdir, "deploy", "shop", "--parallel", "--force")

    assert done.returncode == 0, done.stdout + done.stderr
    assert (remote / "web1").exists() and not (remote / "web2").exists()
    assert "host key of [127.0.0.1]:" in done.stdout and "is REVOKED" in done.stdout


def test_hashed_known_hosts_are_trusted_and_a_changed_key_under_a_hash_is_refused(
    workdir: Path, sshd_fleet: SshdFleet
) -> None:
    web1, web2, web3 = sshd_fleet.servers(3)
    remote = sshd_fleet.remote_dir()
    known = workdir / "known_hosts"
    # web3's line carries web1's key: under its hashed name, a changed key.
    wrong = web3.known_hosts_line.split()[0] + " " + web1.host_key
    known.write_text(f"{web1.known_hosts_line}\n{web2.known_hosts_line}\n{wrong}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True, capture_output=True)
    assert "127.0.0.1" not in known.read_text()  # every name is hashed now
    app = app_config(
        servers=3, migrations=False, lb="none", commands=[f"touch {remote}/$SHIPBOT_SERVER"]
    )
    app["connection"] = {
        "type": "ssh",
        "user": sshd_fleet.username,
        "key_file": str(sshd_fleet.client_key),
        "known_hosts": str(known),
    }
    app["servers"] = [
        {"name": f"web{i}", "host": "127.0.0.1", "port": server.port}
        for i, server in enumerate((web1, web2, web3), start=1)
    ]
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": app}}))

    done = run_cli(workdir, "deploy", "shop", "--parallel", "--force")

    assert done.returncode == 0, done.stdout + done.stderr
    assert (remote / "web1").exists() and (remote / "web2").exists()
    assert not (remote / "web3").exists()
    assert f"HOST KEY CHANGED for 127.0.0.1:{web3.port}" in done.stdout
    assert f"-R '[127.0.0.1]:{web3.port}'" in done.stdout  # the name ssh-keygen -R removes


# 11. A lock held from another PID namespace is never broken while it lives.


HOLDER = """
import sys, time
from datetime import UTC, datetime, timedelta
from adapters.sqlite_store import SqliteStore
from strategies.records import NewDeploy
store = SqliteStore(sys.argv[1])
now = datetime.now(UTC)
deploy = NewDeploy("shop", "serial", "r", "main", "nsuser", ("web1",), now, (("command",),),
                   lease_until=now + timedelta(seconds=30))
deploy_id = store.begin_deploy(deploy, holder="nsuser")
print("held", flush=True)
for _ in range(60):
    store.renew_lease(deploy_id, datetime.now(UTC) + timedelta(seconds=30))
    time.sleep(0.5)
"""


def test_a_lock_held_from_another_pid_namespace_is_not_broken(
    workdir: Path, write_manifest: WriteManifest
) -> None:
    write_manifest()
    db = workdir / ".shipbot" / "shipbot.db"
    run_cli(workdir, "status")
    holder = subprocess.Popen(
        # In its own PID namespace, at a pid that does not exist out here.
        [
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            'echo 99990 > /proc/sys/kernel/ns_last_pid; "$0" -c "$1" "$2"',
            sys.executable,
            HOLDER,
            str(db),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        done = run_cli(workdir, "deploy", "shop")
        assert done.returncode == 1
        assert "refused: deploy of shop in progress by nsuser" in done.stderr
        assert not fleet_file(workdir, "web1").exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)


# 12. Pending approvals hold no worker, and one person cannot flood them.


def test_pending_approvals_hold_no_worker_and_are_limited_per_person(
    workdir: Path, serve: Serve, slack_fake: SlackFake
) -> None:
    shop = app_config(slack={"channel": CHANNEL}) | {"deployers": ["*"]}
    shop["approval"] = {"required": True, "approvers": [LEAD], "timeout": "10m"}
    blog = app_config(servers=1, migrations=False, root="fleet-blog", slack={"channel": "C0BLOG"})
    blog["deployers"] = ["*"]
    (workdir / "manifest.yml").write_text(yaml.safe_dump({"apps": {"shop": shop, "blog": blog}}))
    server = serve("--workers", "2")

    answers = [server.sender.command("shop", user=f"U0P{n:02d}") for n in range(12)]
    flood = [server.sender.command("shop", user="U0FLOOD") for _ in range(5)]
    began = time.monotonic()
    other = server.sender.command("blog", channel="C0BLOG")
    slack_fake.wait_for(lambda cs: bool([c for c in posts(cs) if c.body["channel"] == "C0BLOG"]))
    started_after = time.monotonic() - began

    assert all("needs approval" in a.json["text"] for a in answers)
    assert [("needs approval" in a.json["text"]) for a in flood] == [True] * 3 + [False] * 2
    assert "already has 3 deploys of shop waiting for approval" in flood[-1].json["text"]
    assert other.json["text"] == "Planning deploy of blog (serial)…"
    # Twelve requests post at Slack's pace in their channel (seconds); blog's deploy
    # does not wait for them.
    assert started_after < 3, started_after
