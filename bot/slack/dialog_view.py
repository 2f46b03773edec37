"""The "Deploy with options" modal: one input per option ``/deploy`` takes.

Block ids and action ids are stable (``shipbot_dialog_<field>``, the same for
both): the submission reads them back, and tests and Slack's error display
name them. A view stays within Slack's limits: at most 100 blocks, 100 options
per select, 75 characters per option text, 150 per label.
"""

from __future__ import annotations

import json
from typing import Any

from strategies.manifest import App

Block = dict[str, Any]

CALLBACK = "shipbot_deploy_dialog"  # the modal's callback_id
FIELDS = ("app", "profile", "strategy", "batch", "canary", "ref", "servers", "dry_run")
DEFAULT = "default"  # the strategy choice that leaves it to the app
STRATEGIES = ("serial", "parallel")
DRY_RUN = "dry_run"
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_SIZE_TEXT = 10  # "--batch 25%": a few characters
MAX_REF_TEXT = 200  # check_ref's own limit


def block_id(field: str) -> str:
    """The block id (and action id) of ``field``; stable, part of the outside contract."""
    return f"shipbot_dialog_{field}"


def _text(text: str, limit: int = MAX_OPTION_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…"}


def _option(value: str, label: str, description: str = "") -> dict[str, Any]:
    option: dict[str, Any] = {"text": _text(label), "value": value}
    if description:
        option["description"] = _text(description)
    return option


def _input(field: str, label: str, element: dict[str, Any], *, optional: bool = True) -> Block:
    element["action_id"] = block_id(field)
    return {
        "type": "input",
        "block_id": block_id(field),
        "label": _text(label, 150),
        "optional": optional,
        "element": element,
    }


def _select(options: list[dict[str, Any]], chosen: str | None, placeholder: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "placeholder": _text(placeholder),
        "options": options[:MAX_OPTIONS],
    }
    picked = [o for o in options[:MAX_OPTIONS] if o["value"] == chosen]
    if picked:
        element["initial_option"] = picked[0]
    return element


def deploy_view(
    *, apps: list[str], name: str, app: App, default_reason: str, channel: str | None
) -> dict[str, Any]:
    """The modal for ``name`` (one of ``apps``, the apps its user may deploy).

    ``default_reason``: what the app's strategy would be and why, as the plan says it;
    ``channel``: where the deploy is shown (kept in ``private_metadata``)."""
    app_select = _select([_option(a, a) for a in apps], name, "Choose an app")
    app_block = _input("app", "App", app_select, optional=False)
    app_block["dispatch_action"] = True  # choosing another app redraws its servers
    blocks: list[Block] = [app_block]
    if app.deploy.profiles:
        profiles = [
            _option(n, n, p.description or " ".join(p.tokens()))
            for n, p in sorted(app.deploy.profiles.items())
        ]
        blocks.append(_input("profile", "Profile", _select(profiles, None, "No profile")))
    strategies = [_option(DEFAULT, f"Default: {default_reason}")]
    strategies += [_option(s, s.capitalize()) for s in STRATEGIES]
    strategy = _select(strategies, DEFAULT, "Strategy")
    blocks.append(_input("strategy", "Strategy", strategy, optional=False))
    size = {"type": "plain_text_input", "max_length": MAX_SIZE_TEXT}
    blocks.append(_input("batch", "Batch size (rolling batches: 2 or 25%)", dict(size)))
    blocks.append(_input("canary", "Canary (deploy that many first, then wait: 1 or 10%)", size))
    ref = {
        "type": "plain_text_input",
        "max_length": MAX_REF_TEXT,
        "placeholder": _text(f"default: {app.deploy.default_ref}"),
    }
    blocks.append(_input("ref", "Ref", ref))
    blocks.append(_servers_block(app))
    dry = {
        "type": "checkboxes",
        "options": [_option(DRY_RUN, "Dry run: show the plan only, deploy nothing")],
    }
    blocks.append(_input("dry_run", "Dry run", dry))
    return {
        "type": "modal",
        "callback_id": CALLBACK,
        "title": _text("Deploy with options", 24),
        "submit": _text("Deploy", 24),
        "close": _text("Cancel", 24),
        "private_metadata": json.dumps({"channel": channel}),
        "blocks": blocks,
    }


def _servers_block(app: App) -> Block:
    names = [server.name for server in app.servers]
    if len(names) > MAX_OPTIONS:
        # A select holds 100 options at most: larger fleets are named as --servers takes them.
        text = {"type": "plain_text_input", "placeholder": _text("all; or web1,web2")}
        return _input("servers", "Servers (comma separated; empty: all)", text)
    select = {
        "type": "multi_static_select",
        "placeholder": _text("All servers"),
        "options": [_option(n, n) for n in names],
    }
    return _input("servers", "Servers (none chosen: all)", select)
