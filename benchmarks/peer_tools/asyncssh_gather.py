"""asyncssh with asyncio.gather: one coroutine per server, ``conn.run`` per command.

Host keys checked against the fleet's known_hosts (asyncssh refuses unknown
keys), key auth with the fleet's key (read once), no agent. One connection per
server for all its commands.
"""

from __future__ import annotations

import asyncio

import asyncssh
from spec import Server, Spec, load, report


async def one(spec: Spec, server: Server, key: asyncssh.SSHKey) -> None:
    try:
        async with asyncssh.connect(
            server.host,
            port=server.port,
            username=spec.user,
            client_keys=[key],
            known_hosts=spec.known_hosts,
            agent_path=None,
            connect_timeout=spec.timeout,
        ) as conn:
            out = ""
            for command in spec.commands:
                result = await conn.run(command, check=False, timeout=spec.timeout)
                out = str(result.stdout or "")
                if result.exit_status != 0:
                    report(server.name, False, f"exit {result.exit_status}: {out}")
                    return
            report(server.name, True, out)
    except Exception as exc:
        report(server.name, False, f"{type(exc).__name__}: {exc}")


async def main_async() -> None:
    spec = load()
    key = asyncssh.read_private_key(spec.key)
    await asyncio.gather(*(one(spec, s, key) for s in spec.servers))


if __name__ == "__main__":
    asyncio.run(main_async())
