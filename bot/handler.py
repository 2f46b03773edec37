"""One command handler for every front end: console chat, CLI, Slack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol

from adapters.registry import AdapterError
from bot import (
    authz,
    gate,
    holds,
    queueing,
    recover_command,
    render,
    rollout_commands,
    scheduling,
    settings_command,
)
from bot.commands import (
    USAGE,
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
    SettingsCommand,
    StatusCommand,
    UnfreezeCommand,
    UnlockCommand,
    UnscheduleCommand,
    UsageError,
    parse_line,
)
from bot.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from bot.gate import Refused
from bot.scheduling import ScheduleDesk
from bot.wiring import Services
from strategies.cancel import CancelToken
from strategies.events import Listener
from strategies.manifest import ManifestError
from strategies.plan import DeployPlan, plan
from strategies.records import DeployLocked, ScheduleRecord
from strategies.requests import RequestError
from strategies.rollback import current_ref, last_good_ref
from strategies.setting_changes import Via
from strategies.settings import SettingError


class FrontEnd(Protocol):
    def reply(self, text: str) -> None:
        """A one-off answer to the person who typed the command."""

    def error(self, text: str) -> None:
        """A refusal or a usage error: one line, shown only to that person."""

    def deploy_listeners(self, plan: DeployPlan) -> list[Listener]:
        """How this front end shows a running deploy (its thread)."""
        ...


@dataclass(frozen=True)
class Caller:
    """Who typed the command, and where (which front end; which channel).

    ``operator``: the local terminal user, who has the manifest, the database
    and the keys anyway, so authorization does not apply; ``skip_approval``:
    that operator's explicit override of an app's required approval.
    """

    user: str
    channel: str | None = None
    operator: bool = False
    skip_approval: bool = False
    via: Via = "slack"  # the front end; the terminal's set it


class ApprovalDesk(Protocol):
    """Where a front end that can ask for approval (Slack) takes a deploy that needs one."""

    def request(self, plan: DeployPlan, caller: Caller, front: FrontEnd) -> None: ...


class BadInput(ValueError):
    """Anything the person typed that we refuse, as one line."""


# What a person typed (or the manifest says) that cannot be done: one line, exit 2.
BAD_INPUT = (BadInput, ManifestError, RequestError, SettingError, AdapterError)


class CommandHandler:
    """``approvals`` and ``schedules``: the desks of a front end with a running bot
    (Slack); ``queue_in_store``: a running bot runs ``--queue`` deploys, so they
    wait in the store rather than in the command."""

    def __init__(
        self,
        services: Services,
        *,
        approvals: ApprovalDesk | None = None,
        schedules: ScheduleDesk | None = None,
        queue_in_store: bool = False,
    ) -> None:
        self.services = services
        self.approvals = approvals
        self.schedules = schedules
        self.queue_in_store = queue_in_store
        self._routes: dict[type, Callable[..., int]] = {
            DeployCommand: self._deploy,
            DialogCommand: self._dialog,
            StatusCommand: self._status,
            HistoryCommand: self._history,
            CancelCommand: self._cancel,
            RecoverCommand: partial(recover_command.run, self),
            LockCommand: self._hold,
            UnlockCommand: self._hold,
            FreezeCommand: self._hold,
            UnfreezeCommand: self._hold,
            UnscheduleCommand: self._unschedule,
            RollbackCommand: partial(rollout_commands.rollback, self),
            PromoteCommand: partial(rollout_commands.promote, self),
            AbortCommand: partial(rollout_commands.abort, self),
            SettingsCommand: partial(settings_command.run, self),
            HelpCommand: self._help,
        }

    def handle_text(self, text: str, caller: Caller, front: FrontEnd) -> int:
        try:
            command = parse_line(text)
        except UsageError as exc:
            front.error(f"error: {exc}")
            return EXIT_USAGE
        return self.handle(command, caller, front)

    def handle(
        self,
        command: Command,
        caller: Caller,
        front: FrontEnd,
        cancel: CancelToken | None = None,
    ) -> int:
        refused = self.refusal(command, caller)
        if refused:
            front.error(refused)
            return EXIT_FAILED
        try:
            return self._routes[type(command)](command, caller, front, cancel)
        except BAD_INPUT as exc:
            front.error(f"error: {exc}")
            return EXIT_USAGE
        except Refused as exc:
            front.error(str(exc))
            return EXIT_FAILED

    def refusal(self, command: Command, caller: Caller) -> str | None:
        """Why ``caller`` may not run ``command`` (one line), or None; changes nothing."""
        return authz.refusal(
            self.services.manifest,
            command,
            user=caller.user,
            channel=caller.channel,
            operator=caller.operator,
        )

    def plan_for(self, command: DeployCommand, caller: Caller) -> DeployPlan:
        """The plan ``command`` would run; raises on bad input, does no deploy."""
        store = self.services.store
        app = self.services.manifest.app(command.app)
        request = replace(command, requested_by=command.requested_by or caller.user)
        made = plan(
            request,
            app,
            store.get_settings(command.app),
            store.applied_waits(command.app),
            store.setting_origins(command.app),
        )
        if app.deploy.auto_rollback and request.rollback_to is None:
            history = store.history(command.app, 200)
            made = replace(made, rollback_ref=last_good_ref(history, [s.name for s in app.servers]))
        return gate.attach(made, store, self.services.clock.now())

    def admitted_plan(self, command: DeployCommand, caller: Caller) -> DeployPlan:
        """The plan, if it may run now (windows, freezes, override rights); Refused if not."""
        return gate.admit(
            self.plan_for(command, caller), user=caller.user, operator=caller.operator
        )

    def _deploy(
        self, command: DeployCommand, caller: Caller, front: FrontEnd, cancel: CancelToken | None
    ) -> int:
        if command.confirm is not None:
            confirmed = scheduling.confirm(self, command.app, command.confirm, caller, front)
            admitted = gate.admit(confirmed, user=caller.user, operator=caller.operator)
            target = (
                self.schedules.thread(self._schedule(command.confirm), front)
                if (self.schedules)
                else front
            )
            return self.run_plan(admitted, target, cancel)
        deploy_plan = self.plan_for(command, caller)
        if command.dry_run:
            front.reply(render.render_plan(deploy_plan))
            return EXIT_OK
        if command.scheduled:
            return scheduling.schedule(self, deploy_plan, caller, front)
        deploy_plan = gate.admit(deploy_plan, user=caller.user, operator=caller.operator)
        if command.queue:
            return queueing.queue(self, deploy_plan, caller, front, cancel)
        return self.start(deploy_plan, caller, front, cancel)

    def _dialog(
        self, command: DialogCommand, caller: Caller, front: FrontEnd, _: CancelToken | None
    ) -> int:
        """Only Slack has the dialog; elsewhere the same choices are typed."""
        front.error(
            f"error: --options opens the deploy dialog in Slack; here type: {USAGE['deploy']}"
        )
        return EXIT_USAGE

    def _schedule(self, schedule_id: int) -> ScheduleRecord:
        record = self.services.store.get_schedule(schedule_id)
        assert record is not None
        return record

    def _hold(
        self,
        command: LockCommand | UnlockCommand | FreezeCommand | UnfreezeCommand,
        caller: Caller,
        front: FrontEnd,
        _: CancelToken | None,
    ) -> int:
        action = {
            LockCommand: holds.lock,
            UnlockCommand: holds.unlock,
            FreezeCommand: holds.freeze,
            UnfreezeCommand: holds.unfreeze,
        }[type(command)]
        front.reply(action(self.services, command, caller.user))  # type: ignore[operator]
        return EXIT_OK

    def _unschedule(
        self, command: UnscheduleCommand, caller: Caller, front: FrontEnd, _: CancelToken | None
    ) -> int:
        front.reply(scheduling.unschedule(self, command.app, command.schedule_id, caller.user))
        return EXIT_OK

    def start(
        self,
        deploy_plan: DeployPlan,
        caller: Caller,
        front: FrontEnd,
        cancel: CancelToken | None = None,
    ) -> int:
        """Run an authorized plan, or ask for approval where its app requires one.

        Called by ``handle`` and, with a plan made for the ack, by the Slack app.
        """
        try:
            return self._start(deploy_plan, caller, front, cancel)
        except BAD_INPUT as exc:  # e.g. an SSH key file that is gone: nothing ran
            front.error(f"error: {exc}")
            return EXIT_USAGE

    def _start(
        self, deploy_plan: DeployPlan, caller: Caller, front: FrontEnd, cancel: CancelToken | None
    ) -> int:
        name, approval = deploy_plan.app_name, deploy_plan.app.approval
        if not approval.required or (caller.operator and caller.skip_approval):
            return self.run_plan(deploy_plan, front, cancel)
        if not approval.approvers:
            raise BadInput(f"{name} requires approval but approval.approvers is empty")
        if self.approvals is None:
            front.error(
                f"refused: {name} requires approval: request it in Slack "
                f"(the local operator may override: shipbot deploy {name} --skip-approval)"
            )
            return EXIT_FAILED
        self.approvals.request(deploy_plan, caller, front)
        return EXIT_OK

    def run_plan(
        self, deploy_plan: DeployPlan, front: FrontEnd, cancel: CancelToken | None = None
    ) -> int:
        """Run an authorized (and, where required, approved) plan."""
        deployer = self.services.deployer(deploy_plan.app_name)
        before = current_ref(self.services.store.history(deploy_plan.app_name, 50))
        try:
            result = deployer.run(
                deploy_plan, listeners=front.deploy_listeners(deploy_plan), cancel=cancel
            )
        except DeployLocked as exc:
            front.error(f"refused: {exc}")
            return EXIT_FAILED
        locked = rollout_commands.lock_after_rollback(self, deploy_plan, result, before)
        if locked:
            front.reply(locked)
        if result.status == "paused":
            front.reply(
                f"the canary of {deploy_plan.app_name} is deployed: /deploy promote "
                f"{deploy_plan.app_name} to go on, /deploy abort {deploy_plan.app_name} to roll "
                "it back"
            )
            return EXIT_OK
        return EXIT_OK if result.ok else EXIT_FAILED

    def app_or_default(self, app: str | None, caller: Caller) -> str:
        manifest = self.services.manifest
        if app is not None:
            manifest.app(app)
            return app
        chosen = manifest.app_for_channel(caller.channel)
        if chosen is None:
            raise BadInput(f"which app? add -s APP (apps: {', '.join(sorted(manifest.apps))})")
        return chosen

    def _status(
        self, command: StatusCommand, caller: Caller, front: FrontEnd, _: CancelToken | None
    ) -> int:
        manifest, store = self.services.manifest, self.services.store
        apps = [command.app] if command.app else sorted(manifest.apps)
        for name in apps:
            manifest.app(name)
        self.sweep(front)
        now = self.services.clock.now()
        for name in apps:
            line = render.app_status(store, name)
            extra = render.calendar_lines(
                name,
                store.holds(name, now),
                store.schedules(name, scheduling.PENDING),
                store.queued(name),
                manifest.app(name).zone,
            )
            canary = store.canary_lock(name)
            if canary is not None:
                extra.insert(
                    0,
                    f"  CANARY: deploy #{canary} waits for /deploy promote {name} or "
                    f"/deploy abort {name}",
                )
            front.reply("\n".join([line, *extra]))
        return EXIT_OK

    def sweep(self, front: FrontEnd) -> None:
        """Mark the deploys whose process died interrupted, and say so."""
        for record in self.services.store.sweep_interrupted(self.services.clock.now()):
            front.reply(render.interrupted_line(record))

    def _history(
        self, command: HistoryCommand, caller: Caller, front: FrontEnd, _: CancelToken | None
    ) -> int:
        app = self.app_or_default(command.app, caller)
        front.reply("\n".join(render.history_lines(self.services.store.history(app, 10))))
        return EXIT_OK

    def _cancel(
        self, command: CancelCommand, caller: Caller, front: FrontEnd, _: CancelToken | None
    ) -> int:
        self.services.manifest.app(command.app)
        deploy_id = self.services.store.request_cancel(
            command.app, by=caller.user, deploy_id=command.deploy_id
        )
        if deploy_id is None:
            which = f"deploy #{command.deploy_id} of" if command.deploy_id else "no deploy of"
            verb = "is not running any more" if command.deploy_id else "is running"
            front.reply(f"{which} {command.app} {verb}")
            return EXIT_FAILED
        front.reply(
            f"cancel requested for deploy #{deploy_id} of {command.app}: it stops at the next "
            "step boundary and puts healthy servers back into the load balancer"
        )
        return EXIT_OK

    def _help(
        self, command: HelpCommand, caller: Caller, front: FrontEnd, _: CancelToken | None
    ) -> int:
        front.reply("\n".join(USAGE.values()))
        return EXIT_OK
