"""Authorization, checked once in the handler for every front end.

Deployers deploy and cancel, settings editors (default: the deployers) change
settings, approvers approve but never their own request; a refusal is one line
and changes nothing. The terminal acts as the local operator.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bot.authz import approval_refusal, refusal
from bot.commands import parse_line
from bot.exits import EXIT_FAILED, EXIT_OK
from bot.handler import Caller, CommandHandler
from bot.wiring import Services
from strategies.events import Listener
from strategies.manifest import Manifest, parse_manifest
from strategies.plan import DeployPlan
from tests.conftest import Run, WriteManifest, app_config, fleet_file


def manifest(**shop: Any) -> Manifest:
    apps = {"shop": app_config(**shop), "blog": app_config(deployers=["U0BLOG"])}
    return parse_manifest(yaml.safe_dump({"apps": apps}))


class Recorder:
    """A front end that keeps what it was told."""

    def __init__(self) -> None:
        self.replies: list[str] = []
        self.errors: list[str] = []

    def reply(self, text: str) -> None:
        self.replies.append(text)

    def error(self, text: str) -> None:
        self.errors.append(text)

    def deploy_listeners(self, plan: DeployPlan) -> list[Listener]:
        return []


def run(handler: CommandHandler, line: str, caller: Caller) -> tuple[int, Recorder]:
    front = Recorder()
    return handler.handle(parse_line(line), caller, front), front


Build = Callable[..., Services]


def test_only_deployers_may_deploy_or_cancel_and_anyone_may_look() -> None:
    shop = manifest(deployers=["U0DEV"])

    def check(line: str, user: str) -> str | None:
        return refusal(shop, parse_line(line), user=user, channel="C1")

    assert check("/deploy shop", "U0DEV") is None
    assert check("/deploy shop", "U0EVE") == (
        "refused: <@U0EVE> may not deploy shop (deployers: <@U0DEV>)"
    )
    assert check("/deploy cancel shop", "U0EVE") == (
        "refused: <@U0EVE> may not cancel deploys of shop (deployers: <@U0DEV>)"
    )
    for line in ("/deploy shop --dry-run", "/deploy status", "/deploy history shop", "/help"):
        assert check(line, "U0EVE") is None, line
    assert check("/settings get -s shop deploy.parallel", "U0EVE") is None
    assert check("/deploy blog", "U0DEV") == (
        "refused: <@U0DEV> may not deploy blog (deployers: <@U0BLOG>)"
    )
    # An unknown app is the handler's error, not a refusal.
    assert check("/deploy nosuch", "U0EVE") is None


def test_settings_editors_default_to_the_deployers_and_can_be_set_apart() -> None:
    by_default = manifest(deployers=["U0DEV"], slack={"channel": "C0SHOP"})
    editors = manifest(deployers=["*"], settings_editors=["U0LEAD"])
    change = parse_line("/settings set deploy.parallel true")

    assert refusal(by_default, change, user="U0DEV", channel="C0SHOP") is None
    assert refusal(by_default, change, user="U0EVE", channel="C0SHOP") == (
        "refused: <@U0EVE> may not change settings of shop (deployers: <@U0DEV>)"
    )
    unset = parse_line("/settings unset -s shop deploy.parallel")
    assert refusal(editors, unset, user="U0DEV") == (
        "refused: <@U0DEV> may not change settings of shop (settings_editors: <@U0LEAD>)"
    )
    assert refusal(editors, unset, user="U0LEAD") is None
    assert refusal(editors, parse_line("/deploy shop"), user="U0DEV") is None


def test_the_local_operator_is_never_refused() -> None:
    shop = manifest(deployers=["U0DEV"], settings_editors=[])
    for line in ("/deploy shop", "/deploy cancel shop", "/settings set -s shop deploy.parallel 1"):
        assert refusal(shop, parse_line(line), user="alice", operator=True) is None


def test_approvers_approve_but_never_their_own_request_which_they_may_withdraw() -> None:
    app = manifest(approval={"required": True, "approvers": ["U0LEAD", "U0DEV"]}).app("shop")

    def check(user: str, approving: bool = True) -> str | None:
        return approval_refusal("shop", app, user=user, requester="U0DEV", approving=approving)

    assert check("U0LEAD") is None
    assert check("U0LEAD", approving=False) is None
    assert check("U0DEV") == (
        "refused: <@U0DEV> requested this deploy of shop and cannot approve it; "
        "ask an approver (<@U0LEAD>, <@U0DEV>)"
    )
    assert check("U0DEV", approving=False) is None
    assert check("U0EVE") == (
        "refused: <@U0EVE> may not approve deploys of shop (approvers: <@U0LEAD>, <@U0DEV>); "
        "nothing changed"
    )


def test_a_refused_command_changes_nothing(services: Build, workdir: Path) -> None:
    built = services(manifest(deployers=["U0DEV"]))
    handler = CommandHandler(built)
    eve = Caller("U0EVE", "C1")

    deployed, deploy_front = run(handler, "/deploy shop", eve)
    changed, settings_front = run(handler, "/settings set -s shop deploy.parallel true", eve)

    assert (deployed, changed) == (EXIT_FAILED, EXIT_FAILED)
    assert deploy_front.errors == ["refused: <@U0EVE> may not deploy shop (deployers: <@U0DEV>)"]
    assert settings_front.errors == [
        "refused: <@U0EVE> may not change settings of shop (deployers: <@U0DEV>)"
    ]
    assert deploy_front.replies == settings_front.replies == []
    assert built.store.history("shop") == []
    assert built.store.get_settings("shop") == {}
    assert not fleet_file(workdir, "web1").exists()

    allowed, front = run(handler, "/deploy shop", Caller("U0DEV", "C1"))
    assert (allowed, front.errors) == (EXIT_OK, [])
    assert fleet_file(workdir, "web1").read_text() == "shop web1 main\n"


def test_an_app_needing_approval_is_refused_at_a_terminal_without_the_override(
    write_manifest: WriteManifest, shipbot: Run, workdir: Path
) -> None:
    write_manifest(approval={"required": True, "approvers": ["U0LEAD"]})

    refused = shipbot("deploy", "shop")

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "refused: shop requires approval: request it in Slack "
        "(the local operator may override: shipbot deploy shop --skip-approval)"
    )
    assert not fleet_file(workdir, "web1").exists()
    assert "no deploys yet" in shipbot("history", "shop").stdout

    shell = shipbot("shell", input="/deploy shop\n")
    assert "refused: shop requires approval" in shell.stdout
    assert not fleet_file(workdir, "web1").exists()

    overridden = shipbot("deploy", "shop", "--skip-approval")
    assert overridden.returncode == 0, overridden.stderr
    assert fleet_file(workdir, "web1").read_text() == "shop web1 main\n"


def test_the_terminal_is_the_operator_but_shell_user_is_checked_as_that_user(
    write_manifest: WriteManifest, shipbot: Run, workdir: Path
) -> None:
    write_manifest(deployers=["U0DEV"])

    as_eve = shipbot(
        "shell", "--user", "U0EVE", input="/deploy shop\n/settings set deploy.parallel true\n"
    )
    assert "refused: <@U0EVE> may not deploy shop (deployers: <@U0DEV>)" in as_eve.stdout
    assert "refused: <@U0EVE> may not change settings of shop" in as_eve.stdout
    assert as_eve.returncode == 1
    assert not fleet_file(workdir, "web1").exists()

    operator = shipbot("deploy", "shop")
    assert operator.returncode == 0, operator.stderr
    assert fleet_file(workdir, "web1").read_text() == "shop web1 main\n"
    assert shipbot("settings", "set", "-s", "shop", "deploy.parallel", "true").returncode == 0


def test_skip_approval_is_only_an_option_of_deploy(
    write_manifest: WriteManifest, shipbot: Run
) -> None:
    write_manifest()

    done = shipbot("plan", "shop", "--skip-approval")

    assert done.returncode == 2
    assert "unknown option '--skip-approval'" in done.stderr


def test_required_approval_without_approvers_is_a_clear_error(services: Build) -> None:
    handler = CommandHandler(services(manifest(approval={"required": True})))

    status, front = run(handler, "/deploy shop", Caller("U0DEV", "C1"))

    assert status == 2
    assert front.errors == ["error: shop requires approval but approval.approvers is empty"]
