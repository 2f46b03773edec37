"""Opening SSH connections: socket, bastion hops, host key checks, login.

Host keys are checked against known_hosts and an unknown key is refused,
unless the manifest says ``accept_unknown_host_keys: true``; even then the key
is only trusted for this process, never written to the user's known_hosts. A
changed key is always refused. Every failure becomes one ``ConnectError`` line
that names host:port and says what to do.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import paramiko

from adapters.ssh_config import Endpoint
from adapters.ssh_hostkeys import (
    HostKeyRules,
    MissingHostKeyPolicy,
    PinnedKeyChanged,
    RevokedHostKey,
    UnknownHostKey,
)

log = logging.getLogger("shipbot.ssh")

HANDSHAKE_FAILURES = ("protocol banner", "No existing session", "Negotiation failed")


class ConnectError(Exception):
    """Could not connect or log in; ``str()`` is one line for the report."""


@dataclass(frozen=True)
class Credentials:
    pkey: paramiko.PKey | None = None
    key_file: str | None = None  # where ``pkey`` came from, for messages
    use_agent: bool = True


IDLE_WAKEUP = 1.0  # seconds between an idle connection's reader checks


class ConnectionPool:
    """One logged-in connection per endpoint, opened on first use, shared by threads.

    A bastion is an endpoint too, so servers behind the same bastion share
    its connection and each gets its own ``direct-tcpip`` channel through it.
    """

    def __init__(
        self,
        rules: HostKeyRules,
        credentials: Credentials,
        timeout: float,
        *,
        keepalive: float = 0.0,
    ) -> None:
        self._rules, self._credentials, self._timeout = rules, credentials, timeout
        self._keepalive = keepalive
        self._clients: dict[Endpoint, paramiko.SSHClient] = {}
        self._opened: list[paramiko.SSHClient] = []
        self._locks: dict[Endpoint, threading.Lock] = {}
        self._guard = threading.Lock()

    def client(self, endpoint: Endpoint) -> paramiko.SSHClient:
        """The live connection to ``endpoint``; raises ConnectError."""
        return self.client_and_age(endpoint)[0]

    def client_and_age(self, endpoint: Endpoint) -> tuple[paramiko.SSHClient, bool]:
        """The live connection to ``endpoint``, and whether it was opened just now."""
        with self._guard:
            lock = self._locks.setdefault(endpoint, threading.Lock())
        with lock:  # one thread connects; the others wait and reuse it
            with self._guard:
                existing = self._clients.get(endpoint)
            transport = existing.get_transport() if existing else None
            if existing is not None and transport is not None and transport.is_active():
                return existing, False
            client = self._connect(endpoint)
            transport = client.get_transport()
            if transport is not None:
                # paramiko's reader thread wakes every 0.1 s to see whether it should
                # stop; 200 idle connections waking 10 times a second cost a quarter
                # of a CPU-second per 5 s deploy. Once a second is soon enough: a
                # close does not wait for the thread.
                transport.sock.settimeout(IDLE_WAKEUP)
            if transport is not None and self._keepalive > 0:
                # A connection opened at pre-flight may wait a long serial deploy for
                # its turn: keepalives stop NAT and firewalls from dropping it idle.
                transport.set_keepalive(max(1, round(self._keepalive)))
            with self._guard:
                self._clients[endpoint] = client
                self._opened.append(client)
            return client, True

    def discard(self, endpoint: Endpoint) -> None:
        """Forget ``endpoint``'s connection (it stopped answering); the next use logs in again."""
        with self._guard:
            client = self._clients.pop(endpoint, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        """Close every connection, servers before the bastions they go through."""
        with self._guard:
            opened, self._opened = self._opened, []
            self._clients.clear()
        for client in reversed(opened):
            client.close()

    def _connect(self, endpoint: Endpoint) -> paramiko.SSHClient:
        if endpoint.via is None:
            with _explained(endpoint):
                sock: socket.socket | paramiko.Channel = _direct_socket(endpoint, self._timeout)
        else:
            via = endpoint.via
            try:
                bastion = self.client(via)
            except ConnectError as exc:
                raise ConnectError(f"via bastion {via.login}: {exc}") from None
            with _explained(endpoint):
                sock = _jump_socket(bastion, via, endpoint, self._timeout)
        with _explained(endpoint, self._rules, self._credentials):
            return _login(endpoint, sock, self._rules, self._credentials, self._timeout)


def _direct_socket(endpoint: Endpoint, timeout: float) -> socket.socket:
    # paramiko leaves Nagle on; with it each login and command pays ~50 ms more.
    sock = socket.create_connection((endpoint.hostname, endpoint.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _jump_socket(
    bastion: paramiko.SSHClient, via: Endpoint, endpoint: Endpoint, timeout: float
) -> paramiko.Channel:
    transport = bastion.get_transport()
    if transport is None or not transport.is_active():
        raise ConnectError(f"the connection to bastion {via.where} closed")
    try:
        return transport.open_channel(
            "direct-tcpip", (endpoint.hostname, endpoint.port), ("127.0.0.1", 0), timeout=timeout
        )
    except paramiko.ChannelException as exc:
        raise ConnectError(
            f"bastion {via.where} could not open a connection to {endpoint.where} "
            f"({exc.text}); check that the server is up and reachable from the bastion"
        ) from None


def _login(
    endpoint: Endpoint,
    sock: socket.socket | paramiko.Channel,
    rules: HostKeyRules,
    credentials: Credentials,
    timeout: float,
) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    try:
        rules.known_hosts.install(client, endpoint.hostname, endpoint.port)
        client.set_missing_host_key_policy(MissingHostKeyPolicy(rules))
        # paramiko takes a list of key files too, though its stubs say str.
        key_files: Any = list(endpoint.identity_files) or None
        client.connect(
            endpoint.hostname,
            port=endpoint.port,
            username=endpoint.user,
            pkey=credentials.pkey,
            key_filename=key_files,
            allow_agent=credentials.use_agent,
            look_for_keys=credentials.pkey is None and not key_files,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
            sock=sock,
        )
    except BaseException:
        client.close()
        sock.close()
        raise
    return client


@contextmanager
def _explained(
    endpoint: Endpoint,
    rules: HostKeyRules | None = None,
    credentials: Credentials | None = None,
) -> Iterator[None]:
    """Turn whatever paramiko or the socket raised into one ConnectError line."""
    where = endpoint.where
    try:
        yield
    except ConnectError:
        raise
    except RevokedHostKey as exc:
        known = rules.known_hosts.path if rules else "known_hosts"
        raise ConnectError(
            f"host key of {exc.name} ({exc.key.get_name()} {exc.key.fingerprint}) is REVOKED "
            f"in {known}; nothing was run there"
        ) from None
    except PinnedKeyChanged as exc:
        raise ConnectError(
            f"HOST KEY CHANGED for {where}: it offers {exc.key.get_name()} {exc.key.fingerprint}, "
            f"but {exc.pinned} was pinned on {exc.at:%Y-%m-%d %H:%M} UTC when it was first "
            "accepted; nothing was run there. Someone may be intercepting the connection; if "
            f"the server was really re-keyed, add its new key to known_hosts"
        ) from None
    except UnknownHostKey as exc:
        known = rules.known_hosts.path if rules else "known_hosts"
        raise ConnectError(
            f"host key of {exc.name} ({exc.key.get_name()} {exc.key.fingerprint}) is not in "
            f"{known}; nothing was run there. Verify the fingerprint, then add the key "
            f"(ssh-keyscan -p {endpoint.port} {endpoint.hostname} >> {known}) "
            "or set connection.accept_unknown_host_keys: true"
        ) from None
    except paramiko.BadHostKeyException as exc:
        known = rules.known_hosts.path if rules else "known_hosts"
        raise ConnectError(
            f"HOST KEY CHANGED for {where}: it offers {exc.key.get_name()} {exc.key.fingerprint}, "
            f"{known} has {exc.expected_key.get_name()} {exc.expected_key.fingerprint}; nothing "
            f"was run there. Someone may be intercepting the connection; if the server was "
            f"really re-keyed, remove the old key "
            f"(ssh-keygen -f {known} -R '{_known_name(endpoint)}')"
        ) from None
    except paramiko.AuthenticationException as exc:
        raise ConnectError(
            f"authentication as {endpoint.login} failed ({exc}; tried "
            f"{_tried(endpoint, credentials or Credentials())}); "
            "check the user and that the public key is in its authorized_keys"
        ) from None
    except (ConnectionRefusedError, paramiko.ssh_exception.NoValidConnectionsError):
        raise ConnectError(
            f"cannot connect to {where}: connection refused (is sshd running?)"
        ) from None
    except TimeoutError:
        raise ConnectError(
            f"cannot connect to {where}: no answer (timed out); check the address and firewall, "
            "or raise connection.connect_timeout"
        ) from None
    except socket.gaierror as exc:
        raise ConnectError(f"cannot resolve {endpoint.hostname!r} ({exc.strerror})") from None
    except OSError as exc:
        raise ConnectError(f"cannot connect to {where}: {exc.strerror or exc}") from None
    except (paramiko.SSHException, EOFError) as exc:
        text = str(exc) or type(exc).__name__
        # paramiko says only this when the handshake did not finish in time.
        if any(words in text for words in HANDSHAKE_FAILURES):
            raise ConnectError(
                f"ssh to {where} failed: no SSH handshake ({text}); is an sshd listening "
                "there? If it is just slow, raise connection.connect_timeout"
            ) from None
        raise ConnectError(f"ssh to {where} failed: {text}") from None


def _tried(endpoint: Endpoint, credentials: Credentials) -> str:
    tried = [f"key {credentials.key_file}"] if credentials.key_file else []
    tried.extend(f"key {path}" for path in endpoint.identity_files)
    if credentials.use_agent:
        tried.append("ssh-agent")
    if credentials.pkey is None and not endpoint.identity_files:
        tried.append("~/.ssh/id_*")
    return ", ".join(tried) or "nothing"


def _known_name(endpoint: Endpoint) -> str:
    """The host's name as known_hosts writes it: ``[host]:port`` unless port 22."""
    return endpoint.hostname if endpoint.port == 22 else f"[{endpoint.hostname}]:{endpoint.port}"
