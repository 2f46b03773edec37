"""HAProxyLoadBalancer: servers in and out of rotation over HAProxy's runtime API.

Out: ``set server BE/SRV state drain`` (no new sessions; current ones finish),
then ``maint`` once HAProxy counts no session on the server, so a deploy never
cuts a request short. In: ``ready``; the server counts as serving only once
HAProxy says it is UP. HAProxy treats a server leaving maintenance as UP at
once ("start OK but check immediately"), on a health check result from before
the deploy; so a checked server comes back through drain with its health reset,
and only a fresh passing check puts it into rotation.

The protocol is one line per connection, read to EOF: HAProxy answers an
accepted ``set`` with an empty reply and anything else with the reason.
"""

from __future__ import annotations

import csv
import re
import socket
from dataclasses import dataclass

from adapters.registry import AdapterError
from strategies.manifest import App, Server
from strategies.ports import LbReport, LoadBalancerError

# HAProxy identifiers: no space, ';' or newline can reach the command line.
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
TCP_ADDRESS = re.compile(r"^\[?(?P<host>[A-Za-z0-9_.:-]+?)\]?:(?P<port>\d{1,5})$")

# ``show servers state`` fields (HAProxy's SRV_ST_*, SRV_ADMF_*, CHK_ST_* values).
OP_STARTING, OP_RUNNING = 1, 2
ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40  # forced, inherited, config, resolver, hostname
ADMIN_DRAIN = 0x08 | 0x10  # forced, inherited
CHECK_CONFIGURED = 0x02


@dataclass(frozen=True)
class ServerState:
    op_state: int
    admin_state: int
    check_state: int


class HAProxyLoadBalancer:
    def __init__(self, address: str, backend: str, *, timeout: float = 5.0) -> None:
        self._address = address
        self._backend = backend
        self._timeout = timeout

    @classmethod
    def from_app(cls, app_name: str, app: App) -> HAProxyLoadBalancer:
        """Build from the manifest; AdapterError naming the key if something is missing."""
        lb = app.load_balancer
        path = f"apps.{app_name}.load_balancer"
        if not lb.socket:
            raise AdapterError(
                f"{path}.socket: required for type haproxy (a unix socket path or HOST:PORT)"
            )
        if not lb.backend:
            raise AdapterError(f"{path}.backend: required for type haproxy (the backend name)")
        _check_name(lb.backend, f"{path}.backend")
        for index, server in enumerate(app.servers):
            if server.lb_name is not None:
                _check_name(server.lb_name, f"apps.{app_name}.servers[{index}].lb_name")
        return cls(lb.socket, lb.backend, timeout=lb.timeout)

    def remove(self, server: Server) -> None:
        self._set(_name(server), "state drain")

    def add(self, server: Server) -> None:
        name = _name(server)
        state = self.server_state(name)
        if state and state.admin_state & ADMIN_MAINT and state.check_state & CHECK_CONFIGURED:
            self._set(name, "state drain")
            self._set(name, "health down", refused=False)
            self._set(name, "state ready", refused=False)
        else:
            self._set(name, "state ready")

    def report(self, server: Server) -> LbReport | None:
        """Where the server is; a drain that has finished is completed with ``maint``,
        so that no new session can reach it while it deploys."""
        name = _name(server)
        report, state = self._observe(name)
        if report == "drained" and not state.admin_state & ADMIN_MAINT:
            self._set(name, "state maint", refused=False)
        return report

    def check(self, server: Server) -> LbReport | None:
        """Like ``report``, changing nothing."""
        return self._observe(_name(server))[0]

    def _observe(self, name: str) -> tuple[LbReport, ServerState]:
        state = self.server_state(name)
        if state is None:
            raise LoadBalancerError(self._not_listed(name), refused=True)
        if state.admin_state & ADMIN_MAINT:
            return "drained", state
        if state.admin_state & ADMIN_DRAIN:
            return ("draining" if self.sessions(name) > 0 else "drained"), state
        serving = state.op_state in (OP_STARTING, OP_RUNNING)
        return ("serving" if serving else "starting"), state

    def server_state(self, name: str) -> ServerState | None:
        """From ``show servers state BACKEND``; None if the backend has no such server."""
        command = f"show servers state {self._backend}"
        reply = self.command(command)
        lines = reply.splitlines()
        header = next((line[2:].split() for line in lines if line.startswith("# ")), None)
        if header is None:
            raise LoadBalancerError(f"HAProxy: {_first_line(reply)} ({command})", refused=True)
        for line in lines:
            row = dict(zip(header, line.split(), strict=False))
            if row.get("be_name") == self._backend and row.get("srv_name") == name:
                return ServerState(
                    int(row["srv_op_state"]),
                    int(row["srv_admin_state"]),
                    int(row["srv_check_state"]),
                )
        return None

    def sessions(self, name: str) -> int:
        """Sessions on the server plus requests queued for it (``show stat``: scur + qcur)."""
        command = f"show stat {self._backend} 4 -1"
        reply = self.command(command)
        if not reply.startswith("# "):
            raise LoadBalancerError(f"HAProxy: {_first_line(reply)} ({command})", refused=True)
        for row in csv.DictReader(reply[2:].splitlines()):
            if row["pxname"] == self._backend and row["svname"] == name:
                return int(row["scur"] or 0) + int(row["qcur"] or 0)
        raise LoadBalancerError(self._not_listed(name), refused=True)

    def command(self, line: str) -> str:
        """Send one runtime API command on its own connection; HAProxy's reply, read to EOF."""
        try:
            with self._connect() as sock:
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise LoadBalancerError(
                f"cannot reach the HAProxy runtime API at {self._address}: {reason}"
            ) from exc
        return b"".join(chunks).decode("utf-8", "replace")

    def _connect(self) -> socket.socket:
        tcp = TCP_ADDRESS.match(self._address)
        if tcp and "/" not in self._address:
            address = (tcp["host"], int(tcp["port"]))
            return socket.create_connection(address, timeout=self._timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout)
        try:
            sock.connect(self._address)
        except OSError:
            sock.close()
            raise
        return sock

    def _set(self, name: str, change: str, *, refused: bool = True) -> None:
        """``set server BACKEND/NAME CHANGE``; any reply is HAProxy refusing it.

        ``refused=False`` for a command that follows another in the same
        change: the server may already have moved, so we cannot say it did not.
        """
        command = f"set server {self._backend}/{name} {change}"
        reply = self.command(command).strip()
        if reply:
            raise LoadBalancerError(f"HAProxy: {_first_line(reply)} ({command})", refused=refused)

    def _not_listed(self, name: str) -> str:
        return f"HAProxy lists no server {name!r} in backend {self._backend!r}"


def _name(server: Server) -> str:
    return server.lb_name or server.name


def _check_name(value: str, path: str) -> None:
    if not NAME.match(value):
        raise AdapterError(
            f"{path}: {value!r} is not an HAProxy name (letters, digits, '_', '.', ':', '-')"
        )


def _first_line(reply: str) -> str:
    return next((line.strip() for line in reply.splitlines() if line.strip()), "(empty reply)")
