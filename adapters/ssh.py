"""SshExecutor: deploy commands on real servers over SSH (paramiko).

The Deployer builds one executor per deploy and closes it at the end; in
between, each server's connection is opened once and reused for all of its
commands, from whichever thread the strategy runs that server on.

Each command runs as ``exec /bin/sh -c SCRIPT`` (the same shell the local
executor uses). SCRIPT prints a marker with its process group id, exports the
``SHIPBOT_*`` values (names checked, values quoted: request text never becomes
shell syntax), then runs the manifest's command. Without a pty sshd does not
signal a command when its channel closes, so a timeout or an abort kills that
process group through a second channel: the remote command really stops.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import paramiko

from adapters.registry import AdapterError
from adapters.secrets import command_environment
from adapters.ssh_command import Output, await_marker, collect, command_script
from adapters.ssh_config import Endpoint, SshConfigError, load_ssh_config, resolve_server
from adapters.ssh_connect import ConnectError, ConnectionPool, Credentials
from adapters.ssh_hostkeys import HostKeyRules
from strategies.manifest import App, Server
from strategies.results import CommandResult
from strategies.store import HostKeyStore as HostKeyPins

log = logging.getLogger("shipbot.ssh")

KILL_WAIT = 5.0  # how long to wait for the kill command itself
KILL_GRACE = 2  # seconds between TERM and KILL


class SshExecutor:
    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        pool: ConnectionPool,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        rules: HostKeyRules | None = None,
    ) -> None:
        self._endpoints = dict(endpoints)
        self._rules = rules
        self._pool = pool
        self._timeout = timeout  # connect and channel-open timeout
        # The manifest's deploy.env and pass_env; the remote login's own environment
        # is the server's, and nothing of the bot's is forwarded (no agent, no SendEnv).
        self._env = dict(env or {})

    @classmethod
    def from_app(cls, app_name: str, app: App, pins: HostKeyPins | None = None) -> SshExecutor:
        """Check the connection settings and resolve every server before anything runs."""
        where = f"apps.{app_name}.connection"
        conn = app.connection
        try:
            config = load_ssh_config(conn.ssh_config)
            endpoints = {s.name: resolve_server(s, conn, config) for s in app.servers}
        except SshConfigError as exc:
            raise AdapterError(f"{where}.ssh_config: {exc}") from None
        credentials = Credentials(
            pkey=_load_key(conn.key_file, f"{where}.key_file") if conn.key_file else None,
            key_file=conn.key_file,
            use_agent=conn.use_agent,
        )
        rules = HostKeyRules.load(
            _known_hosts(conn.known_hosts, f"{where}.known_hosts"),
            conn.accept_unknown_host_keys,
            pins,
        )
        pool = ConnectionPool(rules, credentials, conn.connect_timeout, keepalive=conn.keepalive)
        return cls(
            endpoints, pool, timeout=conn.connect_timeout, env=command_environment(app), rules=rules
        )

    def check(self, server: Server) -> str | None:
        """Log in, or prove that the connection opened earlier still runs commands,
        so that a server that cannot be reached is found before the deploy changes
        anything on it or in the load balancer.

        A connection can outlive its server's sshd (the session process keeps the
        TCP connection while nothing can start a command), so a reused connection
        runs ``true``; if that fails, a fresh login decides."""
        endpoint = self._endpoints.get(server.name)
        if endpoint is None:
            return f"{server.name} is not a server of this app"
        try:
            client, fresh = self._pool.client_and_age(endpoint)
            if fresh or self._runs_true(client, endpoint):
                return None
            self._pool.discard(endpoint)
            self._pool.client(endpoint)
            return None
        except ConnectError as exc:
            return str(exc)

    def notes(self) -> list[str]:
        """What a person should see that is no failure: host keys pinned on first use."""
        return self._rules.take_notes() if self._rules else []

    def _runs_true(self, client: paramiko.SSHClient, endpoint: Endpoint) -> bool:
        try:
            channel = self._open(client, endpoint)
        except (ConnectError, paramiko.SSHException, OSError, EOFError):
            return False
        try:
            channel.exec_command("true")
            return channel.status_event.wait(self._timeout) and channel.recv_exit_status() == 0
        except (paramiko.SSHException, OSError, EOFError):
            return False
        finally:
            channel.close()

    def run(
        self,
        server: Server,
        command: str,
        *,
        env: Mapping[str, str],
        timeout: float,
        abort: threading.Event,
    ) -> CommandResult:
        began = time.monotonic()
        if abort.is_set():
            return CommandResult(None, "", 0.0, aborted=True)
        endpoint = self._endpoints.get(server.name)
        if endpoint is None:
            return CommandResult(None, "", 0.0, error=f"{server.name} is not a server of this app")
        try:
            script = command_script(command, {**self._env, **env})
        except ValueError as exc:
            return CommandResult(None, "", 0.0, error=f"refused: {exc}")
        try:
            client = self._pool.client(endpoint)
            channel = self._open(client, endpoint)
        except ConnectError as exc:
            return CommandResult(None, "", time.monotonic() - began, error=str(exc))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            message = f"{endpoint.where}: cannot open a session ({exc})"
            return CommandResult(None, "", time.monotonic() - began, error=message)
        try:
            channel.set_combine_stderr(True)
            channel.exec_command(f"exec /bin/sh -c {shlex.quote(script)}")
            channel.shutdown_write()  # stdin at EOF, as locally: a prompt must not hang
            return self._finish(client, channel, endpoint, began, timeout, abort)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            message = f"{endpoint.where}: the command could not run to the end ({exc})"
            return CommandResult(None, "", time.monotonic() - began, error=message)
        finally:
            channel.close()

    def close(self) -> None:
        self._pool.close()

    def _open(self, client: paramiko.SSHClient, endpoint: Endpoint) -> paramiko.Channel:
        transport = client.get_transport()
        if transport is None:
            raise ConnectError(f"{endpoint.where}: the connection closed")
        return transport.open_session(timeout=self._timeout)

    def _finish(
        self,
        client: paramiko.SSHClient,
        channel: paramiko.Channel,
        endpoint: Endpoint,
        began: float,
        timeout: float,
        abort: threading.Event,
    ) -> CommandResult:
        output = Output()
        # The command's own timeout starts now; connecting had connect_timeout.
        stopped = collect(channel, output, time.monotonic(), timeout, abort)
        if stopped is not None:
            await_marker(channel, output)
            self._kill(client, output.pgid, endpoint)
            return CommandResult(
                None,
                output.tail(),
                time.monotonic() - began,
                timed_out=stopped == "timed_out",
                aborted=stopped == "aborted",
            )
        if not channel.status_event.wait(self._timeout) or channel.recv_exit_status() < 0:
            return CommandResult(
                None,
                output.tail(),
                time.monotonic() - began,
                error=f"{endpoint.where}: the command ended without an exit status "
                "(killed by a signal, or the connection was lost)",
            )
        return CommandResult(channel.recv_exit_status(), output.tail(), time.monotonic() - began)

    def _kill(self, client: paramiko.SSHClient, pgid: int | None, endpoint: Endpoint) -> None:
        """TERM the command's process group now, KILL it 2 s later if anything is left.

        The KILL runs in the background on the server so that the report does
        not wait for it (a TERMed process lingers as a zombie until reaped, so
        polling for it would always wait the full grace period)."""
        if pgid is None:  # the shell never started; closing the channel is all there is
            return
        group = f"-{pgid}"
        script = (
            f"kill -TERM {group} 2>/dev/null; "
            f"(sleep {KILL_GRACE}; kill -KILL {group}) </dev/null >/dev/null 2>&1 &"
        )
        try:
            channel = self._open(client, endpoint)
            channel.exec_command(f"exec /bin/sh -c {shlex.quote(script)}")
            channel.status_event.wait(KILL_WAIT)
            channel.close()
        except (ConnectError, paramiko.SSHException, OSError, EOFError) as exc:
            log.warning("%s: could not stop process group %d: %s", endpoint.where, pgid, exc)


def _load_key(path: str, where: str) -> paramiko.PKey:
    file = Path(path).expanduser()
    if not file.is_file():
        raise AdapterError(f"{where}: {file}: no such file")
    try:
        return paramiko.PKey.from_path(file)
    except (paramiko.PasswordRequiredException, TypeError):
        # cryptography raises TypeError for an OpenSSH-format key with a passphrase.
        raise AdapterError(
            f"{where}: {file} is protected by a passphrase; load it into ssh-agent (ssh-add) "
            "and remove key_file, or use a deploy key without one"
        ) from None
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise AdapterError(f"{where}: {file}: not a private key shipbot can read ({exc})") from None


def _known_hosts(path: str | None, where: str) -> Path:
    if path is None:
        return Path("~/.ssh/known_hosts").expanduser()  # missing: every host is unknown
    file = Path(path).expanduser()
    if not file.exists():
        raise AdapterError(f"{where}: {file}: no such file")
    return file
