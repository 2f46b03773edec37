"""paramiko + threads: one thread per server, ``exec_command`` per command.

Host keys from the known_hosts file, unknown keys rejected (RejectPolicy);
key auth with the fleet's ed25519 key, no agent, no ~/.ssh lookup. The socket
is opened by paramiko itself (Nagle on: paramiko's default). One connection
per server for all its commands, or with ``per_command`` a new one for each.
"""

from __future__ import annotations

import threading

import paramiko
from spec import Server, Spec, load, report


def connect(spec: Spec, server: Server, pkey: paramiko.PKey) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(spec.known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        server.host,
        port=server.port,
        username=spec.user,
        pkey=pkey,
        allow_agent=False,
        look_for_keys=False,
        timeout=spec.timeout,
    )
    return client


def run(client: paramiko.SSHClient, command: str, timeout: float) -> tuple[int, str]:
    _, stdout, _ = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode(errors="replace")
    return stdout.channel.recv_exit_status(), out


def one(spec: Spec, server: Server, pkey: paramiko.PKey) -> None:
    try:
        out, client = "", None
        for command in spec.commands:
            if client is None:
                client = connect(spec, server, pkey)
            status, out = run(client, command, spec.timeout)
            if spec.per_command:
                client.close()
                client = None
            if status != 0:
                report(server.name, False, f"exit {status}: {out}")
                return
        if client is not None:
            client.close()
        report(server.name, True, out)
    except Exception as exc:
        report(server.name, False, f"{type(exc).__name__}: {exc}")


def main() -> None:
    spec = load()
    pkey = paramiko.Ed25519Key.from_private_key_file(spec.key)
    threads = [threading.Thread(target=one, args=(spec, s, pkey)) for s in spec.servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
