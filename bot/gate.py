"""Deploy windows and freezes applied to a plan: the state the plan shows, and
whether (and by whose override) it may run now."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot import authz
from strategies.calendar import Freeze, GateState, gate
from strategies.manifest import App
from strategies.plan import DeployPlan
from strategies.store import CalendarStore
from strategies.text import person

FOREVER = timedelta(days=3650)


class Refused(Exception):
    """The deploy may not run now; ``str()`` is the one line to show."""


def app_gate(app: App, store: CalendarStore, app_name: str, at: datetime) -> GateState:
    """The app's windows, its manifest freezes and the freezes people set, at ``at``."""
    zone = app.zone
    freezes = [spec.freeze(zone) for spec in app.deploy.freezes]
    freezes += [
        Freeze(hold.since, hold.until or hold.since + FOREVER, hold.reason, hold.by)
        for hold in store.holds(app_name, at)
        if hold.kind == "freeze"
    ]
    return gate(at, zone, app.deploy.weekly_windows, freezes)


def attach(plan: DeployPlan, store: CalendarStore, at: datetime) -> DeployPlan:
    """``plan`` with the state of its app's gate at ``at``, for every plan to show."""
    return replace(plan, gate=app_gate(plan.app, store, plan.app_name, at))


def admit(plan: DeployPlan, *, user: str, operator: bool) -> DeployPlan:
    """``plan`` if its gate is open; with its override if the gate is closed and ``user``
    may override it; else Refused, saying why and when it could run next."""
    state = plan.gate
    reason = plan.request.override
    if state is None or state.allowed:
        return plan
    if reason is None:
        nxt = state.next_allowed
        when = f"; next allowed {nxt:%a %Y-%m-%d %H:%M %Z}" if nxt else ""
        raise Refused(
            f"refused: {plan.app_name}: {state.reason}{when} "
            f'(an overrider may deploy anyway with --override "REASON")'
        )
    if not operator:
        refused = authz.override_refusal(plan.app_name, plan.app, user=user)
        if refused:
            raise Refused(refused)
    return replace(plan, override=f"{reason} (by {person(user)})")
