"""Batching in the front: requests that wait for a TorchServe worker go to it together.

TorchServe's own batching holds every batch open for `maxBatchDelay` after its first
request, even a lone one: 1 ms, its smallest useful value (at 0 its aggregator stops
after two requests), cost a lone request about a tenth of its throughput against stock
TorchServe, which runs batches of one (c=1: 80-88 against 89-98 req/s). So for vxserve
handlers TorchServe runs batches of one with no delay, and the front does the batching
without a window: it keeps at most one request in flight per TorchServe worker, sends a
request at once when a worker is free, and while every worker is busy the requests that
arrive wait here; the next free worker gets all of them (up to VXSERVE_BATCH_SIZE
instances and TorchServe's request size limit) in one *bundle*. At low load nothing
waits; under load bundles fill by themselves.

A bundle is one POST whose body is a JSON array of the requests' own bodies, marked by
the `x-vxts-bundle` header (the front refuses any body that is not a JSON object, so no
client can send one). The worker validates and answers each request on its own and
returns their answers back to back, their statuses and lengths in `x-vxts-parts`
("200:1234,400:87"), so the front cuts the answer without parsing it.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

BUNDLE_HEADER = "x-vxts-bundle"  # requests in a bundle (request header)
PARTS_HEADER = "x-vxts-parts"  # "status:length" per answer, in order (response header)


@dataclass
class Answer:
    """One request's answer: status, body and how many requests went to TorchServe with it."""

    status: int
    body: bytes
    batch_requests: int = 1


# Sends one request body (count=1, as the client sent it) or a bundle of several and
# returns one Answer per request, in order; raises for a failure of the whole hop.
Send = Callable[[list[bytes]], Awaitable[list[Answer]]]


@dataclass
class _Waiting:
    body: bytes
    instances: int
    answer: asyncio.Future[Answer]


class Bundler:
    """At most `slots` requests or bundles in flight; what waits goes out together."""

    def __init__(self, send: Send, *, slots: int, max_instances: int, max_bytes: int):
        self._send = send
        self.slots = max(1, slots)
        self.max_instances = max(1, max_instances)
        # TorchServe refuses a larger request (413) for every request in it; one body alone
        # is always under it (the front's body limit is lower).
        self.max_bytes = max_bytes
        self.in_flight = 0
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def submit(self, body: bytes, instances: int) -> Answer:
        """The request's answer; exceptions of the hop are raised to every request in it."""
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(body, instances, answer))
        self._dispatch()
        return await answer

    def _dispatch(self) -> None:
        while self.in_flight < self.slots and self._waiting:
            bundle = [self._waiting.popleft()]
            size, length = bundle[0].instances, len(bundle[0].body) + 2
            while (
                self._waiting
                and size + self._waiting[0].instances <= self.max_instances
                and length + len(self._waiting[0].body) + 1 <= self.max_bytes
            ):
                size += self._waiting[0].instances
                length += len(self._waiting[0].body) + 1
                bundle.append(self._waiting.popleft())
            # A request whose caller gave up (timeout, disconnect) is not sent.
            bundle = [w for w in bundle if not w.answer.done()]
            if not bundle:
                continue
            self.in_flight += 1
            task = asyncio.create_task(self._run(bundle))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, bundle: list[_Waiting]) -> None:
        try:
            answers = await self._send([w.body for w in bundle])
        except BaseException as exc:  # every request in the hop gets it
            for w in bundle:
                if not w.answer.done():
                    w.answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for w, answer in zip(bundle, answers, strict=True):
                if not w.answer.done():
                    w.answer.set_result(answer)
        finally:
            self.in_flight -= 1
            self._dispatch()


def bundle_body(bodies: list[bytes]) -> bytes:
    """The requests' bodies as one JSON array (each body is already a JSON object)."""
    return b"[" + b",".join(bodies) + b"]"


def frame_answers(answers: list[tuple[int, bytes]]) -> tuple[str, bytes]:
    """(x-vxts-parts value, body) for a bundle's answers."""
    parts = ",".join(f"{status}:{len(body)}" for status, body in answers)
    return parts, b"".join(body for _, body in answers)


def split_answers(parts: str, body: bytes) -> list[tuple[int, bytes]]:
    """The inverse of frame_answers; ValueError when the framing does not add up."""
    out, offset = [], 0
    for part in parts.split(","):
        status, _, length = part.partition(":")
        end = offset + int(length)
        if end > len(body):
            raise ValueError(f"{PARTS_HEADER} says {end} bytes, the answer has {len(body)}")
        out.append((int(status), body[offset:end]))
        offset = end
    if offset != len(body):
        raise ValueError(f"{PARTS_HEADER} accounts for {offset} of {len(body)} bytes")
    return out
