"""Raw TCP listeners (FTP banner, MySQL-ish port, silent port), run as a process of their own.

`python -m scanner.lab.listeners --spec JSON` binds every listener, then serves them with asyncio
until SIGTERM. JSON: a list of {"address", "port", "greeting" (hex), "hold"}. A separate process
keeps these servers off the GIL of the scanner being tested.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from scanner.lab.hosts import HostSpec
from scanner.lab.procs import Proc, module_command, module_env


def spec_json(hosts: list[HostSpec]) -> str:
    return json.dumps([{"address": h.address, "port": lst.port, "greeting": lst.greeting.hex(),
                        "hold": lst.hold, "answer": lst.answer.hex()}
                       for h in hosts for lst in h.listeners])


def start(workdir: Path, hosts: list[HostSpec]) -> Proc:
    return Proc("listeners", module_command("scanner.lab.listeners", "--spec", spec_json(hosts)),
                workdir / "listeners.log", env=module_env())


def _handler(greeting: bytes, hold: bool, answer: bytes
             ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if greeting:
                writer.write(greeting)
                await writer.drain()
            while hold and await reader.read(4096):  # until the peer hangs up
                if answer:
                    writer.write(answer)
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
    return handle


async def _serve(spec: list[dict[str, object]]) -> None:
    servers = [await asyncio.start_server(
        _handler(bytes.fromhex(str(item["greeting"])), bool(item["hold"]),
                 bytes.fromhex(str(item.get("answer", "")))),
        str(item["address"]), int(str(item["port"])), reuse_address=True) for item in spec]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("listening on " + ", ".join(f"{i['address']}:{i['port']}" for i in spec), flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", required=True, help="JSON list of listeners")
    asyncio.run(_serve(json.loads(parser.parse_args(argv).spec)))


if __name__ == "__main__":
    main()
