"""parallel-ssh ParallelSSHClient (native client: ssh2-python on gevent).

``run_command`` once per command over all servers; the client keeps each
server's session between commands (one connection per server). pool_size = N
(all at once). ParallelSSHClient has no host key verification: the
known_hosts file is not consulted.
"""

from __future__ import annotations

from pssh.clients import ParallelSSHClient
from pssh.config import HostConfig
from spec import load, report


def main() -> None:
    spec = load()
    client = ParallelSSHClient(
        [s.host for s in spec.servers],
        host_config=[
            HostConfig(port=s.port, user=spec.user, private_key=spec.key) for s in spec.servers
        ],
        pool_size=len(spec.servers),
        timeout=spec.timeout,
        num_retries=1,
    )
    failed: dict[int, str] = {}
    last: dict[int, str] = {}
    for command in spec.commands:
        output = client.run_command(command, stop_on_errors=False)
        client.join(output)
        for index, host_out in enumerate(output):
            if index in failed:
                continue
            if host_out.exception is not None:
                failed[index] = f"{type(host_out.exception).__name__}: {host_out.exception}"
                continue
            out = "\n".join(host_out.stdout or [])
            if host_out.exit_code != 0:
                failed[index] = f"exit {host_out.exit_code}: {out}"
            else:
                last[index] = out
    for index, server in enumerate(spec.servers):
        if index in failed:
            report(server.name, False, failed[index])
        else:
            report(server.name, True, last.get(index, ""))


if __name__ == "__main__":
    main()
