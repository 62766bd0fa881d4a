"""Dynamic batching: gather concurrent requests into one forward pass.

`workers` threads share the model (a forward pass releases the GIL, so on a CPU with
more cores than intra-op threads two passes run at once; one thread running every pass
left the other core idle and lost to a plain multi-threaded Flask app when requests
carried several instances). Requests enqueue their preprocessed instances as `Work`
(one per shape group); a free worker takes the oldest, keeps taking whatever is queued
until the batch holds `max_batch_size` instances or `max_delay_s` has passed since the
first was taken, then runs one forward pass per shape group. While the workers are busy
new work piles up, so under load batches fill without waiting. A worker only waits for
more when the server knows requests are on their way (`arriving`: admitted, still being
parsed), so a lone request at low load runs at once instead of paying the delay.

A free worker starts a pass beside a running one once the queue holds at least as
many instances as the smallest pass running (or a full batch), or once it has let the
queued work wait as long as a forward pass's fixed cost (`patience_s`, measured at
warm-up). Starting on whatever was
queued halved the batches under load (mean 7.9 instances at 32 concurrent requests
against 15.7 with one worker, on the tutorial's model): every pass then cost more CPU
per instance, and on a machine whose cores also parse and answer the requests, the
second pass took its core from that work rather than from idle time. With the rule the
passes balance at about half the load each, and a lone request split in parts for
several workers still runs them side by side (its parts are equal).

Without the patience bound, that rule idled a core: at 32 concurrent 1-instance requests
on the tutorial's model one pass ran alone 57% of the time while 7-15 instances sat in
the queue, because the answers of the pass that just ended had to go out and come back
as new requests before the queue matched the running pass (25-30% of the CPU idle).
Waiting for a bigger batch saves at most the pass's fixed cost per pass, so waiting
longer than that fixed cost loses more core time than it saves.

Failure isolation: if a combined forward pass raises, every request in it is re-run
alone, so only the request that really breaks the model gets the error. Out-of-memory
releases the CUDA cache first; the smaller re-runs often fit.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from .device import is_out_of_memory, release_cached_memory
from .errors import (
    ConfigError,
    InvalidInput,
    ModelFailure,
    OutOfMemory,
    Overloaded,
    ServeError,
    Unavailable,
)
from .handler import BaseHandler


class Slot:
    """Where one work's outputs land: the subset of concurrent.futures.Future we use.

    A bare lock instead of Future's Condition: the batching thread resolves dozens of
    these per forward pass while holding the GIL, and Future.set_result's notify_all was
    the largest single cost in profiles at high concurrency.
    """

    __slots__ = ("_done", "_error", "_on_done", "_result")

    def __init__(self, on_done: Callable[[], None] | None = None) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._result: Any = None
        self._error: BaseException | None = None
        # Called once, in the resolving thread, after the result is readable: how an
        # event loop learns of it without a thread parked in result().
        self._on_done = on_done

    def set_result(self, result: Any) -> None:
        self._result = result
        self._done.release()
        if self._on_done is not None:
            self._on_done()

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._done.release()
        if self._on_done is not None:
            self._on_done()

    def done(self) -> bool:
        return not self._done.locked()

    def _wait(self, timeout: float | None) -> None:
        if self._done.locked():
            ok = self._done.acquire(timeout=-1 if timeout is None else max(0.0, timeout))
            if not ok:
                raise FutureTimeout()
            self._done.release()  # stay "done" for later readers

    def result(self, timeout: float | None = None) -> Any:
        """The outputs; raises the work's error, or TimeoutError after `timeout` seconds."""
        self._wait(timeout)
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._wait(timeout)
        return self._error


@dataclass
class Work:
    """Instances of one request that share a shape key, and where their outputs go."""

    key: Hashable
    items: list[Any]
    future: Slot = field(default_factory=Slot)
    enqueued_at: float = field(default_factory=time.monotonic)


def run_group(
    handler: BaseHandler,
    works: Sequence[Work],
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """One forward pass for works that share a shape key; resolves each work's future.

    A work's result is the model's outputs for its own instances (see BaseHandler.split).
    """
    try:
        items = [item for w in works for item in w.items]
        outputs = handler.inference(handler.collate(items))
        parts = handler.split(outputs, [len(w.items) for w in works])
        if on_batch is not None:
            on_batch(len(items))
    except Exception as exc:
        if is_out_of_memory(exc):
            release_cached_memory()
        if len(works) > 1:
            for w in works:
                run_group(handler, [w], on_batch)
            return
        works[0].future.set_exception(as_serve_error(exc))
        return
    for w, part in zip(works, parts, strict=True):
        w.future.set_result(part)


_INPUT_MISMATCH = (
    "shape",
    "size mismatch",
    "sizes of tensors",
    "dimension",
    "index out of range",
    "expected scalar type",
    "same dtype",
    "cannot be multiplied",
)


def as_serve_error(exc: BaseException) -> ServeError:
    """Map an exception from the model to the error the client should see.

    A request that ran alone and made torch complain about shapes, dtypes or indices sent
    input the model cannot take: that is the client's 400, not a 500. Declaring `input`
    in vxserve.json catches it earlier with a clearer message.
    """
    if isinstance(exc, ServeError):
        return exc
    if is_out_of_memory(exc):
        return OutOfMemory("out of accelerator memory for this batch; retry with fewer instances")
    if isinstance(exc, ConfigError):  # the artifacts and handler disagree: not the client's fault
        return ModelFailure(f"the server is misconfigured: {exc}")
    text = _summary(exc)
    if isinstance(exc, (RuntimeError, IndexError, ValueError)) and any(
        marker in text.lower() for marker in _INPUT_MISMATCH
    ):
        return InvalidInput(f"the model rejected the input: {text}")
    return ModelFailure(f"the model failed: {type(exc).__name__}: {text}")


def _summary(exc: BaseException) -> str:
    """The line that says what went wrong; TorchScript puts it last, after a traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return ""
    last = lines[-1]
    if len(lines) > 1 and ": " in last and last.split(": ", 1)[0].endswith("Error"):
        return last.split(": ", 1)[1]
    return lines[0]


class Batcher:
    """The batching thread and its bounded queue (bounded in instances, not requests)."""

    def __init__(
        self,
        handler: BaseHandler,
        *,
        max_batch_size: int = 32,
        max_delay_s: float = 0.005,
        max_queue: int = 1024,
        workers: int = 1,
        on_batch: Callable[[int], None] | None = None,
        on_queue_depth: Callable[[int], None] | None = None,
        patience_s: float | None = None,
    ):
        self.handler = handler
        self.workers = max(1, workers)
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        # How long a free worker lets queued work wait for a pass as big as the running one
        # before it starts with what is there: the fixed cost of a forward pass, measured at
        # warm-up (waiting longer than the saving costs more than it saves); the batch
        # delay where unmeasured.
        self.patience_s = max_delay_s if patience_s is None else max(0.0, patience_s)
        self.max_queue = max_queue
        self._on_batch = on_batch
        self._on_queue_depth = on_queue_depth or (lambda n: None)
        # Requests announced but not yet queued (being parsed and validated). Waiting for
        # more only pays when some are on their way; with none, a lone request runs at once.
        self._arriving = 0
        self._queue: collections.deque[Work] = collections.deque()
        self._queued = 0
        # One lock, two wait queues: idle workers wait for work (`_work`, woken one at a
        # time), a worker filling its batch waits for arrivals (`_arrivals`). With a single
        # condition every queued request woke every idle worker; at low load the extra
        # wake-ups competed with the running pass for the GIL and the cores (c=1 on two
        # workers did 0.77-0.99x the tutorial's server against 0.97-1.15x on one).
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._arrivals = threading.Condition(self._lock)
        self._stopping = False
        self._running = 0  # forward passes running (worker threads and inline callers)
        self._sizes: list[int] = []  # instances in each running pass
        self._threads = [
            threading.Thread(target=self._loop, name=f"vxserve-batcher-{i}", daemon=True)
            for i in range(self.workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    @property
    def queued(self) -> int:
        """Instances waiting for a forward pass."""
        return self._queued

    def announce(self) -> None:
        """A request is on its way (admitted, being parsed): worth waiting for."""
        with self._lock:
            self._arriving += 1

    def withdraw(self) -> None:
        """An announced request will not come (it failed validation)."""
        with self._lock:
            self._arriving -= 1
            self._arrivals.notify_all()

    def submit(
        self,
        key: Hashable,
        items: list[Any],
        *,
        arrived: bool = False,
        inline: bool = True,
        on_done: Callable[[], None] | None = None,
    ) -> Slot:
        """Queue one request's shape group; raises Overloaded when the queue is full.

        `arrived=True` on an announced request's last group ends its announcement. A
        request that finds a worker's slot free, nothing queued and nobody else on the way
        runs its forward pass right here in the caller's thread: at low load that saves two
        thread hand-offs per request, and batching is unchanged once requests overlap
        (they queue behind the running passes and a worker takes them together).
        `inline=False` always queues: an event loop must not block in a forward pass.
        `on_done` is called in the resolving thread once the result is ready.
        """
        work = Work(key, items, Slot(on_done))
        run_here = False
        with self._lock:
            if self._stopping:
                raise Unavailable("the server is shutting down")
            if self._queued and self._queued + len(items) > self.max_queue:
                raise Overloaded(
                    f"the batch queue is full ({self._queued} instances waiting, limit "
                    f"VXSERVE_MAX_QUEUE={self.max_queue}); retry later"
                )
            if arrived:
                self._arriving -= 1
                self._arrivals.notify_all()  # a worker waiting for this request stops waiting
            if (
                inline
                and arrived
                and self._running < self.workers
                and not self._queue
                and self._arriving <= 0
                and self._worth_starting(len(items))
            ):
                self._running += 1
                self._sizes.append(len(items))
                run_here = True
            else:
                self._queue.append(work)
                self._queued += len(items)
                self._on_queue_depth(self._queued)
                self._arrivals.notify_all()  # a worker filling its batch takes it...
                self._work.notify()  # ...or one idle worker starts a pass with it
        if run_here:
            try:
                run_group(self.handler, [work], self._on_batch)
            finally:
                with self._lock:
                    self._running -= 1
                    self._sizes.remove(len(items))
                    if self._queue:
                        self._work.notify()
        return work.future

    def stop(self, timeout: float = 5.0) -> None:
        """Finish what is queued, then end the thread."""
        with self._lock:
            self._stopping = True
            self._work.notify_all()
            self._arrivals.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    def _worth_starting(self, queued: int) -> bool:
        """Whether a pass of `queued` instances should start now (called with the lock held).

        Always with no pass running; beside running passes only when it is at least as
        big as the smallest of them (or a full batch): see the module's docstring.
        """
        if not self._sizes:
            return True
        return queued >= min(self.max_batch_size, min(self._sizes))

    def _limit(self, first: int, size: int) -> int:
        """Most instances this batch may hold (called with the lock held).

        With other workers idle, only a fair share of what is queued, so they run the
        rest side by side instead of watching one worker run it all (a request of 8
        instances alone on 2 workers runs as two passes of 4 at once); with every worker
        busy, the whole batch size.
        """
        idle = self.workers - self._running
        if idle <= 0:
            return self.max_batch_size
        share = -(-(size + self._queued) // (idle + 1))
        return min(self.max_batch_size, max(first, share))

    def _take(self, batch: list[Work], size: int, limit: int | None = None) -> int:
        # Called with the lock held: move queued work into the batch while it fits.
        limit = self.max_batch_size if limit is None else limit
        while self._queue and size + len(self._queue[0].items) <= limit:
            work = self._queue.popleft()
            self._queued -= len(work.items)
            batch.append(work)
            size += len(work.items)
        return size

    def _next_batch(self) -> list[Work] | None:
        with self._lock:
            starved_since: float | None = None  # work queued, a slot free, not yet worth it
            while True:
                if self._stopping and not self._queue:
                    return None
                if not self._queue or self._running >= self.workers:
                    starved_since = None
                    self._work.wait(0.5)
                    continue
                if self._stopping or self._worth_starting(self._queued):
                    break
                now = time.monotonic()
                if starved_since is None:
                    starved_since = now
                remaining = starved_since + self.patience_s - now
                if remaining <= 0:
                    break  # waited as long as a pass's fixed cost: start with what is queued
                self._work.wait(remaining)
            self._running += 1
            first = self._queue.popleft()
            self._queued -= len(first.items)
            batch, size = [first], len(first.items)
            deadline = time.monotonic() + self.max_delay_s
            size = self._take(batch, size, self._limit(size, size))
            self._sizes.append(size)
            if self._queue:
                self._work.notify()  # the rest may be another idle worker's share
            sized = size
            while size < self.max_batch_size and not self._stopping:
                if self._arriving <= 0:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrivals.wait(remaining)
                limit = self._limit(len(first.items), size)
                if self._queue and size + len(self._queue[0].items) > limit:
                    break  # the next request would overflow: run now, it leads the next batch
                size = self._take(batch, size, limit)
            self._sizes[self._sizes.index(sized)] = size
            self._on_queue_depth(self._queued)
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            groups: dict[Hashable, list[Work]] = {}
            for w in batch:
                groups.setdefault(w.key, []).append(w)
            try:
                for works in groups.values():
                    try:
                        run_group(self.handler, works, self._on_batch)
                    except BaseException as exc:  # never let the thread die with futures pending
                        for w in works:
                            if not w.future.done():
                                w.future.set_exception(as_serve_error(exc))
            finally:
                with self._lock:
                    self._running -= 1
                    self._sizes.remove(sum(len(w.items) for w in batch))
                    if self._queue:  # what waited on this pass; this worker may take it too
                        self._work.notify()
