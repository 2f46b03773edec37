"""Which host keys shipbot trusts: known_hosts, and keys pinned on first use.

known_hosts is read once per deploy, by shipbot rather than by paramiko, so
that OpenSSH's markers mean what they mean there: a key marked ``@revoked``
is refused for every host, and ``@cert-authority`` lines (host certificates,
which shipbot does not verify) are skipped instead of breaking every other
line. With ``connection.accept_unknown_host_keys: true`` the first key a host
offers is *pinned* in the store (it survives restarts) and a different key
later is refused as a changed key. Nothing is ever written to known_hosts.
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry, InvalidHostKey

from strategies.store import HostKeyStore as HostKeyPins

log = logging.getLogger("shipbot.ssh")


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, name: str, key: paramiko.PKey) -> None:
        super().__init__(name)
        self.name, self.key = name, key


class RevokedHostKey(UnknownHostKey):
    pass


class PinnedKeyChanged(paramiko.SSHException):
    def __init__(self, name: str, key: paramiko.PKey, pinned: str, at: datetime) -> None:
        super().__init__(name)
        self.name, self.key, self.pinned, self.at = name, key, pinned, at


@dataclass
class KnownHosts:
    path: Path
    entries: list[HostKeyEntry] = field(default_factory=list)
    revoked: set[tuple[str, str]] = field(default_factory=set)  # (key type, base64)
    _by_name: dict[str, list[paramiko.PKey]] | None = field(default=None, repr=False)
    _hashed: list[tuple[str, paramiko.PKey]] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def read(cls, path: Path) -> KnownHosts:
        known = cls(path)
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            return known  # missing: every host is unknown
        for line in lines:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            marker = text.split(None, 1)[0] if text.startswith("@") else ""
            entry = _entry(text[len(marker) :].strip())
            if entry is None:
                continue
            if marker == "@revoked":
                known.revoked.add((entry.key.get_name(), entry.key.get_base64()))
            elif not marker:
                known.entries.append(entry)
        return known

    def install(self, client: paramiko.SSHClient, hostname: str, port: int) -> None:
        """Give ``client`` the trusted keys of ``hostname:port`` (revoked ones left out,
        so they count as unknown), under the name paramiko looks them up by.

        Only that host's keys: paramiko's ``HostKeys.add`` scans every entry, so
        installing a whole fleet's known_hosts into every client costs N² per
        connection."""
        name = hostname if port == 22 else f"[{hostname}]:{port}"
        keys = client.get_host_keys()
        for key in self._trusted_keys(name):
            keys.add(name, key.get_name(), key)

    def _trusted_keys(self, name: str) -> list[paramiko.PKey]:
        plain, hashed = self._index()
        found = list(plain.get(name, ()))
        for hashed_name, key in hashed:  # |1|salt|hash names: as paramiko.HostKeys matches them
            salt = hashed_name[len("|1|") :].split("|", 1)[0]
            if paramiko.HostKeys.hash_host(name, salt) == hashed_name:
                found.append(key)
        return found

    def _index(self) -> tuple[dict[str, list[paramiko.PKey]], list[tuple[str, paramiko.PKey]]]:
        """Trusted keys by plain host name, and the hashed entries; built on first use
        and shared by every connection of the deploy."""
        with self._lock:
            if self._by_name is None:
                plain: dict[str, list[paramiko.PKey]] = {}
                hashed: list[tuple[str, paramiko.PKey]] = []
                for entry in self.entries:
                    if (entry.key.get_name(), entry.key.get_base64()) in self.revoked:
                        continue
                    for host in entry.hostnames:
                        if host.startswith("|1|"):
                            hashed.append((host, entry.key))
                        else:
                            plain.setdefault(host, []).append(entry.key)
                self._by_name, self._hashed = plain, hashed
            return self._by_name, self._hashed

    def is_revoked(self, key: paramiko.PKey) -> bool:
        return (key.get_name(), key.get_base64()) in self.revoked


def _entry(line: str) -> HostKeyEntry | None:
    try:
        return HostKeyEntry.from_line(line)
    except (InvalidHostKey, ValueError, TypeError):
        return None  # a key type or line this paramiko cannot read: as ssh does, skip it


@dataclass
class HostKeyRules:
    known_hosts: KnownHosts
    accept_unknown: bool = False
    pins: HostKeyPins | None = None
    notes: list[str] = field(default_factory=list)  # things a person should see
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(
        cls, known_hosts: Path, accept_unknown: bool, pins: HostKeyPins | None = None
    ) -> HostKeyRules:
        return cls(KnownHosts.read(known_hosts), accept_unknown, pins)

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

    def take_notes(self) -> list[str]:
        with self._lock:
            notes, self.notes = self.notes, []
        return notes


class MissingHostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Reached for a host with no trusted key in known_hosts (paramiko itself raises
    BadHostKeyException for a known host whose key differs)."""

    def __init__(self, rules: HostKeyRules) -> None:
        self.rules = rules

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        rules = self.rules
        if rules.known_hosts.is_revoked(key):
            raise RevokedHostKey(hostname, key)
        if not rules.accept_unknown:
            raise UnknownHostKey(hostname, key)
        if rules.pins is None:
            log.warning(
                "accepting unknown host key %s %s for %s", key.get_name(), key.fingerprint, hostname
            )
            return
        self._pinned(rules.pins, hostname, key)

    def _pinned(self, pins: HostKeyPins, hostname: str, key: paramiko.PKey) -> None:
        offered = (key.get_name(), key.get_base64())
        pinned = pins.pinned_host_key(hostname)
        if pinned is None:
            now = datetime.now(UTC)
            if pins.pin_host_key(hostname, *offered, now):
                text = (
                    f"{hostname}: unknown host key {key.get_name()} {key.fingerprint} accepted "
                    "and pinned (connection.accept_unknown_host_keys); a different key will be "
                    "refused"
                )
                log.warning(text)
                self.rules.note(text)
                return
            pinned = pins.pinned_host_key(hostname)
            assert pinned is not None
        key_type, key_b64, at = pinned
        if (key_type, key_b64) != offered:
            raise PinnedKeyChanged(
                hostname, key, f"{key_type} {_fingerprint(key_type, key_b64)}", at
            )


def _fingerprint(key_type: str, key_b64: str) -> str:
    try:
        return str(paramiko.PKey.from_type_string(key_type, base64.b64decode(key_b64)).fingerprint)
    except Exception:  # a key this paramiko cannot read back: show its start
        return key_b64[:16] + "…"
