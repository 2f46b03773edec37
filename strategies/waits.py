"""Sticky load-balancer waits.

A wait value from the manifest is *applied* (stored) when a deploy runs. Later
deploys keep the applied value even if the key is deleted from the manifest;
only an explicit ``0`` in the manifest, deployed once, removes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

WAIT_KEYS = ("wait_after_removing_servers", "wait_after_adding_servers")


@dataclass(frozen=True)
class AppliedWait:
    """A wait value stored by an earlier deploy."""

    key: str
    seconds: float
    deploy_id: int
    applied_at: datetime


@dataclass(frozen=True)
class EffectiveWait:
    key: str
    seconds: float
    origin: Literal["manifest", "applied", "default"]
    applied: AppliedWait | None = None  # the stored value this deploy will keep or clear

    @property
    def change(self) -> Literal["store", "clear", "keep"]:
        """What running this deploy does to the stored value."""
        if self.origin != "manifest":
            return "keep"
        return "clear" if self.seconds == 0 else "store"

    def describe(self) -> str:
        if self.origin == "manifest":
            if self.seconds == 0 and self.applied is not None:
                return (
                    f"from manifest (0 clears the value {self.applied.seconds:g}s "
                    f"applied by deploy #{self.applied.deploy_id} when this deploy runs)"
                )
            return "from manifest"
        if self.origin == "applied" and self.applied is not None:
            return (
                f"applied by deploy #{self.applied.deploy_id} on "
                f"{self.applied.applied_at:%Y-%m-%d}; set it to 0 in the manifest to remove"
            )
        return "default (not set)"


def effective_wait(
    key: str, manifest_value: float | None, applied: AppliedWait | None
) -> EffectiveWait:
    if manifest_value is not None:
        return EffectiveWait(key, float(manifest_value), "manifest", applied)
    if applied is not None:
        return EffectiveWait(key, applied.seconds, "applied", applied)
    return EffectiveWait(key, 0.0, "default")
