"""fabric ThreadingGroup: ``group.run(command)`` once per command over all servers.

Each Connection keeps its paramiko client open between the group's commands
(one connection per server); its host key policy is set back from fabric's
default AutoAddPolicy to RejectPolicy with the fleet's known_hosts, key auth
with the fleet's key, no agent, no ~/.ssh lookup.
"""

from __future__ import annotations

import paramiko
from fabric import Connection, ThreadingGroup
from spec import load, report


def main() -> None:
    spec = load()
    connections = []
    for server in spec.servers:
        connection = Connection(
            server.host,
            port=server.port,
            user=spec.user,
            connect_timeout=spec.timeout,
            connect_kwargs={
                "key_filename": [spec.key],
                "allow_agent": False,
                "look_for_keys": False,
            },
        )
        connection.client.load_host_keys(spec.known_hosts)
        connection.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        connections.append(connection)
    names = {id(c): s.name for c, s in zip(connections, spec.servers, strict=True)}
    failed: dict[str, str] = {}
    last: dict[str, str] = {}
    group = ThreadingGroup.from_connections(connections)
    for command in spec.commands:
        alive = ThreadingGroup.from_connections(
            [c for c in connections if names[id(c)] not in failed]
        )
        results = alive.run(command, hide=True, warn=True, timeout=spec.timeout)
        for connection, result in results.items():
            name = names[id(connection)]
            if isinstance(result, BaseException):
                failed[name] = f"{type(result).__name__}: {result}"
            elif result.exited != 0:
                failed[name] = f"exit {result.exited}: {result.stdout}"
            else:
                last[name] = result.stdout
    group.close()
    for server in spec.servers:
        if server.name in failed:
            report(server.name, False, failed[server.name])
        else:
            report(server.name, True, last.get(server.name, ""))


if __name__ == "__main__":
    main()
