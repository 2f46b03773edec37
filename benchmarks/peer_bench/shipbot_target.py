"""Which shipbot is timed: the python that runs it and the checkout it imports."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ShipbotTarget:
    python: Path
    checkout: Path

    @classmethod
    def resolve(cls, python: str | None, checkout: str | None) -> ShipbotTarget:
        """``--shipbot-checkout DIR`` (its .venv if it has one) and/or ``--shipbot-python``;
        by default the checkout this harness lives in, with this python."""
        root = Path(checkout).resolve() if checkout else None
        if python:
            chosen = Path(python)
        elif root is not None and (root / ".venv" / "bin" / "python").exists():
            chosen = root / ".venv" / "bin" / "python"
        else:
            chosen = Path(sys.executable)
        if root is None:
            root = REPO
        target = cls(chosen, root)
        found = target.imports_from()
        if found != root:
            sys.exit(f"{chosen} imports shipbot's bot package from {found}, not from {root}")
        target.compile()
        return target

    def compile(self) -> None:
        """Write the checkout's bytecode, as an installed shipbot has it: with
        PYTHONDONTWRITEBYTECODE set, every run would compile every module first."""
        subprocess.run(
            [str(self.python), "-m", "compileall", "-q", "bot", "strategies", "adapters"],
            cwd=self.checkout,
            env=self.env(),
            check=True,
        )

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "PYTHONPATH")}
        env["PYTHONPATH"] = str(self.checkout)  # before any installed (editable) copy
        for name in ("SHIPBOT_MANIFEST", "SHIPBOT_DB"):
            env.pop(name, None)
        return env

    def imports_from(self) -> Path:
        done = subprocess.run(
            [str(self.python), "-c", "import bot, pathlib; print(pathlib.Path(bot.__file__))"],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd="/",
        )
        if done.returncode != 0:
            sys.exit(f"{self.python} cannot import shipbot: {done.stderr.strip()}")
        return Path(done.stdout.strip()).parent.parent

    def command(self, *args: str) -> list[str]:
        return [str(self.python), "-m", "bot", *args]

    def describe(self) -> str:
        def git(*args: str) -> str:
            done = subprocess.run(
                ["git", "-C", str(self.checkout), *args], capture_output=True, text=True
            )
            return done.stdout.strip()

        changed = git("status", "--porcelain", "--", "bot", "strategies", "adapters")
        dirty = " (with uncommitted changes)" if changed else ""
        head = git("rev-parse", "--short", "HEAD")
        return f"{self.checkout} @ {head}{dirty}, python {self.python}"
