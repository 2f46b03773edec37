"""Saved deploy profiles: validated in the manifest, the same plan as typing them out."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.commands import DeployCommand, UsageError, parse_slash
from bot.render import render_plan
from strategies.manifest import ManifestError, parse_manifest
from strategies.plan import plan
from strategies.requests import RequestError
from tests.conftest import app_config

PROFILES = {
    "hotfix": {"strategy": "parallel", "skip": ["migrations"]},
    "careful": {"canary": 1, "ref": "stable"},
    "two": {"servers": ["web1", "web2"], "batch": "50%"},
}


def shop(profiles: dict[str, Any] | None = None) -> Any:
    config = app_config()
    config["deploy"]["profiles"] = PROFILES if profiles is None else profiles
    return parse_manifest(yaml.safe_dump({"apps": {"shop": config}})).app("shop")


def typed(text: str) -> DeployCommand:
    parsed = parse_slash("/deploy", text)
    assert isinstance(parsed, DeployCommand)
    return parsed


def rendered(text: str) -> str:
    return render_plan(plan(typed(text), shop(), {}))


def error_for(profiles: dict[str, Any]) -> str:
    with pytest.raises(ManifestError) as caught:
        shop(profiles)
    return str(caught.value)


@pytest.mark.parametrize(
    ("profile", "spelled_out"),
    [
        ("hotfix", "--parallel --skip migrations"),
        ("careful", "--canary 1 --ref stable"),
        ("two", "--servers web1,web2 --batch 50%"),
    ],
)
def test_a_profile_plans_exactly_what_its_options_typed_out_plan(
    profile: str, spelled_out: str
) -> None:
    by_profile = plan(typed(f"shop --profile {profile}"), shop(), {})
    by_hand = plan(typed(f"shop {spelled_out}"), shop(), {})
    assert by_profile.servers == by_hand.servers
    assert (by_profile.strategy, by_profile.ref) == (by_hand.strategy, by_hand.ref)
    assert by_profile.batches == by_hand.batches
    assert by_profile.migrations_server == by_hand.migrations_server
    assert by_profile.reason == f"profile {profile}: {by_hand.reason}"


def test_hotfix_skips_the_migrations_and_says_so() -> None:
    made = plan(typed("shop --profile hotfix"), shop(), {})
    assert made.migrations_server is None
    assert "migrations are skipped: profile hotfix leaves them out of this deploy" in made.warnings


def test_what_is_typed_wins_over_the_profile_and_planning_it_again_changes_nothing() -> None:
    made = plan(typed("shop --profile careful --serial --ref v2"), shop(), {})
    assert (made.strategy, made.ref) == ("serial", "v2")
    again = plan(made.request, shop(), {})
    assert render_plan(again) == render_plan(made)


def test_an_unknown_profile_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(RequestError, match=r"unknown profile 'nope' for shop \(profiles: careful"):
        plan(typed("shop --profile nope"), shop(), {})


@pytest.mark.parametrize(
    ("profiles", "message"),
    [
        ({"x": {"strategy": "sideways"}}, "apps.shop.deploy.profiles.x.strategy:"),
        ({"x": {"strategy": "serial", "canary": 1}}, "strategy and canary each choose"),
        ({"x": {"servers": ["web9"]}}, "profiles.x.servers[0]: 'web9' is not in the server list"),
        ({"x": {"ref": "$(reboot)"}}, "profiles.x.ref:"),
        ({"x": {"skip": ["tests"]}}, "profiles.x.skip[0]:"),
        ({"x": {"batch": 0}}, "profiles.x.batch: at least one server"),
        ({"x": {"colour": "red"}}, "profiles.x.colour:"),
        ({"bad name!": {}}, "'bad name!' is not a valid name"),
    ],
)
def test_a_bad_profile_is_refused_with_the_path_of_its_key(
    profiles: dict[str, Any], message: str
) -> None:
    text = error_for(profiles)
    assert message in text
    assert "Traceback" not in text and len(text.splitlines()) == 1


def test_the_parser_checks_profile_names_and_what_may_be_skipped() -> None:
    with pytest.raises(UsageError, match="--skip 'tests': only migrations can be skipped"):
        parse_slash("/deploy", "shop --skip tests")
    with pytest.raises(UsageError, match="is not a valid profile name"):
        parse_slash("/deploy", "shop --profile '$x'")
    with pytest.raises(UsageError, match="--options opens the deploy dialog; choose --serial"):
        parse_slash("/deploy", "shop --options --serial")
