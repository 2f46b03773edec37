"""Where each server really is: manifest values merged with the user's ``~/.ssh/config``.

Precedence, as a person running ``ssh`` would expect: the server's own
``port``/``user`` in the manifest, then ``connection.user``, then the ssh
config (``Host`` aliases, ``HostName``, ``User``, ``Port``, ``IdentityFile``,
``ProxyJump``), then the defaults (port 22, the current user). Everything is
resolved once, before a deploy starts, so a bad config refuses the deploy
instead of failing it halfway.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass
from pathlib import Path

import paramiko

from strategies.manifest import Connection, Server

MAX_JUMPS = 8  # deeper chains are almost surely a ProxyJump loop in the config


class SshConfigError(ValueError):
    """The ssh config or a ProxyJump value cannot be used; one line."""


@dataclass(frozen=True)
class Endpoint:
    """One sshd to log in to, and the bastion (itself an Endpoint) to reach it through."""

    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...] = ()
    via: Endpoint | None = None

    @property
    def where(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{host}:{self.port}"

    @property
    def login(self) -> str:
        return f"{self.user}@{self.where}"


def load_ssh_config(path: str | None) -> paramiko.SSHConfig:
    """The config at ``path``, else ``~/.ssh/config`` if it exists, else an empty one."""
    if path is None:
        default = Path("~/.ssh/config").expanduser()
        return _read(default) if default.is_file() else empty_config()
    return _read(Path(path).expanduser())


# ``Match exec`` runs a local command to decide whether a block applies: shipbot
# runs no local command for an ssh config, as it runs no ProxyCommand.
_MATCH_EXEC = re.compile(r"^\s*match\b.*\bexec\b", re.IGNORECASE | re.MULTILINE)


def _read(file: Path) -> paramiko.SSHConfig:
    try:
        text = file.read_text()
    except OSError as exc:
        raise SshConfigError(f"{file}: cannot read ssh config ({exc.strerror})") from None
    if _MATCH_EXEC.search(text):
        raise SshConfigError(
            f"{file}: uses Match exec, which shipbot does not run (it would run a local "
            "command); match on host, user or originalhost instead"
        )
    try:
        return paramiko.SSHConfig.from_text(text)
    except (paramiko.ConfigParseError, ValueError) as exc:
        raise SshConfigError(f"{file}: bad ssh config ({exc})") from None


def empty_config() -> paramiko.SSHConfig:
    return paramiko.SSHConfig.from_text("")


def resolve_server(server: Server, connection: Connection, config: paramiko.SSHConfig) -> Endpoint:
    """The endpoint for ``server`` (``server.address`` may be a Host alias)."""
    found = _lookup(config, server.address)
    return Endpoint(
        hostname=found.get("hostname", server.address),
        port=server.port or _port(found, server.address),
        user=server.user or connection.user or found.get("user") or local_user(),
        identity_files=_identity_files(found),
        via=_jump_chain(found.get("proxyjump"), config, depth=1),
    )


def _resolve_hop(
    spec: str, via: Endpoint | None, config: paramiko.SSHConfig, depth: int
) -> Endpoint:
    """One ProxyJump hop, ``[user@]host[:port]``; the host may be a Host alias too."""
    user, _, hostport = spec.rpartition("@")
    host, port = _split_host_port(hostport, spec)
    found = _lookup(config, host)
    if via is None:
        via = _jump_chain(found.get("proxyjump"), config, depth + 1)
    return Endpoint(
        hostname=found.get("hostname", host),
        port=port or _port(found, host),
        user=user or found.get("user") or local_user(),
        identity_files=_identity_files(found),
        via=via,
    )


def _jump_chain(value: str | None, config: paramiko.SSHConfig, depth: int) -> Endpoint | None:
    """``ProxyJump a,b``: reach ``a`` (by its own config), then ``b`` through ``a``."""
    if value is None or value.strip().lower() == "none":
        return None
    if depth > MAX_JUMPS:
        raise SshConfigError(f"ProxyJump chain longer than {MAX_JUMPS} hops (a loop?): {value}")
    via: Endpoint | None = None
    for hop in (part.strip() for part in value.split(",")):
        if not hop:
            raise SshConfigError(f"ProxyJump {value!r}: empty hop")
        via = _resolve_hop(hop.removeprefix("ssh://"), via, config, depth)
    return via


def _lookup(config: paramiko.SSHConfig, host: str) -> dict[str, str]:
    try:
        found = dict(config.lookup(host))
    except Exception as exc:  # paramiko raises several kinds for Match/token problems
        raise SshConfigError(f"ssh config for {host!r}: {exc}") from None
    if "proxycommand" in found and found["proxycommand"].lower() != "none":
        raise SshConfigError(
            f"ssh config for {host!r} sets ProxyCommand, which shipbot does not run; "
            "use ProxyJump instead"
        )
    return found


def _split_host_port(hostport: str, spec: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
    else:
        host, port_text = hostport, ""
    if not host or (port_text and not port_text.isdigit()):
        raise SshConfigError(f"ProxyJump hop {spec!r}: expected [user@]host[:port]")
    return host, int(port_text) if port_text else None


def _port(found: dict[str, str], host: str) -> int:
    text = found.get("port", "22")
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SshConfigError(f"ssh config for {host!r}: bad Port {text!r}")
    return int(text)


def _identity_files(found: dict[str, str]) -> tuple[str, ...]:
    # paramiko returns IdentityFile as a list (it may repeat); skip the ones
    # that do not exist, as ssh does for its defaults.
    listed: object = found.get("identityfile", [])
    names = listed if isinstance(listed, list) else [listed]
    paths = (os.path.expanduser(str(name)) for name in names)
    return tuple(path for path in paths if Path(path).is_file())


def local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        return f"uid{os.getuid()}"
