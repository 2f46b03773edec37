"""The "Deploy with options" dialog over signed HTTP against a real ``shipbot serve``.

A shortcut opens the modal (``views.open`` in the Slack fake, checked like
Slack checks a view); a submission is answered in its HTTP response (errors
under the input at fault) and then runs exactly what the typed ``/deploy``
runs: each option's dry run through the dialog is the typed dry run's plan.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WriteManifest, app_config, fleet_file
from tests.infra.shipbot_server import Serve, ShipbotServer
from tests.infra.slack import SlackFake, view_of

CHANNEL = "C0DEPLOYS"
GLOBAL, MESSAGE = "shipbot_deploy_options", "shipbot_deploy_options_message"
PROFILES = {"hotfix": {"strategy": "parallel", "skip": ["migrations"]}}


def bid(field: str) -> str:
    return f"shipbot_dialog_{field}"


def manifest(write_manifest: WriteManifest, **extra: Any) -> None:
    config = app_config(slack={"channel": CHANNEL}, **extra)
    config["deploy"]["profiles"] = PROFILES
    other = app_config(deployers=["U0OTHER"])
    write_manifest(apps={"shop": config, "blog": other})


def opened(server: ShipbotServer, slack_fake: SlackFake, user: str = "U0DEV") -> dict[str, Any]:
    answer = server.sender.shortcut(MESSAGE, user=user, channel=CHANNEL)
    assert answer.status == 200
    calls = slack_fake.wait_for(lambda cs: any(c.method == "views.open" for c in cs))
    (call,) = [c for c in calls if c.method == "views.open"]
    assert call.body["trigger_id"]
    return view_of(call)


def values(app: str = "shop", **chosen: Any) -> dict[str, Any]:
    """The state Slack sends back: {block_id: {action_id: value}}."""
    state: dict[str, Any] = {bid("app"): {bid("app"): {"selected_option": {"value": app}}}}
    strategy = chosen.pop("strategy", "default")
    state[bid("strategy")] = {bid("strategy"): {"selected_option": {"value": strategy}}}
    for field in ("batch", "canary", "ref"):
        state[bid(field)] = {
            bid(field): {"type": "plain_text_input", "value": chosen.pop(field, None)}
        }
    servers = [{"value": name} for name in chosen.pop("servers", [])]
    state[bid("servers")] = {bid("servers"): {"selected_options": servers}}
    profile = chosen.pop("profile", None)
    state[bid("profile")] = {
        bid("profile"): {"selected_option": {"value": profile} if profile else None}
    }
    dry = [{"value": "dry_run"}] if chosen.pop("dry_run", False) else []
    state[bid("dry_run")] = {bid("dry_run"): {"selected_options": dry}}
    assert not chosen, chosen
    return state


def ephemerals(slack_fake: SlackFake, count: int = 1) -> list[str]:
    calls = slack_fake.wait_for(
        lambda cs: len([c for c in cs if c.method == "chat.postEphemeral"]) >= count
    )
    return [str(c.body["text"]) for c in calls if c.method == "chat.postEphemeral"]


def test_a_shortcut_opens_a_valid_modal_preselecting_the_channels_app(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    manifest(write_manifest)
    server = serve()

    view = opened(server, slack_fake)

    assert view["type"] == "modal" and view["callback_id"] == "shipbot_deploy_dialog"
    assert json.loads(view["private_metadata"]) == {"channel": CHANNEL}
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == [
        bid(f)
        for f in ("app", "profile", "strategy", "batch", "canary", "ref", "servers", "dry_run")
    ]
    # Only the apps U0DEV may deploy (blog's deployers are U0OTHER), shop chosen.
    assert [o["value"] for o in inputs[bid("app")]["options"]] == ["shop"]
    assert inputs[bid("app")]["initial_option"]["value"] == "shop"
    strategies = inputs[bid("strategy")]["options"]
    assert strategies[0]["text"]["text"].startswith("Default: serial — setting deploy.parallel")
    assert [o["value"] for o in inputs[bid("servers")]["options"]] == ["web1", "web2", "web3"]
    assert [o["value"] for o in inputs[bid("profile")]["options"]] == ["hotfix"]


def test_deploy_options_typed_opens_the_modal_and_the_global_shortcut_too(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    manifest(write_manifest)
    server = serve()

    answer = server.sender.command("shop --options")
    server.sender.shortcut(GLOBAL, user="U0DEV")

    assert (answer.status, answer.body) == (200, "")
    calls = slack_fake.wait_for(lambda cs: len([c for c in cs if c.method == "views.open"]) == 2)
    views = [view_of(c) for c in calls if c.method == "views.open"]
    assert [json.loads(v["private_metadata"]) for v in views] == [
        {"channel": CHANNEL},
        {"channel": None},
    ]
    refused = server.sender.command("blog --options")
    assert refused.json["text"] == "refused: <@U0DEV> may not deploy blog (deployers: <@U0OTHER>)"


def test_a_bad_ref_keeps_the_modal_open_with_the_parsers_message_under_the_ref(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    manifest(write_manifest)
    server = serve()
    view = opened(server, slack_fake)

    answer = server.sender.view_submission(view, values(ref="$(reboot)"), user="U0DEV")
    typed = server.sender.command("shop --ref '$(reboot)'")

    assert answer.status == 200
    assert answer.json == {"response_action": "errors", "errors": {bid("ref"): typed.json["text"]}}
    assert "is not a valid git ref name" in typed.json["text"]
    assert deploys(server) == 0


@pytest.mark.parametrize(
    ("chosen", "problem"),
    [
        ({"app": "blog"}, (bid("app"), "'blog' is not one of the choices")),
        ({"app": "nope"}, (bid("app"), "'nope' is not one of the choices")),
        ({"servers": ["web1", "evil"]}, (bid("servers"), "'evil' is not one of the choices")),
        ({"strategy": "yolo"}, (bid("strategy"), "'yolo' is not one of the choices")),
        ({"profile": "nope"}, (bid("profile"), "'nope' is not one of the choices")),
        ({"ref": "x" * 5000}, (bid("ref"), "longer than 200 characters")),
        ({"batch": "lots"}, (bid("batch"), "error: --batch 'lots': expected a count")),
        ({"strategy": "parallel", "canary": "1"}, (bid("strategy"), "--parallel and --canary")),
    ],
)
def test_forged_or_bad_choices_are_one_line_under_their_input_and_change_nothing(
    write_manifest: WriteManifest,
    serve: Serve,
    slack_fake: SlackFake,
    chosen: dict[str, Any],
    problem: tuple[str, str],
) -> None:
    manifest(write_manifest)
    server = serve()
    view = opened(server, slack_fake)

    answer = server.sender.view_submission(view, values(**chosen), user="U0DEV")

    assert answer.status == 200 and answer.json["response_action"] == "errors"
    ((block, message),) = answer.json["errors"].items()
    assert block == problem[0] and problem[1] in message, message
    assert "\n" not in message and "Traceback" not in message
    assert deploys(server) == 0


def test_someone_outside_the_deployers_cannot_submit_a_forged_dialog(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    manifest(write_manifest, deployers=["U0DEV"])
    server = serve()
    view = opened(server, slack_fake)

    answer = server.sender.view_submission(view, values(), user="U0EVE")

    assert answer.json["errors"] == {bid("app"): "'shop' is not one of the choices"}
    assert deploys(server) == 0


@pytest.mark.parametrize(
    ("chosen", "typed"),
    [
        ({"strategy": "parallel"}, "--parallel"),
        ({"ref": "v2"}, "--ref v2"),
        ({"servers": ["web3", "web1"]}, "--servers web3,web1"),
        ({"batch": "2"}, "--batch 2"),
        ({"canary": "1"}, "--canary 1"),
        ({"profile": "hotfix"}, "--profile hotfix"),
        ({}, ""),
    ],
    ids=["strategy", "ref", "servers", "batch", "canary", "profile", "defaults"],
)
def test_each_option_in_the_dialog_plans_what_the_typed_option_plans(
    write_manifest: WriteManifest,
    serve: Serve,
    slack_fake: SlackFake,
    chosen: dict[str, Any],
    typed: str,
) -> None:
    manifest(write_manifest)
    server = serve()
    view = opened(server, slack_fake)

    answer = server.sender.view_submission(view, values(dry_run=True, **chosen), user="U0DEV")
    by_hand = server.sender.command(f"shop {typed} --dry-run")

    assert (answer.status, answer.body) == (200, "")  # closes the modal
    (by_dialog,) = ephemerals(slack_fake)
    assert by_dialog == by_hand.json["text"]
    assert deploys(server) == 0


def test_a_good_submission_runs_the_deploy_a_typed_deploy_runs_as_the_submitter(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    manifest(write_manifest)
    server = serve()
    view = opened(server, slack_fake)

    answer = server.sender.view_submission(
        view, values(ref="v7", servers=["web2"], strategy="parallel"), user="U0DEV"
    )

    assert (answer.status, answer.body) == (200, "")
    assert ephemerals(slack_fake)[0] == "Planning deploy of shop (parallel)…"
    slack_fake.wait_for(
        lambda cs: any("succeeded" in str(c.body.get("text", "")) for c in cs), timeout=30
    )
    posts = slack_fake.calls_to("chat.postMessage")
    assert posts[0].body["channel"] == CHANNEL
    assert fleet_file(workdir, "web2").read_text() == "shop web2 v7\n"
    assert not fleet_file(workdir, "web1").exists()
    with sqlite3.connect(server.db) as conn:
        row = conn.execute("SELECT requested_by, strategy, ref FROM deploys").fetchone()
        job = conn.execute("SELECT text FROM jobs").fetchone()
    assert row == ("U0DEV", "parallel", "v7")
    assert job == ("/deploy shop --parallel --ref=v7 --servers web2",)


def test_a_dialog_deploy_of_an_app_needing_approval_asks_the_approvers(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    manifest(write_manifest, approval={"required": True, "approvers": ["U0LEAD"]})
    server = serve()
    view = opened(server, slack_fake)

    server.sender.view_submission(view, values(ref="v3"), user="U0DEV")

    assert ephemerals(slack_fake)[0] == "shop needs approval: asking <@U0LEAD> (serial)…"
    calls = slack_fake.wait_for(lambda cs: any("needs approval" in str(c.body) for c in cs))
    request = next(c for c in calls if c.method == "chat.postMessage")
    assert request.body["channel"] == CHANNEL
    assert request.body["text"] == "Deploy of shop @ v3 by <@U0DEV> needs approval"
    assert deploys(server) == 0


def deploys(server: ShipbotServer) -> int:
    with sqlite3.connect(server.db) as conn:
        return int(conn.execute("SELECT count(*) FROM deploys").fetchone()[0])


def test_choosing_another_app_redraws_the_dialog_with_its_servers(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    shop = app_config(slack={"channel": CHANNEL})
    blog = app_config(servers=2, deployers=["U0DEV"])
    write_manifest(apps={"shop": shop, "blog": blog})
    server = serve()
    view = opened(server, slack_fake)

    server.sender.interaction(
        {
            "type": "block_actions",
            "user": {"id": "U0DEV", "username": "u0dev", "team_id": "T0TEST"},
            "container": {"type": "view", "view_id": "V0VIEW"},
            "trigger_id": "1.2.3",
            "view": {**view, "id": "V0VIEW", "hash": "1700000000.abc"},
            "actions": [
                {
                    "type": "static_select",
                    "action_id": bid("app"),
                    "block_id": bid("app"),
                    "selected_option": {"value": "blog"},
                    "action_ts": "1700000000.1",
                }
            ],
        }
    )

    calls = slack_fake.wait_for(lambda cs: any(c.method == "views.update" for c in cs))
    (update,) = [c for c in calls if c.method == "views.update"]
    assert update.body["view_id"] == "V0VIEW"
    redrawn = view_of(update)
    inputs = {b["block_id"]: b["element"] for b in redrawn["blocks"] if b["type"] == "input"}
    assert inputs[bid("app")]["initial_option"]["value"] == "blog"
    assert [o["value"] for o in inputs[bid("servers")]["options"]] == ["web1", "web2"]
    assert bid("profile") not in inputs  # blog has no profiles
    assert json.loads(redrawn["private_metadata"]) == {"channel": CHANNEL}


def test_a_global_shortcut_deploys_in_the_apps_own_channel(
    write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake
) -> None:
    manifest(write_manifest)
    server = serve()
    server.sender.shortcut(GLOBAL, user="U0DEV")
    calls = slack_fake.wait_for(lambda cs: any(c.method == "views.open" for c in cs))
    view = view_of(next(c for c in calls if c.method == "views.open"))

    server.sender.view_submission(view, values(dry_run=True), user="U0DEV")

    calls = slack_fake.wait_for(lambda cs: any(c.method == "chat.postEphemeral" for c in cs))
    ephemeral = next(c for c in calls if c.method == "chat.postEphemeral")
    assert (ephemeral.body["channel"], ephemeral.body["user"]) == (CHANNEL, "U0DEV")
