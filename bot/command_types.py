"""What a chat command says, once parsed: one small type per command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from strategies.requests import DeployRequest

SettingsAction = Literal["set", "get", "list", "unset", "history"]

# A typed /deploy is the request itself; the handler fills in who asked.
DeployCommand = DeployRequest


@dataclass(frozen=True)
class DialogCommand:
    """``/deploy [APP] --options``: open the deploy dialog (Slack), preselecting APP."""

    app: str | None = None


@dataclass(frozen=True)
class StatusCommand:
    app: str | None = None


@dataclass(frozen=True)
class HistoryCommand:
    app: str | None = None


@dataclass(frozen=True)
class CancelCommand:
    app: str
    deploy_id: int | None = None  # only this deploy (a Cancel button on its message)


@dataclass(frozen=True)
class RecoverCommand:
    app: str


@dataclass(frozen=True)
class LockCommand:
    app: str
    reason: str = ""
    seconds: float | None = None  # None: until unlocked


@dataclass(frozen=True)
class UnlockCommand:
    app: str


@dataclass(frozen=True)
class FreezeCommand:
    app: str
    reason: str = ""
    seconds: float | None = None  # "for 2h"
    until: str | None = None  # "until 2026-12-28"


@dataclass(frozen=True)
class UnfreezeCommand:
    app: str


@dataclass(frozen=True)
class UnscheduleCommand:
    app: str
    schedule_id: int


@dataclass(frozen=True)
class RollbackCommand:
    app: str
    to: str | None = None  # a ref, or "#12" (that deploy's ref); None: the previous good one


@dataclass(frozen=True)
class PromoteCommand:
    app: str


@dataclass(frozen=True)
class AbortCommand:
    app: str


@dataclass(frozen=True)
class SettingsCommand:
    action: SettingsAction
    app: str | None = None
    key: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class HelpCommand:
    topic: str | None = None


Command: TypeAlias = (
    DeployRequest
    | DialogCommand
    | StatusCommand
    | HistoryCommand
    | CancelCommand
    | RecoverCommand
    | LockCommand
    | UnlockCommand
    | FreezeCommand
    | UnfreezeCommand
    | UnscheduleCommand
    | RollbackCommand
    | PromoteCommand
    | AbortCommand
    | SettingsCommand
    | HelpCommand
)
