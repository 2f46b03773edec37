"""Saved deploy profiles (``deploy.profiles`` in the manifest): a named set of the
options ``/deploy`` takes, such as ``hotfix: {strategy: parallel, skip: [migrations]}``.

``/deploy shop --profile hotfix`` is the typed options with the profile's values
filled in where the person gave none; what is typed always wins, and typing any
of ``--serial/--parallel/--batch/--canary`` replaces the profile's strategy.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from strategies.amounts import Amount
from strategies.manifest_errors import PathError
from strategies.requests import DeployRequest, RequestError, check_ref

SKIPPABLE = ("migrations",)
MAX_PROFILES = 50  # each is one option of the dialog's list (Slack: 100 at most)


def _size(value: Any) -> str:
    """``2`` or ``"25%"``, kept as the text ``--batch`` / ``--canary`` take."""
    amount = Amount.parse(value)
    if amount.count == 0 or amount.percent == 0:
        raise ValueError("at least one server")
    return str(value).strip()


Size = Annotated[str, BeforeValidator(_size)]


class DeployProfile(BaseModel):
    """One saved profile; every key is optional and means what its option means."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["serial", "parallel"] | None = None
    batch: Size | None = None
    canary: Size | None = None
    ref: str | None = None
    servers: Annotated[tuple[str, ...], Field(min_length=1)] | None = None
    skip: tuple[Literal["migrations"], ...] = ()
    force: bool = False
    description: Annotated[str, Field(max_length=150)] = ""

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_ref(value)
            except RequestError as exc:
                raise ValueError(str(exc).removeprefix("--ref ")) from None
        return value

    @model_validator(mode="after")
    def _one_strategy(self) -> DeployProfile:
        chosen = [k for k in ("strategy", "batch", "canary") if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise PathError((chosen[1],), f"{' and '.join(chosen)} each choose the strategy")
        return self

    def tokens(self) -> list[str]:
        """The profile as the options one would type."""
        words: list[str] = []
        if self.strategy is not None:
            words.append(f"--{self.strategy}")
        for option, value in (("--batch", self.batch), ("--canary", self.canary)):
            if value is not None:
                words += [option, value]
        if self.ref is not None:
            words += ["--ref", self.ref]
        if self.servers is not None:
            words += ["--servers", ",".join(self.servers)]
        if self.skip:
            words += ["--skip", ",".join(self.skip)]
        if self.force:
            words.append("--force")
        return words


def with_profile(request: DeployRequest, profiles: dict[str, DeployProfile]) -> DeployRequest:
    """``request`` with its profile's values where nothing was typed; RequestError for an
    unknown profile. Applying it twice changes nothing (an approval plans it again)."""
    if request.profile is None:
        return request
    profile = profiles.get(request.profile)
    if profile is None:
        known = ", ".join(sorted(profiles)) or "none in the manifest"
        raise RequestError(
            f"unknown profile {request.profile!r} for {request.app} (profiles: {known})"
        )
    typed_strategy = any(
        value is not None for value in (request.strategy, request.batch, request.canary)
    )
    changes: dict[str, Any] = {}
    if not typed_strategy:
        changes |= {"strategy": profile.strategy, "batch": profile.batch}
        changes["canary"] = profile.canary
    if request.ref is None and profile.ref is not None:
        changes["ref"] = profile.ref
    if request.servers is None and profile.servers is not None:
        changes["servers"] = profile.servers
    if not request.skip and profile.skip:
        changes["skip"] = tuple(profile.skip)
    if profile.force:
        changes["force"] = True
    return replace(request, **changes)
