"""``/deploy``: a deploy with its options, or one of the sub-commands."""

from __future__ import annotations

from collections.abc import Callable

from bot.command_types import (
    AbortCommand,
    CancelCommand,
    Command,
    DeployCommand,
    DialogCommand,
    FreezeCommand,
    HelpCommand,
    HistoryCommand,
    LockCommand,
    PromoteCommand,
    RecoverCommand,
    RollbackCommand,
    StatusCommand,
    UnfreezeCommand,
    UnlockCommand,
    UnscheduleCommand,
)
from bot.grammar import (
    NAME,
    app_argument,
    checked_app,
    checked_id,
    checked_reason,
    checked_ref,
    checked_servers,
    error,
    exactly,
    family,
    split_options,
)
from strategies.amounts import Amount
from strategies.durations import parse_duration
from strategies.requests import StrategyName

# Each option mapped to whether it takes a value.
_OPTIONS = {
    "--serial": False,
    "--parallel": False,
    "--ref": True,
    "--servers": True,
    "--dry-run": False,
    "--force": False,
    "--at": True,
    "--in": True,
    "--tz": True,
    "--queue": False,
    "--override": True,
    "--confirm": True,
    "--batch": True,
    "--canary": True,
    "--profile": True,
    "--skip": True,
    "--options": False,
}
SKIPPABLE = ("migrations",)


def parse_deploy(args: list[str]) -> Command:
    if not args:
        raise error("missing APP", *family("deploy"))
    word, rest = args[0], args[1:]
    if word == "help":
        exactly(rest, (), "help")
        return HelpCommand("deploy")
    if word in ("status", "history"):
        app = app_argument(rest, f"deploy {word}")
        return StatusCommand(app) if word == "status" else HistoryCommand(app)
    if word in _ONE_APP:
        app = app_argument(rest, f"deploy {word}")
        if app is None:
            raise error("missing APP", f"deploy {word}")
        return _ONE_APP[word](app)
    if word in ("lock", "freeze", "unschedule", "rollback"):
        return _WITH_ARGUMENTS[word](rest)
    return _parse_deploy_app(args)


_ONE_APP: dict[str, Callable[[str], Command]] = {
    "cancel": CancelCommand,
    "recover": RecoverCommand,
    "unlock": UnlockCommand,
    "unfreeze": UnfreezeCommand,
    "promote": PromoteCommand,
    "abort": AbortCommand,
}


def _parse_deploy_app(args: list[str]) -> DeployCommand | DialogCommand:
    options, positionals = split_options(args, _OPTIONS, "deploy")
    if "--options" in options:
        return _dialog(options, positionals)
    (app,) = exactly(positionals, ("APP",), "deploy")
    if "--serial" in options and "--parallel" in options:
        raise error("--serial and --parallel cannot be used together", "deploy")
    if "--at" in options and "--in" in options:
        raise error("--at and --in both say when; give one", "deploy")
    if "--tz" in options and "--at" not in options:
        raise error("--tz is the timezone of --at", "deploy")
    chosen = [o for o in ("--serial", "--parallel", "--batch", "--canary") if o in options]
    if len(chosen) > 1:
        raise error(f"{' and '.join(chosen)} each choose the strategy; give one", "deploy")
    strategy: StrategyName | None = (
        "serial" if "--serial" in options else "parallel" if "--parallel" in options else None
    )
    ref, servers, after = options.get("--ref"), options.get("--servers"), options.get("--in")
    override, confirm = options.get("--override"), options.get("--confirm")
    return DeployCommand(
        app=checked_app(app, "deploy"),
        strategy=strategy,
        ref=checked_ref(ref) if ref is not None else None,
        servers=checked_servers(servers) if servers is not None else None,
        dry_run="--dry-run" in options,
        force="--force" in options,
        at=options.get("--at"),
        after=_seconds(after, "--in", "deploy") if after is not None else None,
        tz=options.get("--tz"),
        queue="--queue" in options,
        override=checked_reason([override], "deploy") if override is not None else None,
        confirm=checked_id(confirm, "deploy") if confirm is not None else None,
        batch=_share(options.get("--batch"), "--batch"),
        canary=_share(options.get("--canary"), "--canary"),
        profile=_profile(options.get("--profile")),
        skip=_skip(options.get("--skip")),
    )


def _dialog(options: dict[str, str | None], positionals: list[str]) -> DialogCommand:
    """``/deploy [APP] --options``: the options are chosen in the dialog, not typed."""
    others = sorted(option for option in options if option != "--options")
    if others:
        raise error(f"--options opens the deploy dialog; choose {others[0]} there", "deploy")
    if len(positionals) > 1:
        raise error(f"extra argument {' '.join(positionals[1:])!r}", "deploy")
    return DialogCommand(checked_app(positionals[0], "deploy") if positionals else None)


def _profile(name: str | None) -> str | None:
    if name is not None and not NAME.fullmatch(name):
        raise error(f"--profile {name!r} is not a valid profile name", "deploy")
    return name


def _skip(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    words = tuple(text.split(","))
    for word in words:
        if word not in SKIPPABLE:
            raise error(f"--skip {word!r}: only {', '.join(SKIPPABLE)} can be skipped", "deploy")
    return tuple(dict.fromkeys(words))


def _share(text: str | None, what: str) -> str | None:
    """``--batch 2`` / ``--canary 25%``: checked here, counted when planned."""
    if text is None:
        return None
    try:
        amount = Amount.parse(text)
    except ValueError as exc:
        raise error(f"{what} {text!r}: {exc}", "deploy") from None
    if amount.count == 0 or amount.percent == 0:
        raise error(f"{what} {text!r}: at least one server", "deploy")
    return text


def _seconds(text: str, what: str, usage_key: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise error(f"{what} {text!r}: {exc}", usage_key) from None
    if seconds <= 0:
        raise error(f"{what} {text!r}: must be more than 0", usage_key)
    return seconds


def _parse_lock(args: list[str]) -> LockCommand:
    _, words = split_options(args, {}, "deploy lock")
    if not words:
        raise error("missing APP", "deploy lock")
    app, rest = checked_app(words[0], "deploy lock"), words[1:]
    seconds = None
    if rest[:1] == ["for"]:
        if len(rest) < 2:
            raise error("missing DURATION after 'for'", "deploy lock")
        seconds, rest = _seconds(rest[1], "for", "deploy lock"), rest[2:]
    return LockCommand(app, checked_reason(rest, "deploy lock"), seconds)


def _parse_freeze(args: list[str]) -> FreezeCommand:
    _, words = split_options(args, {}, "deploy freeze")
    if len(words) < 3 or words[1] not in ("for", "until"):
        raise error("say how long: for DURATION or until DATE", "deploy freeze")
    app, how, value, rest = checked_app(words[0], "deploy freeze"), words[1], words[2], words[3:]
    reason = checked_reason(rest, "deploy freeze")
    if how == "for":
        return FreezeCommand(app, reason, seconds=_seconds(value, "for", "deploy freeze"))
    return FreezeCommand(app, reason, until=value)


def _parse_unschedule(args: list[str]) -> UnscheduleCommand:
    _, words = split_options(args, {}, "deploy unschedule")
    app, schedule = exactly(words, ("APP", "#ID"), "deploy unschedule")
    return UnscheduleCommand(
        checked_app(app, "deploy unschedule"), checked_id(schedule, "deploy unschedule")
    )


def _parse_rollback(args: list[str]) -> RollbackCommand:
    options, words = split_options(args, {"--to": True}, "deploy rollback")
    (app,) = exactly(words, ("APP",), "deploy rollback")
    to = options.get("--to")
    if to is not None and to.startswith("#"):
        to = f"#{checked_id(to, 'deploy rollback')}"
    elif to is not None:
        to = checked_ref(to)
    return RollbackCommand(checked_app(app, "deploy rollback"), to)


_WITH_ARGUMENTS: dict[str, Callable[[list[str]], Command]] = {
    "rollback": _parse_rollback,
    "lock": _parse_lock,
    "freeze": _parse_freeze,
    "unschedule": _parse_unschedule,
}
