"""``shipbot socket`` driven as Slack drives it: envelopes in over a WebSocket,
acks back on it, Web API calls out.

Each test starts the real process against the Web API fake and the Socket
Mode fake, with a local fleet behind the in-memory load balancer.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import WriteManifest, fleet_file
from tests.infra.postgres import Postgres
from tests.infra.shipbot_server import BOT_TOKEN, START_TIMEOUT, stop_process
from tests.infra.slack import Call, SlackFake
from tests.infra.slack_socket import SocketModeFake
from tests.infra.stores import table_rows

APP_TOKEN = "xapp-1-A0SHIPBOT-1-test"
CHANNEL = "C0DEPLOYS"
DEV, LEAD = "U0DEV", "U0LEAD"


class ShipbotSocket:
    """``python -m bot … socket`` as a real process, stopped by its PID."""

    def __init__(
        self,
        workdir: Path,
        api_url: str,
        link: SocketModeFake,
        db: str | None = None,
        name: str = "socket",
    ) -> None:
        self.workdir = workdir
        self.db = db or str(workdir / "shipbot.db")
        self.log = workdir / f"{name}.log"
        self.link = link
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPBOT_", "SLACK_"))}
        env |= {
            "SLACK_API_URL": api_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
        }
        command = [sys.executable, "-m", "bot", "--manifest", str(workdir / "manifest.yml")]
        command += ["--db", self.db, "socket"]
        with self.log.open("ab") as log:
            self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
                command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_connected(self, connections: int = 1) -> float:
        """Poll until the fake holds ``connections`` greeted ones; the seconds it took."""
        began = time.monotonic()
        while self.link.connected < connections:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"shipbot socket exited {self.process.returncode}:\n{self.logs}"
                )
            if time.monotonic() - began > START_TIMEOUT:
                raise AssertionError(
                    f"shipbot socket not connected in {START_TIMEOUT}s:\n{self.logs}"
                )
            time.sleep(0.02)
        return time.monotonic() - began

    def stop(self) -> int | None:
        """SIGTERM, wait, SIGKILL; the exit status (None if it had to be killed)."""
        process, self.process = self.process, None
        return stop_process(process)

    @property
    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


StartBot = Callable[..., ShipbotSocket]


@pytest.fixture
def socket_bot(
    workdir: Path, slack_fake: SlackFake, slack_socket: SocketModeFake
) -> Iterator[StartBot]:
    started: list[ShipbotSocket] = []

    def start(db: str | None = None, name: str = "socket") -> ShipbotSocket:
        bot = ShipbotSocket(workdir, slack_fake.url, slack_socket, db, name)
        started.append(bot)
        bot.wait_connected(len(started))
        return bot

    yield start
    for bot in started:
        bot.stop()


def posts(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.method == "chat.postMessage"]


def in_thread(calls: list[Call], ts: str) -> list[str]:
    return [str(c.body["text"]) for c in posts(calls) if c.body.get("thread_ts") == ts]


def test_a_deploy_command_over_the_socket_is_acked_on_it_and_threads_its_progress(
    workdir: Path,
    write_manifest: WriteManifest,
    slack_fake: SlackFake,
    slack_socket: SocketModeFake,
    socket_bot: StartBot,
) -> None:
    write_manifest(slack={"channel": CHANNEL})
    bot = socket_bot()
    opened = slack_fake.calls_to("apps.connections.open")
    assert [(c.path, c.token) for c in opened] == [("/api/apps.connections.open", APP_TOKEN)]

    envelope = slack_socket.slash_command("shop --serial", response_url=slack_fake.response_url())

    ack = slack_socket.wait_ack(envelope)
    assert ack.payload == {
        "response_type": "ephemeral",
        "text": "Planning deploy of shop (serial)…",
    }
    calls = slack_fake.wait_for(
        lambda cs: (
            any("succeeded" in str(c.body.get("text")) for c in posts(cs))
            and any(c.method == "chat.update" for c in cs)
        ),
        timeout=30,
    )
    (parent,) = [c for c in posts(calls) if not c.body.get("thread_ts")]
    assert (parent.body["channel"], parent.token) == (CHANNEL, BOT_TOKEN)
    # The parent's ts is the one its progress updates edit.
    (parent_ts,) = {c.body["ts"] for c in calls if c.method == "chat.update"}
    replies = [c for c in posts(calls) if c.body.get("thread_ts")]
    assert replies and {c.body["thread_ts"] for c in replies} == {parent_ts}
    assert "succeeded" in str(replies[-1].body["text"])
    for server in ("web1", "web2", "web3"):
        assert fleet_file(workdir, server).read_text() == f"shop {server} main\n"
    assert len(slack_socket.acks(envelope)) == 1
    assert bot.stop() == 0, bot.logs
    assert "connected to Slack over Socket Mode" in bot.logs


def approval_ts(db: str, timeout: float = 20) -> str:
    """The approval request's message ts, as the bot stored it (either engine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = table_rows(db, "SELECT message_ts FROM approvals")
        if rows and rows[0]["message_ts"]:
            return str(rows[0]["message_ts"])
        time.sleep(0.05)
    raise AssertionError(f"no approval request message in {timeout}s")


def test_an_approvers_reaction_event_over_the_socket_starts_the_deploy(
    workdir: Path,
    write_manifest: WriteManifest,
    slack_fake: SlackFake,
    slack_socket: SocketModeFake,
    socket_bot: StartBot,
) -> None:
    write_manifest(
        slack={"channel": CHANNEL},
        approval={"required": True, "approvers": [LEAD], "timeout": "10m"},
    )
    bot = socket_bot()
    url = slack_fake.response_url("ask")
    asked = slack_socket.wait_ack(slack_socket.slash_command("shop", user=DEV, response_url=url))
    assert asked.payload == {
        "response_type": "ephemeral",
        "text": "shop needs approval: asking <@U0LEAD> (serial)…",
    }
    ts = approval_ts(bot.db)
    # respond() posts to the response_url the envelope carried, as over HTTP.
    calls = slack_fake.wait_for(lambda cs: any(c.method == "response_url" for c in cs))
    (told,) = [c for c in calls if c.method == "response_url"]
    assert told.body["text"].startswith("approval requested from <@U0LEAD>")
    assert not fleet_file(workdir, "web1").exists()

    event = slack_socket.reaction(
        "white_check_mark", user=LEAD, channel=CHANNEL, ts=ts, event_id="EvS1"
    )

    assert slack_socket.wait_ack(event).payload is None  # events get a bare ack
    calls = slack_fake.wait_for(
        lambda cs: any("succeeded" in text for text in in_thread(cs, ts)), timeout=30
    )
    assert in_thread(calls, ts)[0] == ":white_check_mark: approved by <@U0LEAD>: deploying"
    assert fleet_file(workdir, "web3").read_text() == "shop web3 main\n"
    with sqlite3.connect(bot.db) as conn:
        assert conn.execute("SELECT requested_by, status FROM deploys").fetchall() == [
            (DEV, "succeeded")
        ]
        assert conn.execute("SELECT status, decided_by FROM approvals").fetchall() == [
            ("approved", LEAD)
        ]
    assert bot.stop() == 0, bot.logs


def test_two_socket_replicas_on_one_postgres_decide_a_reaction_sent_to_both_once(
    workdir: Path,
    write_manifest: WriteManifest,
    slack_fake: SlackFake,
    slack_socket: SocketModeFake,
    socket_bot: StartBot,
    postgres: Postgres,
) -> None:
    write_manifest(
        slack={"channel": CHANNEL},
        approval={"required": True, "approvers": [LEAD], "timeout": "10m"},
    )
    db = postgres.new_database()
    socket_bot(db, "socket-a")
    socket_bot(db, "socket-b")  # Slack spreads envelopes over an app's connections
    url = slack_fake.response_url("ask")
    slack_socket.wait_ack(slack_socket.slash_command("shop", user=DEV, response_url=url, link=0))
    ts = approval_ts(db)

    # The reaction reaches replica B; unacked in time, Slack retries it to A.
    first = slack_socket.reaction(
        "white_check_mark", user=LEAD, channel=CHANNEL, ts=ts, event_id="EvR", link=1
    )
    retry = slack_socket.reaction(
        "white_check_mark", user=LEAD, channel=CHANNEL, ts=ts, event_id="EvR", link=0, retry=1
    )

    slack_socket.wait_ack(first), slack_socket.wait_ack(retry)
    calls = slack_fake.wait_for(
        lambda cs: any("succeeded" in text for text in in_thread(cs, ts)), timeout=30
    )
    assert sum("approved by" in text for text in in_thread(calls, ts)) == 1
    deploys = table_rows(db, "SELECT requested_by, status FROM deploys")
    assert [(row["requested_by"], row["status"]) for row in deploys] == [(DEV, "succeeded")]


def test_an_app_token_slack_refuses_stops_the_start_with_one_line(
    workdir: Path, write_manifest: WriteManifest, slack_fake: SlackFake
) -> None:
    write_manifest()
    slack_fake.answer("apps.connections.open", {"ok": False, "error": "invalid_auth"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPBOT_", "SLACK_"))}
    env |= {
        "SLACK_API_URL": slack_fake.url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": "xapp-x",
    }

    done = subprocess.run(
        [sys.executable, "-m", "bot", "socket"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    # Around it, slack_sdk's own log of the refusal and the bot's shutdown lines.
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert error.startswith("error: cannot connect to Slack over Socket Mode: ")
    assert "'error': 'invalid_auth'" in error
    assert [(c.method, c.token) for c in slack_fake.calls] == [
        ("auth.test", BOT_TOKEN),
        ("apps.connections.open", "xapp-x"),
    ]
