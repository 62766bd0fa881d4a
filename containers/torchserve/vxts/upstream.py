"""A minimal keep-alive HTTP/1.1 client for the one hop from the front to TorchServe.

The front's whole cost is this hop, and a general-purpose async client (httpx over h11)
spends about a millisecond of CPU per request on it, several under CPU contention. The
peer here is always TorchServe on loopback answering with Content-Length (or chunked)
bodies, so a pool of asyncio streams, one write per request and a small response parser
do the job in a fraction of that.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


class UpstreamError(ConnectionError):
    """The connection to TorchServe failed or it answered something that is not HTTP/1.1."""


@dataclass
class UpstreamResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def close(self) -> None:
        self.writer.close()


class Upstream:
    """Pooled connections to one host:port; safe for concurrent use from one event loop."""

    def __init__(self, host: str, port: int, *, max_idle: int = 64):
        self.host, self.port, self.max_idle = host, port, max_idle
        self._idle: list[_Conn] = []

    async def request(
        self, method: str, path: str, body: bytes = b"", *, timeout: float,
        content_type: str = "application/json", headers: dict[str, str] | None = None,
    ) -> UpstreamResponse:
        """Send one request; a pooled connection that turns out closed is retried once fresh."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
        ).encode("latin-1")
        async with asyncio.timeout(timeout):
            for attempt in (0, 1):
                reused = bool(self._idle)
                conn = self._idle.pop() if reused else await self._connect()
                try:
                    conn.writer.write(head + body)
                    response, keep = await self._read_response(conn.reader)
                except (ConnectionError, asyncio.IncompleteReadError, UpstreamError) as exc:
                    conn.close()
                    # Only a kept-alive connection the peer closed meanwhile is retried;
                    # it failed before any answer, so TorchServe never saw the request.
                    if reused and attempt == 0 and _before_answer(exc):
                        continue
                    raise UpstreamError(f"{type(exc).__name__}: {exc}") from None
                except BaseException:
                    conn.close()  # cancelled (timeout) mid-request: the stream is unusable
                    raise
                if keep and len(self._idle) < self.max_idle:
                    self._idle.append(conn)
                else:
                    conn.close()
                return response
        raise AssertionError("unreachable")

    async def _connect(self) -> _Conn:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise UpstreamError(f"cannot connect to {self.host}:{self.port}: {exc}") from None
        return _Conn(reader, writer)

    @staticmethod
    async def _read_response(reader: asyncio.StreamReader) -> tuple[UpstreamResponse, bool]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise UpstreamError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(reader)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        keep = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
        return UpstreamResponse(int(parts[1]), headers, body), keep

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers from TorchServe
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _before_answer(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.IncompleteReadError):
        return not exc.partial
    return isinstance(exc, ConnectionError)
