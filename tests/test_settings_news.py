"""A change of a setting is told to the team and kept: the real ``shipbot serve``
with the Slack fake, and the CLI on the same database while it runs."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import Run, WriteManifest, app_config
from tests.infra.shipbot_server import Serve
from tests.infra.slack import Call, SlackFake

CHANNEL, LEAD, DEV = "C0DEPLOYS", "U0LEAD", "U0DEV"


def news(calls: list[Call]) -> list[str]:
    """The settings announcements posted so far, in order."""
    return [
        str(c.body["text"])
        for c in calls
        if c.method == "chat.postMessage" and " changed *" in str(c.body.get("text", ""))
    ]


def test_changes_from_slack_and_the_terminal_are_announced_once_and_kept(
    workdir: Path, write_manifest: WriteManifest, serve: Serve, slack_fake: SlackFake, shipbot: Run
) -> None:
    write_manifest(
        apps={
            "shop": app_config(servers=2, slack={"channel": CHANNEL}, settings_editors=[LEAD]),
        }
    )
    server = serve()
    db = ["--db", str(server.db)]

    def settings(text: str, user: str = LEAD) -> str:
        answer = server.sender.command(text, command="/settings", user=user)
        assert answer.status == 200
        return str(answer.json["text"])

    said = settings("set deploy.parallel true")
    assert said.startswith("shop: deploy.parallel = true (was false). Next deploys of shop run")
    first = slack_fake.wait_for(lambda calls: len(news(calls)) == 1)
    (post,) = [c for c in first if c.method == "chat.postMessage"]
    assert post.body["channel"] == CHANNEL
    assert news(first) == [
        f":gear: <@{LEAD}> changed *shop* `deploy.parallel`: `false (default) → true`. "
        "Next deploys of shop run in parallel unless --serial."
    ]

    # Nothing changes, nothing is announced: the same value, a bad one, no right.
    assert settings("set deploy.parallel yes") == (
        "shop: deploy.parallel is already true; nothing changed"
    )
    assert settings("set deploy.parallel maybe").startswith("error: deploy.parallel: expected")
    assert settings("set deploy.parallel false", user=DEV).startswith("refused:")
    assert settings("set deploy.nonsense 1").startswith("error: unknown setting")

    # From a terminal while the bot runs: the bot announces it, naming the operator.
    cli = shipbot("settings", "set", "-s", "shop", "deploy.max_parallel", "1", *db)
    assert cli.returncode == 0, cli.stderr
    assert "The running bot announces it in channel C0DEPLOYS" in cli.stdout
    calls = slack_fake.wait_for(lambda calls: len(news(calls)) == 2)
    operator = news(calls)[1]
    assert "(local operator, terminal) changed *shop* `deploy.max_parallel`" in operator
    assert "`0 (default) → 1`. Next parallel deploys of shop run at most 1 servers" in operator

    unset = shipbot("settings", "unset", "-s", "shop", "deploy.parallel", *db)
    assert unset.returncode == 0, unset.stderr
    calls = slack_fake.wait_for(lambda calls: len(news(calls)) == 3)
    assert "`true → false (default)`. Next deploys of shop run serially" in news(calls)[2]
    time.sleep(1.5)  # another housekeeping tick: nothing is announced twice
    assert len(news(slack_fake.calls)) == 3

    history = shipbot("settings", "history", "-s", "shop", *db)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert lines[0] == "settings history of shop, newest first:"
    assert [line.split("  ")[1:3] for line in lines[1:]] == [
        ["deploy.parallel", "true → false (default)"],
        ["deploy.max_parallel", "0 (default) → 1"],
        ["deploy.parallel", "false (default) → true"],
    ]
    assert lines[3].endswith(f"by <@{LEAD}>") and "from the terminal" in lines[1]
    assert settings("history deploy.max_parallel").count("deploy.max_parallel") == 2

    # The plan, and the deploy's parent message, say where the strategy came from.
    settings("set deploy.parallel true")
    plan = shipbot("plan", "shop", *db)
    assert plan.returncode == 0, plan.stderr
    assert f"strategy: parallel — setting deploy.parallel is true (set by <@{LEAD}> on " in (
        plan.stdout
    )
    assert server.sender.command("shop", user=LEAD).status == 200
    calls = slack_fake.wait_for(
        lambda calls: any("succeeded" in str(c.body.get("text", "")) for c in calls), timeout=30
    )
    parents = [
        c for c in calls if c.method == "chat.postMessage" and "Deploy #" in str(c.body["text"])
    ]
    assert parents and f"setting deploy.parallel is true (set by <@{LEAD}> on " in str(
        parents[0].body["text"]
    )
