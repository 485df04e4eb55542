"""A TCP proxy on loopback that a test can take down and bring back: a broker outage on demand."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from pathlib import Path

_EPHEMERAL_LOW = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, for a server a test starts later.

    Drawn below the kernel's ephemeral range: a port the kernel itself handed out (bind to 0) can be
    taken meanwhile by any outgoing connection's local end, and the test's server then fails to bind
    (seen once in CI: "address already in use" for an SMTP port).
    """
    while True:
        port = random.randrange(max(1024, _EPHEMERAL_LOW - 12_000), _EPHEMERAL_LOW)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._server: asyncio.base_events.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._replies_flow = asyncio.Event()  # cleared: what the target sends is held back
        self._replies_flow.set()

    def hold_replies(self) -> None:
        """Keep what the target sends (a broker's confirms) from the client, until the next start()."""
        self._replies_flow.clear()

    async def start(self) -> None:
        self._replies_flow.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def stop(self) -> None:
        """Refuse new connections and cut the live ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._links):
            task.cancel()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, upstream_writer})
        task = asyncio.current_task()
        assert task is not None
        self._links.add(task)
        try:
            await asyncio.gather(self._pipe(reader, upstream_writer),
                                 self._pipe(upstream_reader, writer, self._replies_flow))
        finally:
            self._links.discard(task)
            for side in (writer, upstream_writer):
                side.close()
                self._writers.discard(side)

    @staticmethod
    async def _pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flow: asyncio.Event | None = None
    ) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if flow is not None:
                    await flow.wait()
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()
