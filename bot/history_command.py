"""``shipbot history`` in a terminal beyond the chat's short list: one deploy
(``#ID``), its timeline picture (``--picture FILE.png``), or an export for
audits (``--format json|csv [--since DATE]``). ``history APP`` alone stays the
chat command's answer, so a terminal and a channel still agree on it."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot import render
from bot.exits import EXIT_OK, EXIT_USAGE
from bot.grammar import NAME, UsageError
from bot.history_export import FORMATS, export_rows, write_export
from bot.wiring import Services
from strategies.manifest import ManifestError

USAGE = (
    "shipbot history APP [#ID] [--picture FILE.png] | "
    "shipbot history APP --format json|csv [--since DATE]"
)
OPTIONS = ("--picture", "--format", "--since")
_ID = re.compile(r"#([0-9]{1,12})")


@dataclass(frozen=True)
class HistoryRequest:
    app: str
    deploy_id: int | None = None
    picture: str | None = None
    fmt: str | None = None
    since: datetime | None = None


def wants_more(args: list[str]) -> bool:
    """Whether ``args`` use a terminal-only form (else the chat command answers)."""
    return any(arg.split("=", 1)[0] in OPTIONS or _ID.fullmatch(arg) for arg in args)


def parse_history(args: list[str]) -> HistoryRequest:
    options: dict[str, str] = {}
    words: list[str] = []
    pending = list(args)
    while pending:
        token = pending.pop(0)
        option, has_value, value = token.partition("=")
        if option not in OPTIONS:
            if token.startswith("-"):
                raise _usage(f"unknown option {token!r}")
            words.append(token)
            continue
        if option in options:
            raise _usage(f"{option} given twice")
        if not has_value:
            value = pending.pop(0) if pending and not pending[0].startswith("-") else ""
        if not value:
            raise _usage(f"{option} needs a value")
        options[option] = value
    return _request(words, options)


def _request(words: list[str], options: dict[str, str]) -> HistoryRequest:
    ids = [word for word in words if _ID.fullmatch(word)]
    names = [word for word in words if word not in ids]
    if len(names) != 1 or len(ids) > 1:
        raise _usage("give one APP and at most one #ID")
    if not NAME.fullmatch(names[0]):
        raise _usage(f"{names[0]!r} is not a valid app name")
    fmt = options.get("--format")
    if fmt is not None and fmt not in FORMATS:
        raise _usage(f"--format {fmt!r}: choose json or csv")
    if "--since" in options and fmt is None:
        raise _usage("--since filters an export: add --format json|csv")
    if fmt is not None and (ids or "--picture" in options):
        raise _usage("--format exports every deploy; #ID and --picture show one")
    since = _since(options["--since"]) if "--since" in options else None
    deploy_id = int(ids[0][1:]) if ids else None
    return HistoryRequest(names[0], deploy_id, options.get("--picture"), fmt, since)


def _since(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _usage(
            f"--since {text!r} is not a date like 2026-12-01 or 2026-12-01T18:00 (UTC)"
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _usage(problem: str) -> UsageError:
    return UsageError(f"{problem}; usage: {USAGE}")


def run_history(request: HistoryRequest, services: Services, out: TextIO = sys.stdout) -> int:
    """0 done; 2 an unknown app or deploy, or a picture that cannot be written."""
    store = services.store
    try:
        services.manifest.app(request.app)
    except ManifestError as exc:
        return _fail(str(exc))
    if request.fmt is not None:
        write_export(export_rows(store.deploys_since(request.app, request.since)), request.fmt, out)
        return EXIT_OK
    records = store.history(request.app, 1) if request.deploy_id is None else []
    if request.deploy_id is not None:
        found = store.get_deploy(request.deploy_id)
        records = [found] if found is not None and found.app == request.app else []
    if not records:
        which = f"#{request.deploy_id}" if request.deploy_id is not None else "yet"
        return _fail(f"no deploy {which} of {request.app}")
    record = records[0]
    if request.picture is None:
        print("\n".join(render.history_lines(records)), file=out)
        return EXIT_OK
    from bot.timeline import render_png  # matplotlib loads only for a picture
    from bot.timeline_model import timeline_of

    png = render_png(timeline_of(record, store.steps(record.id)))
    try:
        Path(request.picture).write_bytes(png)
    except OSError as exc:
        return _fail(f"cannot write {request.picture}: {exc.strerror or exc}")
    print(f"deploy #{record.id} of {record.app}: timeline written to {request.picture}", file=out)
    return EXIT_OK


def _fail(text: str) -> int:
    print(f"error: {text}", file=sys.stderr)
    return EXIT_USAGE
