"""The front's keep-alive client against a real loopback HTTP server (asyncio streams)."""

from __future__ import annotations

import asyncio

import pytest
from vxts.upstream import Upstream, UpstreamError


async def serve(handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    length = int(next(line.split(":")[1] for line in head.split("\r\n")
                      if line.lower().startswith("content-length")))
    return head.split("\r\n")[0], await reader.readexactly(length)


def test_keep_alive_reuses_one_connection_and_reads_chunked() -> None:
    async def main() -> None:
        connections = 0

        async def handler(reader, writer):
            nonlocal connections
            connections += 1
            for _ in range(2):
                line, body = await read_request(reader)
                if b"chunk" in body:
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                else:
                    reply = line.encode() + b"|" + body
                    writer.write(b"HTTP/1.1 400 Bad\r\nX-Batch: 3\r\nContent-Length: "
                                 + str(len(reply)).encode() + b"\r\n\r\n" + reply)
                await writer.drain()
            writer.close()

        server, port = await serve(handler)
        up = Upstream("127.0.0.1", port)
        first = await up.request("POST", "/predictions/m", b'{"x":1}', timeout=5)
        assert first.status == 400 and first.headers["x-batch"] == "3"
        assert first.body == b'POST /predictions/m HTTP/1.1|{"x":1}'
        second = await up.request("POST", "/p", b"chunk", timeout=5)
        assert (second.status, second.body) == (200, b"abcde")
        assert connections == 1
        up.close()
        server.close()

    asyncio.run(main())


def test_a_pooled_connection_closed_by_the_peer_is_retried_fresh() -> None:
    async def main() -> None:
        async def handler(reader, writer):
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            writer.close()  # one answer per connection, without saying so

        server, port = await serve(handler)
        up = Upstream("127.0.0.1", port)
        for _ in range(3):
            assert (await up.request("POST", "/", b"{}", timeout=5)).body == b"ok"
        up.close()
        server.close()

    asyncio.run(main())


def test_unreachable_and_slow_peers_raise_clear_errors() -> None:
    async def main() -> None:
        server, port = await serve(lambda r, w: None)
        server.close()
        await server.wait_closed()
        with pytest.raises(UpstreamError, match="cannot connect"):
            await Upstream("127.0.0.1", port).request("GET", "/", timeout=5)

        async def silent(reader, writer):
            await asyncio.sleep(5)

        slow, slow_port = await serve(silent)
        with pytest.raises(TimeoutError):
            await Upstream("127.0.0.1", slow_port).request("GET", "/", timeout=0.2)
        slow.close()

    asyncio.run(main())
