"""The front's batching (vxts.bundling) on its own; test_ts_server.py runs it through TorchServe."""

from __future__ import annotations

import asyncio
import json

import pytest
from vxts.bundling import Answer, Bundler, bundle_body, frame_answers, split_answers


class Upstream:
    """Stands in for TorchServe: records each hop, answers when `release` is set."""

    def __init__(self) -> None:
        self.hops: list[list[bytes]] = []
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def send(self, bodies: list[bytes]) -> list[Answer]:
        self.hops.append(bodies)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return [Answer(200, b"answer to " + body, len(bodies)) for body in bodies]


def _bundler(*, slots: int = 1, max_instances: int = 8,
             max_bytes: int = 1 << 20) -> tuple[Upstream, Bundler]:
    upstream = Upstream()
    return upstream, Bundler(upstream.send, slots=slots, max_instances=max_instances,
                             max_bytes=max_bytes)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_lone_request_goes_at_once_and_waiting_ones_go_together() -> None:
    async def scenario() -> None:
        upstream, bundler = _bundler()
        first = asyncio.create_task(bundler.submit(b"a", 1))
        await _settle()
        assert upstream.hops == [[b"a"]]  # no window: sent before anything else arrived
        rest = [asyncio.create_task(bundler.submit(body, 1)) for body in (b"b", b"c", b"d")]
        await _settle()
        assert len(upstream.hops) == 1 and bundler.waiting == 3  # the one worker is busy
        upstream.release.set()
        answers = await asyncio.gather(first, *rest)
        assert upstream.hops == [[b"a"], [b"b", b"c", b"d"]]
        assert [a.body for a in answers] == [b"answer to a", b"answer to b", b"answer to c",
                                             b"answer to d"]
        assert [a.batch_requests for a in answers] == [1, 3, 3, 3]

    asyncio.run(scenario())


def test_one_hop_per_free_worker_and_bundles_stop_at_the_batch_size() -> None:
    async def scenario() -> None:
        upstream, bundler = _bundler(slots=2, max_instances=4)
        tasks = [asyncio.create_task(bundler.submit(b"x%d" % i, 3 if i == 2 else 1))
                 for i in range(7)]
        await _settle()
        # Two workers: the first two requests go alone, at once.
        assert upstream.hops == [[b"x0"], [b"x1"]]
        upstream.release.set()
        await asyncio.gather(*tasks)
        # Then what waited, at most 4 instances per hop (x2 holds 3), one hop per worker.
        assert upstream.hops[2:] == [[b"x2", b"x3"], [b"x4", b"x5", b"x6"]]
        assert bundler.in_flight == 0

    asyncio.run(scenario())


def test_a_bundle_stays_under_torchserves_request_size_limit() -> None:
    """TorchServe answers 413 for a request over max_request_size, which for a bundle
    would fail every request in it: large bodies go in smaller bundles instead."""
    async def scenario() -> None:
        upstream, bundler = _bundler(max_instances=32, max_bytes=25)
        first = asyncio.create_task(bundler.submit(b"a", 1))
        await _settle()
        bodies = [b"x" * 10, b"y" * 10, b"z" * 10]  # [x,y] is 23 bytes, [x,y,z] 34
        tasks = [asyncio.create_task(bundler.submit(b, 1)) for b in bodies]
        await _settle()
        upstream.release.set()
        await asyncio.gather(first, *tasks)
        assert upstream.hops == [[b"a"], bodies[:2], bodies[2:]]
        assert all(len(bundle_body(hop)) <= 25 for hop in upstream.hops)

    asyncio.run(scenario())


def test_a_failed_hop_fails_every_request_in_it_and_the_next_ones_still_go() -> None:
    async def scenario() -> None:
        upstream, bundler = _bundler()
        upstream.fail = ConnectionError("TorchServe went away")
        tasks = [asyncio.create_task(bundler.submit(b, 1)) for b in (b"a", b"b", b"c")]
        await _settle()
        upstream.release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        upstream.fail = None
        assert (await bundler.submit(b"d", 1)).body == b"answer to d"

    asyncio.run(scenario())


def test_a_request_whose_caller_gave_up_is_not_sent() -> None:
    async def scenario() -> None:
        upstream, bundler = _bundler()
        busy = asyncio.create_task(bundler.submit(b"a", 1))
        await _settle()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await bundler.submit(b"gave up", 1)
        kept = asyncio.create_task(bundler.submit(b"b", 1))
        await _settle()
        upstream.release.set()
        await asyncio.gather(busy, kept)
        assert upstream.hops == [[b"a"], [b"b"]]

    asyncio.run(scenario())


def test_answers_are_framed_and_cut_back_without_parsing() -> None:
    answers = [(200, b'{"predictions":[1]}'), (400, b'{"error":{"code":400}}'), (200, b"{}")]
    parts, body = frame_answers(answers)
    assert parts == "200:19,400:22,200:2"
    assert split_answers(parts, body) == answers
    with pytest.raises(ValueError):
        split_answers(parts, body[:-1])
    with pytest.raises(ValueError):
        split_answers("200:3", body)
    bundled = bundle_body([b'{"instances":[1]}', b'{"instances":[2]}'])
    assert json.loads(bundled) == [{"instances": [1]}, {"instances": [2]}]
