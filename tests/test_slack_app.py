"""``shipbot serve`` driven as Slack drives it: signed HTTP in, Web API calls out.

Each test starts the real process against the Slack Web API fake and a local
fleet behind the in-memory load balancer, and asserts on what Slack (the
fake) received and on the fleet itself.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bot.slack.buttons import ENQUEUE
from bot.slack.schedules import UNSCHEDULE
from bot.slack.thread import CANCEL, PROMOTE
from tests.conftest import Run, WriteManifest, app_config, fleet_file
from tests.infra.shipbot_server import Serve
from tests.infra.slack import Call, SlackFake

CHANNEL, OTHER_CHANNEL = "C0DEPLOYS", "C0RANDOM"
SLOW = ['sleep 0.4; printf "%s %s\\n" "$SHIPBOT_SERVER" "$SHIPBOT_REF" > RELEASE']


def deploys_in(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM deploys").fetchone()[0])


def top_level_posts(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.method == "chat.postMessage" and not c.body.get("thread_ts")]


def finished(calls: list[Call]) -> bool:
    return any(
        c.method == "chat.postMessage" and "succeeded" in str(c.body.get("text", "")) for c in calls
    )


def test_serial_deploy_acks_at_once_then_threads_its_progress_under_one_parent(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    write_manifest(commands=SLOW, slack={"channel": CHANNEL})
    server = serve()

    answer = server.sender.command("shop --serial")

    assert answer.status == 200
    assert answer.took < 3, "Slack drops a slash command not acked within 3 s"
    print(f"\n/deploy acked in {answer.took * 1000:.0f} ms")  # a figure for the notes (-s)
    assert answer.json == {
        "response_type": "ephemeral",
        "text": "Planning deploy of shop (serial)…",
    }
    calls = slack_fake.wait_for(finished, timeout=30)
    (parent,) = top_level_posts(calls)
    assert parent.body["channel"] == CHANNEL
    parent_ts = slack_fake_ts(calls, parent)
    replies = [c for c in calls if c.method == "chat.postMessage" and c.body.get("thread_ts")]
    assert replies and all(c.body["thread_ts"] == parent_ts for c in replies)
    assert "succeeded" in str(replies[-1].body["text"])
    updates = slack_fake.wait_for(lambda cs: len(parent_updates(cs, parent_ts)) >= 2)
    times = [c.at for c in parent_updates(updates, parent_ts)]
    # The poster spaces updates by 1 s on its clock; arrival adds a few ms of jitter.
    assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(times))
    for server_name in ("web1", "web2", "web3"):
        assert fleet_file(workdir, server_name).read_text() == f"{server_name} main\n"


def slack_fake_ts(calls: list[Call], post: Call) -> str:
    """The ts the fake answered ``post`` with: the first update or reply names it."""
    threaded = [c.body["thread_ts"] for c in calls if c.body.get("thread_ts")]
    assert threaded, "no thread replies"
    return str(threaded[0])


def parent_updates(calls: list[Call], ts: str) -> list[Call]:
    return [c for c in calls if c.method == "chat.update" and c.body.get("ts") == ts]


def test_a_bad_signature_or_a_stale_timestamp_gets_401_and_starts_nothing(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    write_manifest()
    server = serve()

    forged = server.sender.command("shop --serial", secret="not-the-signing-secret")
    stale = server.sender.command("shop --serial", timestamp=int(time.time()) - 6 * 60)

    assert (forged.status, stale.status) == (401, 401)
    assert server.sender.command("shop --dry-run").status == 200  # the same request, signed
    assert [c.method for c in slack_fake.calls] == ["auth.test"]
    assert deploys_in(server.db) == 0
    assert not fleet_file(workdir, "web1").exists()


def test_an_unauthorized_deploy_is_refused_in_the_ack_and_changes_nothing(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    write_manifest(deployers=["U0DEV"])
    server = serve()

    answer = server.sender.command("shop --serial", user="U0EVE")
    settings = server.sender.command(
        "set -s shop deploy.parallel true", command="/settings", user="U0EVE"
    )

    assert answer.json == {
        "response_type": "ephemeral",
        "text": "refused: <@U0EVE> may not deploy shop (deployers: <@U0DEV>)",
    }
    assert settings.json["text"] == (
        "refused: <@U0EVE> may not change settings of shop (deployers: <@U0DEV>)"
    )
    assert [c.method for c in slack_fake.calls] == ["auth.test"]
    assert deploys_in(server.db) == 0
    with sqlite3.connect(server.db) as conn:
        assert conn.execute("SELECT count(*) FROM settings").fetchone() == (0,)


BAD_INPUT = {
    'shop --ref "$(reboot)"': "error: --ref '$(reboot)' is not a valid git ref name",
    # Slack escapes < > & in the text; they are unescaped, refused, then escaped back.
    "shop --ref <!channel>": "error: --ref '&lt;!channel&gt;' is not a valid git ref name",
    "shop; rm -rf /": "error: unknown option '-rf'",
    "shop --serial --parallel": "error: --serial and --parallel cannot be used together",
    "shop --servers web1,web9": "error: unknown server 'web9' for shop",
    "nosuch": "error: unknown app 'nosuch' (apps: shop)",
    'shop --ref "unbalanced': "error: cannot split the command: no closing quotation",
}


def test_bad_input_and_injection_attempts_are_refused_in_the_ack(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    write_manifest()
    server = serve()

    answers = {text: server.sender.command(text) for text in BAD_INPUT}

    for text, refusal in BAD_INPUT.items():
        answer = answers[text]
        assert answer.status == 200, text
        assert answer.json["response_type"] == "ephemeral"
        assert answer.json["text"].startswith(refusal), answer.json
        assert "\n" not in answer.json["text"]
    assert [c.method for c in slack_fake.calls] == ["auth.test"]
    assert deploys_in(server.db) == 0
    assert not (workdir / "fleet").exists()


def test_settings_follow_the_channel_binding_and_ask_for_the_app_elsewhere(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    write_manifest(
        apps={
            "shop": app_config(slack={"channel": CHANNEL}),
            "blog": app_config(root="blogfleet"),
        }
    )
    server = serve()
    assert server.health() == {
        "ok": True,
        "apps": ["blog", "shop"],
        "db": str(server.db),
        "store": True,
    }

    bound = server.sender.command("set deploy.parallel true", command="/settings")
    unbound = server.sender.command(
        "set deploy.parallel true", command="/settings", channel=OTHER_CHANNEL
    )
    listed = server.sender.command("list", command="/settings")

    assert bound.json == {
        "response_type": "ephemeral",
        "text": "shop: deploy.parallel = true (was false). Next deploys of shop run in "
        f"parallel unless --serial. Announced in <#{CHANNEL}>.",
    }
    assert unbound.json == {
        "response_type": "ephemeral",
        "text": "error: which app? add -s APP (apps: blog, shop)",
    }
    assert listed.json["text"].startswith("```shop: deploy.parallel = true (set by <@U0DEV> on ")
    with sqlite3.connect(server.db) as conn:
        rows = conn.execute("SELECT app, key, value, updated_by FROM settings").fetchall()
    assert rows == [("shop", "deploy.parallel", "true", "U0DEV")]
    # Announced once, in the bound channel (the refused one is not).
    slack_fake.wait_for(lambda calls: bool(slack_fake.calls_to("chat.postMessage")))
    time.sleep(1.5)  # a second housekeeping tick, which must not announce it again
    (news,) = slack_fake.calls_to("chat.postMessage")
    assert news.body["channel"] == CHANNEL
    assert "<@U0DEV> changed *shop* `deploy.parallel`" in news.body["text"]


def test_a_rate_limited_parent_message_arrives_once_after_the_delay(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    write_manifest(servers=1)
    server = serve()
    slack_fake.fail_next("chat.postMessage", status=429, retry_after=1)

    assert server.sender.command("shop").status == 200

    calls = slack_fake.wait_for(finished, timeout=30)
    (refused,) = slack_fake.calls_to("chat.postMessage#failed")
    (parent,) = top_level_posts(calls)
    assert parent.body["text"] == refused.body["text"]
    assert parent.at - refused.at >= 0.95


def test_a_second_deploy_is_refused_and_sigterm_cancels_the_first_leaving_no_server_out(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    write_manifest(commands=['sleep 1; echo "$SHIPBOT_SERVER" > RELEASE'], servers=4)
    server = serve()
    server.sender.command("shop --serial")
    slack_fake.wait_for(lambda calls: fleet_file(workdir, "web1").exists(), timeout=30)

    second = server.sender.command("shop", user="U0EVE", response_url=slack_fake.response_url())

    # Refused in the ack itself, with a button to queue it instead.
    assert second.json["text"] == "refused: shop is held by deploy #1 by <@U0DEV>"
    (buttons,) = [b for b in second.json["blocks"] if b["type"] == "actions"]
    assert buttons["elements"][0]["action_id"] == "shipbot_enqueue"
    assert buttons["elements"][0]["value"] == "/deploy shop"
    # Buttons that name nothing (a bad number, a deploy or schedule that is not
    # there, an empty command) are acked and change nothing.
    before = len(slack_fake.calls)
    for action, value in [
        (CANCEL, "abc"),
        (CANCEL, "999"),
        (PROMOTE, ""),
        (UNSCHEDULE, "7"),
        (ENQUEUE, ""),
    ]:
        clicked = server.sender.button(action, value, user="U0EVE", channel=CHANNEL, ts="1.0")
        assert clicked.status == 200
    assert not [c for c in slack_fake.calls[before:] if "U0EVE" in str(c.body)]
    assert server.stop() == 0

    with sqlite3.connect(server.db) as conn:
        ((status,),) = conn.execute("SELECT status FROM deploys").fetchall()  # one deploy
        servers = dict(conn.execute("SELECT server, lb FROM deploy_servers").fetchall())
    assert status == "cancelled"
    assert "out" not in servers.values(), servers
    assert not fleet_file(workdir, "web4").exists()
    # The thread got its final word before the process exited.
    posts = slack_fake.calls_to("chat.postMessage")
    assert any("cancelled" in str(c.body.get("text")) for c in posts), posts


def run_bot(workdir: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SHIPBOT_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", command],
        cwd=workdir,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_and_socket_refuse_to_start_without_their_tokens(
    workdir: Path, write_manifest: WriteManifest
) -> None:
    write_manifest()

    serve = run_bot(workdir, "serve", {"SLACK_BOT_TOKEN": "xoxb-1"})
    socket = run_bot(workdir, "socket", {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    nothing = run_bot(workdir, "socket", {})

    assert (serve.returncode, socket.returncode, nothing.returncode) == (2, 2, 2)
    assert serve.stderr == (
        "error: SLACK_SIGNING_SECRET must be set for shipbot serve (README: Connect to Slack)\n"
    )
    assert socket.stderr == (
        "error: SLACK_APP_TOKEN must be set for shipbot socket (README: Connect to Slack)\n"
    )
    assert nothing.stderr.startswith("error: SLACK_BOT_TOKEN and SLACK_APP_TOKEN must be set")


def test_a_token_slack_refuses_stops_the_start_with_one_line(
    workdir: Path, write_manifest: WriteManifest
) -> None:
    write_manifest()
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}

    done = run_bot(workdir, "serve", env | {"SLACK_API_URL": "http://127.0.0.1:9/api/"})

    assert done.returncode == 2
    # Above it, slack_sdk's log of its connection retries.
    assert done.stderr.splitlines()[-1].startswith("error: cannot start the Slack app: ")


def test_help_lists_serve_and_socket(workdir: Path, shipbot: Run) -> None:
    done = shipbot("--help")

    assert "serve [--host 127.0.0.1] [--port 3000]" in done.stdout
    assert "socket                Slack over Socket Mode (needs SLACK_APP_TOKEN)" in done.stdout


def test_the_slack_app_manifest_routes_everything_the_bot_handles_to_one_url() -> None:
    manifest = yaml.safe_load((Path(__file__).parent.parent / "slack-app.yml").read_text())
    url = "https://YOUR-HOST/slack/events"
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    settings = manifest["settings"]

    assert set(commands) == {"/deploy", "/settings"}
    assert {c["url"] for c in commands.values()} == {url}
    assert all(c["usage_hint"] and c["should_escape"] is False for c in commands.values())
    assert settings["event_subscriptions"] == {
        "request_url": url,
        "bot_events": ["reaction_added", "app_home_opened"],
    }
    shortcuts = {(s["type"], s["callback_id"]) for s in manifest["features"]["shortcuts"]}
    assert shortcuts == {
        ("global", "shipbot_deploy_options"),
        ("message", "shipbot_deploy_options_message"),
    }
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert settings["interactivity"] == {"is_enabled": True, "request_url": url}
    assert settings["socket_mode_enabled"] is False
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "reactions:read"} <= scopes
