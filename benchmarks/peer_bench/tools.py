"""The tools under test: how each is started for one run, and how its run is checked.

Every tool runs as its own process from a cold start. A check returns the
names of the servers that did not run the job (or one line for the whole run),
so a run that failed anywhere is marked failed, not silently timed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from benchmarks.peer_bench.fleet import BenchFleet
from benchmarks.peer_bench.jobs import Job
from benchmarks.peer_bench.measure import Measured
from benchmarks.peer_bench.shipbot_target import ShipbotTarget
from tests.infra.sshd import Sshd

PEER_TOOLS = Path(__file__).resolve().parents[1] / "peer_tools"
VENV_BIN = Path(sys.executable).parent
APP = "shop"


@dataclass(frozen=True)
class Run:
    fleet: BenchFleet
    servers: list[Sshd]
    job: Job
    ref: str
    dir: Path  # this run's own files (spec, manifest, inventory)
    timeout: float

    @property
    def expected(self) -> str | None:
        return self.ref if self.job.expect == "REF" else self.job.expect


@dataclass(frozen=True)
class Invocation:
    argv: list[str]
    env: dict[str, str]
    cwd: Path


class Tool(Protocol):
    name: str
    shipbot: bool  # a shipbot row (the numerator of the ratios)
    per_command: bool  # a new connection for each command

    def prepare(self, run: Run) -> Invocation: ...

    def failures(self, run: Run, measured: Measured) -> list[str]: ...


def peer_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "PYTHONPATH")}
    env["LC_ALL"] = "C.UTF-8"
    return env


def revision_failures(run: Run) -> list[str]:
    """Servers whose ``current/REVISION`` is not this run's ref (the deploy job only)."""
    if not run.job.writes_revision:
        return []
    bad = []
    for server in run.servers:
        path = run.fleet.server_dir(server) / "current" / "REVISION"
        try:
            ok = path.read_text().strip() == run.ref
        except OSError:
            ok = False
        if not ok:
            bad.append(server.name)
    return bad


def whole_run(measured: Measured) -> list[str]:
    if measured.timed_out:
        return ["timed out"]
    return []


@dataclass(frozen=True)
class PeerScript:
    """One of benchmarks/peer_tools/*.py, run with this venv's python."""

    name: str
    script: str
    per_command: bool = False
    shipbot: bool = False

    def prepare(self, run: Run) -> Invocation:
        spec = {
            "servers": [{"name": s.name, "host": s.host, "port": s.port} for s in run.servers],
            "user": run.fleet.user,
            "key": str(run.fleet.key),
            "known_hosts": str(run.fleet.known_hosts),
            "commands": run.job.for_ref(run.ref),
            "per_command": self.per_command,
            "timeout": run.timeout,
        }
        path = run.dir / "spec.json"
        path.write_text(json.dumps(spec))
        argv = [sys.executable, str(PEER_TOOLS / self.script), str(path)]
        return Invocation(argv, peer_env(), run.dir)

    def failures(self, run: Run, measured: Measured) -> list[str]:
        seen: dict[str, tuple[bool, str]] = {}
        for line in measured.stdout.splitlines():
            try:
                item = json.loads(line)
                seen[item["name"]] = (bool(item["ok"]), str(item["out"]))
            except (ValueError, KeyError, TypeError):
                continue
        bad = [
            s.name
            for s in run.servers
            if s.name not in seen
            or not seen[s.name][0]
            or (run.expected is not None and seen[s.name][1] != run.expected)
        ]
        return whole_run(measured) + sorted(set(bad) | set(revision_failures(run)))


@dataclass(frozen=True)
class Shipbot:
    """``python -m bot deploy APP --parallel|--serial`` with a generated ssh manifest.

    Host keys verified against the fleet's known_hosts, the fleet's key, no
    agent, no load balancer, its own SQLite db (made once per size and job by
    an untimed ``plan``, so runs pay for a deploy, not for creating the schema).
    ``per_command`` runs peer_tools/shipbot_per_command.py instead (a new
    connection for each command)."""

    name: str
    target: ShipbotTarget
    strategy: str = "parallel"
    per_command: bool = False
    shipbot: bool = True
    lb_wait: float | None = None  # an in-memory load balancer, this wait after removing and adding

    def manifest(self, run: Run) -> Path:
        app = {
            "connection": {
                "type": "ssh",
                "user": run.fleet.user,
                "key_file": str(run.fleet.key),
                "known_hosts": str(run.fleet.known_hosts),
                "use_agent": False,
            },
            "servers": [{"name": s.name, "host": s.host, "port": s.port} for s in run.servers],
            "deploy": {"commands": run.job.for_shipbot(), "timeout": int(run.timeout)},
            "load_balancer": {"type": "none"},
        }
        if self.lb_wait is not None:
            waits = {
                "wait_after_removing_servers": self.lb_wait,
                "wait_after_adding_servers": self.lb_wait,
            }
            app["load_balancer"] = {"type": "memory", "configuration": waits}
        path = run.dir / "manifest.yml"
        path.write_text(yaml.safe_dump({"apps": {APP: app}}))
        return path

    def db(self, run: Run) -> Path:
        slug = re.sub(r"\W+", "-", f"{self.name}-{len(run.servers)}-{run.job.name}")
        return run.fleet.work / f"{slug}.db"

    def prepare(self, run: Run) -> Invocation:
        manifest, db = self.manifest(run), self.db(run)
        common = ["--manifest", str(manifest), "--db", str(db)]
        if not db.exists():  # untimed: the schema, so that the runs find a used db
            import subprocess

            subprocess.run(
                self.target.command(*common, "plan", APP),
                env=self.target.env(),
                cwd=run.dir,
                capture_output=True,
                check=True,
            )
        deploy = [*common, "deploy", APP, f"--{self.strategy}", "--ref", run.ref]
        if self.per_command:
            argv = [str(self.target.python), str(PEER_TOOLS / "shipbot_per_command.py"), *deploy]
        else:
            argv = self.target.command(*deploy)
        return Invocation(argv, self.target.env(), run.dir)

    def failures(self, run: Run, measured: Measured) -> list[str]:
        if measured.returncode != 0:
            return [*whole_run(measured), f"exit {measured.returncode}"]
        # The closing summary lists every server: "      web1: ok (0.1s)".
        summary = measured.stdout.rpartition("└")[2]
        ok = set(re.findall(r"^\s+(\S+): ok\b", summary, flags=re.M))
        bad = {s.name for s in run.servers if s.name not in ok}
        return sorted(bad | set(revision_failures(run)))


ANSIBLE_HEADER = re.compile(r"^(\S+) \| (\S+)(?: \| rc=(\d+))?", re.M)
ANSIBLE_RECAP = re.compile(
    r"^(\S+)\s+: ok=(\d+)\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


@dataclass(frozen=True)
class Ansible:
    """``ansible all -m raw -a CMD -f N`` (one command), or ``ansible-playbook -f N`` with
    one ``raw`` task per command (the 3-command deploy).

    Inventory: ansible_connection=ssh, the fleet's key; host_key_checking False
    (UserKnownHostsFile is the fleet's known_hosts, so nothing is written to
    ~/.ssh). One command: ControlMaster=no (a connection per command, which is
    all there is). Playbook: ControlMaster=auto, ControlPersist=60s, so the 3
    tasks share one connection per server; the masters it leaves are stopped by
    the harness after the run and their CPU is counted. Fresh ANSIBLE_HOME per run.
    """

    name: str = "ansible"
    per_command: bool = False
    shipbot: bool = False

    def prepare(self, run: Run) -> Invocation:
        inventory = run.dir / "inventory.ini"
        hosts = [f"{s.name} ansible_host={s.host} ansible_port={s.port}" for s in run.servers]
        inventory.write_text(
            "[all]\n"
            + "\n".join(hosts)
            + "\n\n[all:vars]\nansible_connection=ssh\n"
            + f"ansible_user={run.fleet.user}\nansible_ssh_private_key_file={run.fleet.key}\n"
        )
        commands = run.job.for_ref(run.ref)
        reuse = len(commands) > 1
        ssh_args = [
            f"-o UserKnownHostsFile={run.fleet.known_hosts}",
            "-o IdentitiesOnly=yes",
            "-o ControlMaster=auto -o ControlPersist=60s" if reuse else "-o ControlMaster=no",
        ]
        env = peer_env() | {
            "ANSIBLE_HOME": str(run.dir / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(run.dir / "ansible-tmp"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(run.dir / "cp"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_SSH_ARGS": " ".join(ssh_args),
            "ANSIBLE_TIMEOUT": str(int(run.timeout)),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "ANSIBLE_SYSTEM_WARNINGS": "False",
            "ANSIBLE_CONFIG": str(run.dir / "ansible.cfg"),  # empty: defaults + the above
        }
        (run.dir / "ansible.cfg").write_text("")
        forks = str(len(run.servers))
        if not reuse:
            argv = [str(VENV_BIN / "ansible"), "all", "-i", str(inventory), "-m", "raw"]
            argv += ["-a", commands[0], "-f", forks]
        else:
            play = [
                {
                    "hosts": "all",
                    "gather_facts": False,
                    "tasks": [{"name": f"step {i}", "raw": c} for i, c in enumerate(commands, 1)],
                }
            ]
            playbook = run.dir / "deploy.yml"
            playbook.write_text(yaml.safe_dump(play))
            argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "-f", forks]
            argv.append(str(playbook))
        return Invocation(argv, env, run.dir)

    def failures(self, run: Run, measured: Measured) -> list[str]:
        names = {s.name for s in run.servers}
        if run.job.multi:
            ok = {
                m[0]
                for m in ANSIBLE_RECAP.findall(measured.stdout)
                if int(m[1]) == len(run.job.commands) and m[2] == "0" and m[3] == "0"
            }
        else:
            ok = set()
            blocks = list(ANSIBLE_HEADER.finditer(measured.stdout))
            for i, match in enumerate(blocks):
                end = blocks[i + 1].start() if i + 1 < len(blocks) else len(measured.stdout)
                # raw runs with a tty (ssh -tt): ssh adds "Connection to HOST closed."
                body = measured.stdout[match.end() : end].partition("\n")[2].strip()
                first = body.splitlines()[0].strip() if body else ""
                good = match[2] == "CHANGED" and match[3] == "0"
                if good and (run.expected is None or first == run.expected):
                    ok.add(match[1])
        return whole_run(measured) + sorted((names - ok) | set(revision_failures(run)))
