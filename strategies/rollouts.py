"""What makes each strategy different, in one object per strategy.

A rollout owns how its plan reads, whether servers leave the load balancer,
and how the servers are grouped: serial is rolling batches of one, ``batch``
rolling batches of ``--batch`` or ``deploy.batch_size`` (a ramp such as
``[1, "10%", "50%"]``, its last entry repeating), ``canary`` a first batch that
waits for a person, then batches; parallel is one group of every server that
stays in rotation. The per-server step sequence is the same for all.

Batch sizes: a count is taken as it is; a share is of the servers this deploy
targets, rounded down, and never less than one server. The last batch holds
whatever is left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from strategies.amounts import Amount
from strategies.manifest import App
from strategies.requests import DeployRequest, RequestError


@dataclass(frozen=True)
class Rollout:
    name: str
    uses_load_balancer: bool
    pauses: bool = False  # waits for a person after its first batch (a canary)

    def batch_sizes(self, request: DeployRequest, app: App, total: int) -> tuple[int, ...]:
        """How many servers each batch holds, in order; they add up to ``total``."""
        if not self.uses_load_balancer:
            return (total,) if total else ()
        ramp = self._ramp(request, app)
        first: tuple[int, ...] = ()
        if self.pauses:
            first = (_size(_canary(request, app), total),)
            if first[0] >= total:
                raise RequestError(
                    f"a canary of {first[0]} servers leaves none to promote to ({total} in all)"
                )
        return first + _split(total - sum(first), ramp, total)

    def _ramp(self, request: DeployRequest, app: App) -> tuple[Amount, ...]:
        if self.name == "serial":
            return (Amount(count=1),)
        if request.batch is not None:
            return (_amount(request.batch, "--batch"),)
        return app.deploy.batch_size or (Amount(count=1),)

    def describe(self, count: int, batches: Sequence[int], workers: int, lb: bool) -> str:
        """The plan's first line: how the servers go."""
        servers = f"{count} server{'s' if count != 1 else ''}"
        if not self.uses_load_balancer:
            width = "all at once" if workers == count else f"{workers} at a time"
            return f"{servers}, {width}; servers stay in the load balancer"
        out = ", each out of the load balancer while it deploys" if lb else ""
        if self.name == "serial":
            return f"{servers}, one at a time{out}"
        sizes = ", ".join(str(size) for size in batches)
        lead = f"canary of {batches[0]} first, waits for Promote, then " if self.pauses else ""
        return f"{servers} in {len(batches)} batches ({sizes}): {lead}each batch{out}"


def _split(remaining: int, ramp: tuple[Amount, ...], total: int) -> tuple[int, ...]:
    sizes: list[int] = []
    while remaining > 0:
        size = min(remaining, _size(ramp[min(len(sizes), len(ramp) - 1)], total))
        sizes.append(size)
        remaining -= size
    return tuple(sizes)


def _size(amount: Amount, total: int) -> int:
    return max(1, amount.floor_of(total))


def _amount(text: str, what: str) -> Amount:
    try:
        amount = Amount.parse(text)
    except ValueError as exc:
        raise RequestError(f"{what} {text!r}: {exc}") from None
    if amount.count == 0 or amount.percent == 0:
        raise RequestError(f"{what} {text!r}: a batch holds at least one server")
    return amount


def _canary(request: DeployRequest, app: App) -> Amount:
    if request.canary is not None:
        return _amount(request.canary, "--canary")
    return app.deploy.canary.servers if app.deploy.canary else Amount(count=1)


ROLLOUTS: dict[str, Rollout] = {
    rollout.name: rollout
    for rollout in (
        Rollout("serial", uses_load_balancer=True),
        Rollout("batch", uses_load_balancer=True),
        Rollout("canary", uses_load_balancer=True, pauses=True),
        Rollout("parallel", uses_load_balancer=False),
    )
}


def rollout_for(name: str) -> Rollout:
    try:
        return ROLLOUTS[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r} (choose from: {', '.join(sorted(ROLLOUTS))})"
        ) from None
