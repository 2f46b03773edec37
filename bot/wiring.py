"""The one place that builds objects and wires them together."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from adapters.health import HttpHealthProbe
from adapters.registry import build_executor, build_load_balancer
from adapters.stores import open_store
from strategies.clock import SystemClock
from strategies.deploy import Deployer
from strategies.lease import DEFAULT_LEASE
from strategies.manifest import Manifest, ManifestError, load_manifest
from strategies.ports import Clock, LoadBalancer
from strategies.store import Store

DEFAULT_MANIFEST = "manifest.yml"
DEFAULT_DB = ".shipbot/shipbot.db"


def example_manifest_path() -> Path:
    """The example manifest shipped inside the package (the embedded default)."""
    return Path(str(resources.files("bot") / "manifest.example.yml"))


def resolve_manifest_path(option: str | None) -> Path:
    """``--manifest``, else $SHIPBOT_MANIFEST, else ./manifest.yml, else the example."""
    chosen = option or os.environ.get("SHIPBOT_MANIFEST")
    if chosen:
        return Path(chosen)
    if Path(DEFAULT_MANIFEST).exists():
        return Path(DEFAULT_MANIFEST)
    return example_manifest_path()


def resolve_db(option: str | None) -> str:
    """``--db``, else $SHIPBOT_DB, else the embedded file: a SQLite file's path,
    or a ``postgresql://user@host:port/dbname`` URL (several replicas share it)."""
    return option or os.environ.get("SHIPBOT_DB") or DEFAULT_DB


def lease_from_env() -> float:
    """$SHIPBOT_LEASE_SECONDS: how long a running deploy's lease lasts without renewal
    (renewed every third of it); a deploy whose lease expired counts as dead."""
    raw = os.environ.get("SHIPBOT_LEASE_SECONDS", "")
    try:
        value = float(raw) if raw else DEFAULT_LEASE
    except ValueError:
        raise ManifestError(f"SHIPBOT_LEASE_SECONDS: expected seconds, got {raw!r}") from None
    if not 1 <= value <= 3600:
        raise ManifestError(f"SHIPBOT_LEASE_SECONDS: expected 1 to 3600 seconds, got {raw!r}")
    return value


@dataclass
class Services:
    manifest: Manifest
    store: Store
    clock: Clock = field(default_factory=SystemClock)
    poll_interval: float = 0.25
    lease_seconds: float = field(default_factory=lease_from_env)
    # One load balancer object per app for the life of the process, so the
    # in-memory one remembers who is out between deploys.
    _load_balancers: dict[str, LoadBalancer] = field(default_factory=dict)

    def load_balancer(self, app_name: str) -> LoadBalancer:
        if app_name not in self._load_balancers:
            app = self.manifest.app(app_name)
            self._load_balancers[app_name] = build_load_balancer(app_name, app)
        return self._load_balancers[app_name]

    def deployer(self, app_name: str) -> Deployer:
        app = self.manifest.app(app_name)
        return Deployer(
            store=self.store,
            executor=build_executor(app_name, app, pins=self.store),
            load_balancer=self.load_balancer(app_name),
            clock=self.clock,
            poll_interval=self.poll_interval,
            lease_seconds=self.lease_seconds,
            health=HttpHealthProbe(),
        )


def load_services(manifest: str | None = None, db: str | None = None) -> Services:
    """Read the manifest (ManifestError if bad) and open the store."""
    loaded = load_manifest(resolve_manifest_path(manifest))
    return Services(manifest=loaded, store=open_store(resolve_db(db)))
