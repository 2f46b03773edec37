"""The jobs every tool runs on every server, and how a run proves each server ran them.

Commands run in the deploy user's home; ``$FLEET_HOST`` (set by each sshd) is
the server's name, so the deploy writes into that server's own directory and
the harness can read back ``current/REVISION`` on every server afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    name: str
    commands: tuple[str, ...]  # with REF where the run's ref goes
    expect: str | None  # what the last command prints on every server, if anything
    writes_revision: bool = False  # leaves $FLEET_HOST/current/REVISION == REF

    def for_ref(self, ref: str, placeholder: str = "REF") -> list[str]:
        """The commands with the ref pasted in (peer tools have no ref variable)."""
        return [c.replace("$" + placeholder, ref) for c in self.commands]

    def for_shipbot(self) -> list[str]:
        """The commands as a shipbot manifest holds them: the ref comes as $SHIPBOT_REF."""
        return [c.replace("$REF", "$SHIPBOT_REF") for c in self.commands]

    @property
    def multi(self) -> bool:
        return len(self.commands) > 1


SLEEP = Job("sleep 1; echo done", ("sleep 1; echo done",), expect="done")
TRUE = Job("true", ("true",), expect=None)
DEPLOY = Job(
    "3-command deploy",
    (
        'mkdir -p "$FLEET_HOST/releases/$REF" && cd "$FLEET_HOST/releases/$REF" '
        '&& echo "$REF" > REVISION',
        'cd "$FLEET_HOST" && ln -sfn "releases/$REF" current',
        'cat "$FLEET_HOST/current/REVISION"',
    ),
    expect="REF",
    writes_revision=True,
)
JOBS = (SLEEP, TRUE, DEPLOY)
