"""Manifest validation: every bad key named by its path, in one line."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bot.wiring import example_manifest_path
from strategies.manifest import ManifestError, load_manifest, parse_manifest
from tests.conftest import app_config


def error_for(config: dict[str, Any] | str) -> str:
    text = config if isinstance(config, str) else yaml.safe_dump(config)
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, source="m.yml")
    return str(caught.value)


def with_app(**changes: Any) -> dict[str, Any]:
    config = app_config()
    config.update(changes)
    return {"apps": {"shop": config}}


def test_the_example_manifest_is_valid_and_describes_the_embedded_default() -> None:
    manifest = load_manifest(example_manifest_path())
    shop = manifest.app("shop")
    assert [s.name for s in shop.servers] == ["web1", "web2", "web3"]
    assert shop.connection.type == "local"
    assert shop.load_balancer.type == "memory"
    assert shop.load_balancer.configuration.wait_after_removing_servers == 1
    assert shop.load_balancer.configuration.wait_after_adding_servers == 1
    assert shop.migrations_server == "web1"


def test_defaults_fill_what_the_manifest_leaves_out() -> None:
    manifest = parse_manifest(
        'apps:\n  blog:\n    servers: [{name: a}, {name: b}]\n    deploy: {commands: ["true"]}\n'
    )
    blog = manifest.app("blog")
    assert blog.load_balancer.type == "none"
    assert blog.deployers == ()  # closed by default: "*" must be written
    assert blog.deploy.default_ref == "main"
    assert blog.servers[0].address == "a"
    assert blog.migrations_server is None


def test_a_wrong_type_names_the_path() -> None:
    config = with_app()
    config["apps"]["shop"]["servers"][1]["port"] = "ssh"
    assert error_for(config) == "m.yml: apps.shop.servers[1].port: expected an integer"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"colour": "blue"}, "apps.shop.colour: unknown key"),
        (
            {"servers": [{"name": "a"}, {"name": "a"}]},
            "apps.shop.servers[1].name: duplicate server name 'a'",
        ),
        (
            {"migrations": {"command": "m", "server": "db9"}},
            "apps.shop.migrations.server: 'db9' is not in the server list (web1, web2, web3)",
        ),
        (
            {"load_balancer": {"type": "f5"}},
            "apps.shop.load_balancer.type: unknown load balancer type 'f5' (choose from: "
            "'none', 'memory', 'haproxy', 'aws_elbv2' or 'aws_elb')",
        ),
        (
            {"connection": {"type": "telnet"}},
            "apps.shop.connection.type: unknown connection type 'telnet' "
            "(choose from: 'local' or 'ssh')",
        ),
        ({"deploy": {"commands": []}}, "apps.shop.deploy.commands: needs at least 1 item(s)"),
        ({"deploy": {}}, "apps.shop.deploy.commands: required key is missing"),
        (
            {"servers": [{"name": "web 1"}]},
            "apps.shop.servers[0].name: 'web 1' is not a valid name",
        ),
        (
            {
                "load_balancer": {
                    "type": "memory",
                    "configuration": {"wait_after_adding_servers": -1},
                }
            },
            "apps.shop.load_balancer.configuration.wait_after_adding_servers: "
            "must be greater than or equal to 0",
        ),
        (
            {"approval": {"required": "perhaps"}},
            "apps.shop.approval.required: expected true or false",
        ),
        ({"approval": {"timeout": "soon"}}, "apps.shop.approval.timeout: expected a duration"),
    ],
)
def test_each_bad_key_is_rejected_with_its_path(change: dict[str, Any], expected: str) -> None:
    message = error_for(with_app(**change))
    assert expected in message
    assert "\n" not in message


def test_a_bad_item_is_reported_once_not_also_as_a_short_list() -> None:
    config = with_app(deploy={"commands": [True]})
    assert error_for(config) == "m.yml: apps.shop.deploy.commands[0]: expected a string"


def test_several_problems_give_one_line_each() -> None:
    config = with_app(colour="blue")
    config["apps"]["shop"]["servers"][0]["port"] = "x"
    lines = error_for(config).splitlines()
    assert len(lines) == 2
    assert all(line.startswith("m.yml: apps.shop.") for line in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apps: [unclosed", "m.yml: line 1"),
        ("just a string", "m.yml: expected a mapping with an 'apps' key"),
        ("apps: {}", "m.yml: apps: needs at least 1 item(s)"),
    ],
)
def test_broken_files_are_refused_without_a_traceback(text: str, expected: str) -> None:
    assert error_for(text).startswith(expected)


def test_approval_timeout_accepts_human_durations() -> None:
    manifest = parse_manifest(
        yaml.safe_dump(with_app(approval={"required": True, "timeout": "1h30m"}))
    )
    assert manifest.app("shop").approval.timeout == 5400


def test_channel_binding_picks_the_app() -> None:
    manifest = parse_manifest(
        yaml.safe_dump(
            {
                "apps": {
                    "shop": app_config(slack={"channel": "C0SHOP"}),
                    "blog": app_config(slack={"channel": "C0BLOG"}),
                }
            }
        )
    )
    assert manifest.app_for_channel("C0BLOG") == "blog"
    assert manifest.app_for_channel("C0ELSE") is None
    with pytest.raises(ManifestError, match=r"unknown app 'wiki' \(apps: blog, shop\)"):
        manifest.app("wiki")
