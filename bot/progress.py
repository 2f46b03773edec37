"""A rich progress bar for deploys run from a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from strategies.events import DeployFinished, DeployStarted, Event, ServerFinished, ServerStarted


class ProgressListener:
    """Servers done out of servers planned; gone when the deploy ends."""

    def __init__(self, total: int, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console or Console(),
            transient=True,
        )
        self._task = self._progress.add_task("deploying", total=total)

    def __call__(self, event: Event) -> None:
        if isinstance(event, DeployStarted):
            self._progress.start()
        elif isinstance(event, ServerStarted):
            self._progress.update(self._task, description=f"deploying {event.server}")
        elif isinstance(event, ServerFinished):
            self._progress.advance(self._task)
        elif isinstance(event, DeployFinished):
            self._progress.stop()
