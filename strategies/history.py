"""The deploy history as an event listener: every step's start and end is
written to the store as it happens, so a crash leaves a readable journal."""

from __future__ import annotations

from strategies.events import Event, ServerFinished, ServerStarted, StepFinished, StepStarted
from strategies.store import DeployJournal


class HistoryRecorder:
    def __init__(self, store: DeployJournal) -> None:
        self._store = store

    def __call__(self, event: Event) -> None:
        store = self._store
        if isinstance(event, StepStarted):
            store.record_step_start(
                event.deploy_id,
                event.server,
                event.index,
                event.step.kind,
                event.step.label,
                event.at,
            )
        elif isinstance(event, StepFinished):
            store.record_step_end(
                event.deploy_id, event.server, event.index, event.ok, event.detail, event.at
            )
        elif isinstance(event, ServerStarted):
            store.record_server_start(event.deploy_id, event.server, event.at)
        elif isinstance(event, ServerFinished):
            store.record_server(event.deploy_id, event.outcome, event.at)
