"""What a person asked for: a deploy request, validated before anything is planned."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

StrategyName = Literal["serial", "parallel"]

# Stricter than git-check-ref-format on purpose: shell metacharacters such as
# $ ( ) ` ; & | are legal in git refs but never appear in real branch names.
_REF_CHARS = re.compile(r"[A-Za-z0-9._/+@-]+")


class RequestError(ValueError):
    """A request that cannot be planned; one line for the user."""


@dataclass(frozen=True)
class DeployRequest:
    app: str
    requested_by: str
    strategy: StrategyName | None = None  # None: use the app's deploy.parallel setting
    ref: str | None = None  # None: the manifest's deploy.default_ref
    servers: tuple[str, ...] | None = None  # None: every server
    dry_run: bool = False
    force: bool = False  # skip servers found unreachable at pre-flight instead of refusing

    def __post_init__(self) -> None:
        if self.ref is not None:
            check_ref(self.ref)


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
