import re
import shlex
import typing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.command_types import Command
from bot.commands import (
    USAGE,
    CancelCommand,
    DeployCommand,
    HelpCommand,
    HistoryCommand,
    RecoverCommand,
    SettingsCommand,
    StatusCommand,
    UsageError,
    parse_line,
    parse_slash,
)
from strategies.manifest import NAME_PATTERN
from strategies.requests import RequestError, check_ref

# Every type a parsed line may be: the members of the Command union itself, so a
# new command cannot be forgotten here.
COMMAND_TYPES = typing.get_args(Command)
SUB_COMMANDS = (
    "status",
    "history",
    "cancel",
    "recover",
    "lock",
    "unlock",
    "freeze",
    "unfreeze",
    "unschedule",
    "help",
)


def assert_one_line(err: UsageError) -> str:
    message = str(err)
    assert message
    assert message.splitlines() == [message]
    return message


VALID = [
    ("/deploy shop", DeployCommand("shop")),
    ("deploy shop", DeployCommand("shop")),
    ("/deploy shop --serial", DeployCommand("shop", strategy="serial")),
    ("/deploy shop --parallel", DeployCommand("shop", strategy="parallel")),
    ("/deploy shop --ref v1.2.3", DeployCommand("shop", ref="v1.2.3")),
    ("/deploy shop --ref=feature/login", DeployCommand("shop", ref="feature/login")),
    ("/deploy shop --servers web-1", DeployCommand("shop", servers=("web-1",))),
    ("/deploy shop --servers=web-1,web-2", DeployCommand("shop", servers=("web-1", "web-2"))),
    ("/deploy shop --dry-run", DeployCommand("shop", dry_run=True)),
    (
        "/deploy --dry-run --ref main shop --parallel --servers b,a",
        DeployCommand("shop", strategy="parallel", ref="main", servers=("b", "a"), dry_run=True),
    ),
    ("/deploy 'shop' --ref \"release/2024.1\"", DeployCommand("shop", ref="release/2024.1")),
    ("/deploy\tshop\n--serial", DeployCommand("shop", strategy="serial")),
    ("/deploy status", StatusCommand()),
    ("/deploy status shop", StatusCommand("shop")),
    ("/deploy history", HistoryCommand()),
    ("deploy history shop", HistoryCommand("shop")),
    ("/deploy cancel shop", CancelCommand("shop")),
    ("/deploy recover shop", RecoverCommand("shop")),
    ("/deploy shop --force --serial", DeployCommand("shop", strategy="serial", force=True)),
    ("/settings list", SettingsCommand("list")),
    ("/settings list -s shop", SettingsCommand("list", app="shop")),
    ("/settings list --app=shop", SettingsCommand("list", app="shop")),
    ("/settings get deploy.parallel", SettingsCommand("get", key="deploy.parallel")),
    ("/settings get -s shop deploy.parallel", SettingsCommand("get", "shop", "deploy.parallel")),
    (
        "/settings set -s shop deploy.parallel true",
        SettingsCommand("set", "shop", "deploy.parallel", "true"),
    ),
    (
        "settings set deploy.max_parallel 2 --app shop",
        SettingsCommand("set", "shop", "deploy.max_parallel", "2"),
    ),
    (
        "/settings set slack.note 'deploys pause at 5pm'",
        SettingsCommand("set", None, "slack.note", "deploys pause at 5pm"),
    ),
    ("/settings set a.b ''", SettingsCommand("set", None, "a.b", "")),
    ("/settings set a.b -- -1", SettingsCommand("set", None, "a.b", "-1")),
    (
        "/settings unset -s shop deploy.parallel",
        SettingsCommand("unset", "shop", "deploy.parallel"),
    ),
    ("/help", HelpCommand()),
    ("help", HelpCommand()),
    ("  help  ", HelpCommand()),
    ("/help deploy", HelpCommand("deploy")),
    ("/help /settings", HelpCommand("settings")),
    ("/deploy help", HelpCommand("deploy")),
    ("/settings help", HelpCommand("settings")),
]


@pytest.mark.parametrize(("line", "expected"), VALID)
def test_valid_lines_parse_to_their_command(line: str, expected: object) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/deploy", "shop --serial", DeployCommand("shop", strategy="serial")),
        ("/deploy", "status", StatusCommand()),
        ("/deploy", "help", HelpCommand("deploy")),
        (
            "/settings",
            "get -s shop deploy.parallel",
            SettingsCommand("get", "shop", "deploy.parallel"),
        ),
        ("/help", "", HelpCommand()),
        ("/help", "settings", HelpCommand("settings")),
    ],
)
def test_slack_gives_command_and_text_separately(command: str, text: str, expected: object) -> None:
    assert parse_slash(command, text) == expected


INVALID = [
    ("", "empty command"),
    ("   \n ", "empty command"),
    ("/shop", "unknown command 'shop'"),
    ("shop --serial", "unknown command 'shop'"),
    ("/deploy", "missing APP"),
    ("/deploy --serial", "missing APP"),
    ("/deploy shop web", "extra argument 'web'"),
    ("/deploy shop --serial --parallel", "--serial and --parallel cannot be used together"),
    ("/deploy shop --serial --serial", "--serial given twice"),
    ("/deploy shop --ref a --ref=b", "--ref given twice"),
    ("/deploy shop --forced", "unknown option '--forced'"),
    ("/deploy shop --force=yes", "--force takes no value"),
    ("/deploy recover", "missing APP"),
    ("/deploy recover shop web2", "extra argument 'web2'"),
    ("/deploy shop -f", "unknown option '-f'"),
    ("/deploy shop --serial=yes", "--serial takes no value"),
    ("/deploy shop --ref", "--ref needs a value"),
    ("/deploy shop --ref=", "--ref needs a value"),
    ("/deploy shop --ref --serial", "--ref needs a value"),
    ("/deploy shop --servers", "--servers needs a value"),
    ("/deploy 'sh op'", "'sh op' is not a valid app name"),
    ("/deploy shop! ", "'shop!' is not a valid app name"),
    ("/deploy --dry-run status", "'status' is a sub-command"),
    ("/deploy 'shop\n'", "'shop\\n' is not a valid app name"),
    ("/deploy shop --servers 'web-1\n'", "'web-1\\n' in --servers is not a valid server name"),
    ("/deploy shop --servers a,,b", "'' in --servers is not a valid server name"),
    ("/deploy shop --servers a,", "'' in --servers is not a valid server name"),
    ("/deploy shop --servers 'a;b'", "'a;b' in --servers is not a valid server name"),
    ("/deploy shop --servers a,b,a", "--servers lists 'a' more than once"),
    ("/deploy shop --ref '$(reboot)'", "'$(reboot)' is not a valid git ref name"),
    ("/deploy shop --ref 'main;reboot'", "is not a valid git ref name"),
    ("/deploy shop --ref '`id`'", "is not a valid git ref name"),
    ("/deploy shop --ref 'a b'", "is not a valid git ref name"),
    ("/deploy shop --ref ../etc", "is not a valid git ref name"),
    ("/deploy status a b", "extra argument 'b'"),
    ("/deploy status --all", "unknown option '--all'"),
    ("/deploy history 'x y'", "'x y' is not a valid app name"),
    ("/deploy cancel", "missing APP"),
    ("/deploy cancel --now shop", "unknown option '--now'"),
    ("/deploy help me", "extra argument 'me'"),
    ("/settings", "missing set, get, list, unset or history"),
    ("/settings show", "got 'show'"),
    ("/settings set deploy.parallel", "missing VALUE"),
    ("/settings set", "missing KEY"),
    ("/settings set k v extra", "extra argument 'extra'"),
    ("/settings get", "missing KEY"),
    ("/settings list deploy.parallel", "extra argument 'deploy.parallel'"),
    ("/settings unset", "missing KEY"),
    ("/settings get Deploy.Parallel", "'Deploy.Parallel' is not a valid settings key"),
    ("/settings get 1abc", "'1abc' is not a valid settings key"),
    ("/settings get -s", "-s needs a value"),
    ("/settings get -s shop -s web k", "-s given twice"),
    ("/settings get -s shop --app web k", "-s and --app both name the app"),
    ("/settings get -s 'sh op' k", "'sh op' is not a valid app name"),
    ("/settings get --force k", "unknown option '--force'"),
    ("/help me", "no help on 'me'"),
    ("/help deploy settings", "no help on"),
    ('/deploy "shop', "no closing quotation"),
    ("/deploy shop\\", "no escaped character"),
    ("/settings set k 'it''s", "no closing quotation"),
]


@pytest.mark.parametrize(("line", "problem"), INVALID)
def test_bad_lines_say_what_is_wrong_in_one_line(line: str, problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_line(line)
    message = assert_one_line(caught.value)
    assert problem in message
    assert "usage: /" in message or "commands: /deploy, /settings, /help" in message


def test_errors_show_the_usage_of_the_command_at_fault() -> None:
    with pytest.raises(UsageError, match=re.escape(USAGE["settings get"])):
        parse_line("/settings get")
    with pytest.raises(UsageError, match=re.escape(USAGE["deploy cancel"])):
        parse_line("/deploy cancel")


def test_a_bare_deploy_lists_every_deploy_form() -> None:
    with pytest.raises(UsageError) as caught:
        parse_slash("/deploy", "")
    message = assert_one_line(caught.value)
    for form in ("deploy", "deploy status", "deploy history", "deploy cancel"):
        assert USAGE[form] in message


def test_a_bad_ref_keeps_the_message_of_check_ref() -> None:
    with pytest.raises(RequestError) as expected:
        check_ref("$(reboot)")
    with pytest.raises(UsageError) as caught:
        parse_slash("/deploy", "shop --ref '$(reboot)'")
    assert str(caught.value).startswith(str(expected.value) + "; usage: ")


def test_newlines_in_bad_tokens_are_shown_escaped() -> None:
    with pytest.raises(UsageError) as caught:
        parse_line("/deploy 'sh\nop' ")
    assert "'sh\\nop' is not a valid app name" in assert_one_line(caught.value)


def test_an_unknown_slash_command_lists_the_commands() -> None:
    with pytest.raises(UsageError, match="unknown command 'shipit'; commands: /deploy"):
        parse_slash("/shipit", "shop")


def test_usage_is_one_line_per_command_and_names_the_reserved_words() -> None:
    assert all(usage.startswith("/") and "\n" not in usage for usage in USAGE.values())
    assert all(word in USAGE["deploy"] for word in SUB_COMMANDS)


# Property tests

SHELL_JUNK = (
    *("'", '"', "\\", "$(reboot)", "`id`", ";", "|", "&", "(", ")", "#", ",", "{", "}", "@{"),
    *(" ", " ", " ", "\n", "\t", "\r", "\x00", "\u2028", "\x85", "..", "//", "/.", ".lock"),
)
VOCABULARY = [
    *("/deploy", "deploy", "/settings", "settings", "/help", "help"),
    *("status", "history", "cancel", "set", "get", "list", "unset"),
    *("--serial", "--parallel", "--ref", "--ref=", "--servers", "--servers=", "--dry-run"),
    *("-s", "--app", "--app=", "--", "-", "--serial=", "="),
    *("shop", "web-1", "a,b", "a,,b", "deploy.parallel", "main", "v1.2", "feature/x"),
    *SHELL_JUNK,
]
junk_lines = st.lists(st.sampled_from(VOCABULARY) | st.text(max_size=4), max_size=14).map("".join)


def parse_or_usage_error(line: str) -> object:
    try:
        command = parse_line(line)
    except UsageError as err:
        assert_one_line(err)
        return err
    assert isinstance(command, COMMAND_TYPES)
    return command


@given(st.text())
def test_any_text_parses_or_is_a_one_line_usage_error(line: str) -> None:
    parse_or_usage_error(line)


@given(junk_lines)
def test_any_mix_of_real_tokens_and_junk_parses_or_is_a_usage_error(line: str) -> None:
    parse_or_usage_error(line)


@given(st.text(max_size=12), junk_lines)
def test_any_slash_command_parses_or_is_a_usage_error(command: str, text: str) -> None:
    try:
        assert isinstance(parse_slash(command, text), COMMAND_TYPES)
    except UsageError as err:
        assert_one_line(err)


names = st.from_regex(NAME_PATTERN, fullmatch=True)
apps = names.filter(lambda name: name not in SUB_COMMANDS)
refs = st.from_regex(
    r"[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,10}(/[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,10}){0,3}", fullmatch=True
)


def passes_check_ref(ref: str) -> bool:
    try:
        check_ref(ref)
    except RequestError:
        return False
    return True


@st.composite
def deploy_commands(draw: st.DrawFn) -> tuple[DeployCommand, list[str]]:
    """A valid DeployCommand and its words (an option and its value stay together), shuffled."""
    expected = DeployCommand(
        app=draw(apps),
        strategy=draw(st.sampled_from([None, "serial", "parallel"])),
        ref=draw(st.none() | refs.filter(passes_check_ref)),
        servers=draw(st.none() | st.lists(names, min_size=1, max_size=4, unique=True).map(tuple)),
        dry_run=draw(st.booleans()),
        force=draw(st.booleans()),
    )
    quote = draw(st.sampled_from([str, shlex.quote, lambda word: f'"{word}"']))
    words = [quote(expected.app)]
    if expected.strategy:
        words.append(f"--{expected.strategy}")
    for option, value in (("--ref", expected.ref), ("--servers", expected.servers)):
        if value is not None:
            text = value if isinstance(value, str) else ",".join(value)
            inline = draw(st.booleans())
            words.append(f"{option}={quote(text)}" if inline else f"{option} {quote(text)}")
    if expected.dry_run:
        words.append("--dry-run")
    if expected.force:
        words.append("--force")
    return expected, draw(st.permutations(words))


@given(deploy_commands(), st.sampled_from([" ", "  ", "\t", "\n"]), st.booleans())
def test_generated_deploy_commands_parse_back_to_their_values(
    generated: tuple[DeployCommand, list[str]], space: str, slash: bool
) -> None:
    expected, words = generated
    text = space.join(words)
    assert parse_line(("/deploy " if slash else "deploy ") + text) == expected
    assert parse_slash("/deploy", text) == expected


nasty_refs = st.text() | st.lists(st.sampled_from(SHELL_JUNK) | refs, max_size=5).map("".join)


@given(nasty_refs, st.booleans())
def test_a_parsed_ref_is_always_a_plain_git_ref(ref: str, inline: bool) -> None:
    option = f"--ref={shlex.quote(ref)}" if inline else f"--ref {shlex.quote(ref)}"
    try:
        command = parse_slash("/deploy", f"shop {option}")
    except UsageError:
        return
    assert isinstance(command, DeployCommand)
    assert command.ref is not None
    assert check_ref(command.ref) == command.ref == ref
    assert not set(command.ref) & set("$`;|&() ")


@given(junk_lines)
def test_any_parsed_deploy_ref_is_a_plain_git_ref(line: str) -> None:
    command = parse_or_usage_error("/deploy shop " + line)
    if isinstance(command, DeployCommand) and command.ref is not None:
        assert check_ref(command.ref) == command.ref
        assert not set(command.ref) & set("$`;|&() ")
