"""What a person asked for: a deploy request, validated before anything is planned."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Literal

StrategyName = Literal["serial", "parallel", "batch", "canary"]

# Stricter than git-check-ref-format on purpose: shell metacharacters such as
# $ ( ) ` ; & | are legal in git refs but never appear in real branch names.
_REF_CHARS = re.compile(r"[A-Za-z0-9._/+@-]+")


class RequestError(ValueError):
    """A request that cannot be planned; one line for the user."""


@dataclass(frozen=True)
class DeployRequest:
    """What a person asked for; one type from the parser to the plan, the approval,
    the schedule and the queue. ``requested_by`` is filled in by the handler."""

    app: str
    requested_by: str = ""
    strategy: StrategyName | None = None  # None: use the app's deploy.parallel setting
    ref: str | None = None  # None: the manifest's deploy.default_ref
    servers: tuple[str, ...] | None = None  # None: every server
    dry_run: bool = False
    force: bool = False  # skip servers found unreachable at pre-flight instead of refusing
    at: str | None = None  # --at: "18:00" or an ISO date-time, in the app's timezone or tz
    after: float | None = None  # --in: seconds from now
    tz: str | None = None  # --tz: the timezone of --at
    queue: bool = False  # --queue: wait for the running deploy or the lock to end
    override: str | None = None  # --override REASON: deploy outside windows / in a freeze
    confirm: int | None = None  # --confirm #ID: run a schedule whose time passed
    batch: str | None = None  # --batch N|P%: rolling batches of that size, this once
    canary: str | None = None  # --canary N|P%: deploy that many first, then wait for a person
    rollback_to: str | None = None  # a rollback: the ref it returns to (SHIPBOT_ROLLBACK=1)
    profile: str | None = None  # --profile NAME: the manifest's deploy.profiles[NAME]
    skip: tuple[str, ...] = ()  # --skip migrations: leave them out of this deploy

    @property
    def scheduled(self) -> bool:
        return self.at is not None or self.after is not None

    def __post_init__(self) -> None:
        if self.ref is not None:
            check_ref(self.ref)


def request_json(request: DeployRequest) -> str:
    """``request`` as JSON, to keep with a schedule or a queued deploy."""
    return json.dumps(asdict(request), sort_keys=True)


def request_from_json(text: str) -> DeployRequest:
    fields = json.loads(text)
    if fields.get("servers") is not None:
        fields["servers"] = tuple(fields["servers"])
    if fields.get("skip"):
        fields["skip"] = tuple(fields["skip"])
    return DeployRequest(**fields)


def check_ref(ref: str) -> str:
    """Return ``ref`` if it is a valid git ref name, else raise RequestError."""
    problem = _ref_problem(ref)
    if problem:
        raise RequestError(f"--ref {ref!r} is not a valid git ref name: {problem}")
    return ref


def _ref_problem(ref: str) -> str | None:
    if not ref:
        return "it is empty"
    if len(ref) > 200:
        return "it is longer than 200 characters"
    if not _REF_CHARS.fullmatch(ref):
        return "use only letters, digits and . _ / + @ -"
    if ref.startswith(("-", "/", ".")) or ref.endswith(("/", ".", ".lock")):
        return "it cannot start with - / . or end with / . .lock"
    if ".." in ref or "//" in ref or "@{" in ref or "/." in ref or ref == "@":
        return "it cannot contain '..', '//', '@{' or a component starting with '.'"
    return None
