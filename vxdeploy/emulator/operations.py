"""Long-running operations: real Operation JSON, done at once or pending and polled.

Each LRO's work runs on a worker thread. The HTTP call waits briefly (`inline_wait_s`) so
quick work (create, upload) returns `done: true` and the client makes no further calls;
slow work (a deploy starting a server) comes back pending and is polled, as on Vertex.
Fault injection can add a minimum pending time or hold operations until released, so the
clients' polling paths (`/ui/...` for Python, `/v1/...` for gcloud) are exercised.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from google.longrunning import operations_pb2
from google.protobuf import any_pb2, json_format

from vxdeploy.emulator.codec import convert, version_type
from vxdeploy.emulator.errors import ApiError
from vxdeploy.emulator.store import StateStore

VERSION_KEY = "_version"  # the API version the operation was created through
# `projects/P/locations/L/operations/ID`: the location-scoped name gcloud's help gives for an
# operation that lives under a resource (`.../endpoints/E/operations/ID`).
_LOCATION_SCOPED = re.compile(r"^(projects/[^/]+/locations/[^/]+)/operations/([^/]+)$")
MAX_WAIT_S = 60.0  # WaitOperation without a timeout waits at most this long, then answers


def rfc3339(epoch: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, tz=UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _pack(message: Any, version: str) -> any_pb2.Any:
    packed = any_pb2.Any()
    if hasattr(message, "_pb") or hasattr(type(message), "pb"):
        message = convert(message, version_type(type(message), version))
        packed.Pack(type(message).pb(message))
    else:
        packed.Pack(message)
    return packed


class OperationManager:
    """Creates operations, runs their work and answers GetOperation."""

    def __init__(self, store: StateStore, *, inline_wait_s: float = 2.0):
        self.store = store
        self.inline_wait_s = inline_wait_s
        self.min_pending_s = 0.0  # fault: every new operation stays pending this long
        self.hold = False  # fault: new operations stay pending until release()
        self._held: set[str] = set()
        self._release_at: dict[str, float] = {}
        self._events: dict[str, threading.Event] = {}
        self._cond = threading.Condition()

    def start(self, *, parent: str, version: str, metadata: Any,
              work: Callable[[], Any], response_type: Any | None = None) -> dict[str, Any]:
        """Run `work` in the background; answer the Operation JSON the HTTP call returns.

        `work` returns the response message (or None for google.protobuf.Empty) or raises
        ApiError, which becomes the operation's `error`.
        """
        name = f"{parent}/operations/{self.store.new_id()}"
        now = time.time()
        metadata.generic_metadata.create_time = datetime.fromtimestamp(now, tz=UTC)
        metadata.generic_metadata.update_time = datetime.fromtimestamp(now, tz=UTC)
        op = operations_pb2.Operation(name=name, done=False)
        op.metadata.CopyFrom(_pack(metadata, version))
        record = json_format.MessageToDict(op)
        record[VERSION_KEY] = version
        event = threading.Event()
        with self.store.transaction():
            self.store.operations[name] = record
        with self._cond:
            self._events[name] = event
            if self.hold:
                self._held.add(name)
            if self.min_pending_s > 0:
                self._release_at[name] = now + self.min_pending_s

        def run() -> None:
            try:
                result = work()
                self._finish(name, metadata, version, response=result,
                             response_type=response_type)
            except ApiError as error:
                self._finish(name, metadata, version, error=error)
            except Exception as error:  # an emulator bug must still end the operation
                self._finish(name, metadata, version,
                             error=ApiError("INTERNAL", f"{type(error).__name__}: {error}"))
            finally:
                event.set()

        threading.Thread(target=run, name=f"op-{name.rsplit('/', 1)[-1]}", daemon=True).start()
        event.wait(self.inline_wait_s)
        return self.get(name)

    def _finish(self, name: str, metadata: Any, version: str, *, response: Any = None,
                response_type: Any = None, error: ApiError | None = None) -> None:
        metadata.generic_metadata.update_time = datetime.now(tz=UTC)
        op = operations_pb2.Operation(name=name, done=True)
        op.metadata.CopyFrom(_pack(metadata, version))
        if error is not None:
            op.error.code = error.code
            op.error.message = error.message
        elif response is None:
            from google.protobuf import empty_pb2

            op.response.CopyFrom(_pack(empty_pb2.Empty(), version))
        else:
            op.response.CopyFrom(_pack(response, version))
        record = json_format.MessageToDict(op)
        record[VERSION_KEY] = version
        with self.store.transaction():
            self.store.operations[name] = record

    def _resolve(self, name: str) -> tuple[str, dict[str, Any]]:
        """The stored name and record for a resource- or location-scoped operation name."""
        with self.store.lock:
            record = self.store.operations.get(name)
            if record is not None:
                return name, record
            scoped = _LOCATION_SCOPED.match(name)
            if scoped is not None:
                location, op_id = scoped.groups()
                for stored, candidate in self.store.operations.items():
                    if stored.startswith(location + "/") and \
                            stored.endswith(f"/operations/{op_id}"):
                        return stored, candidate
        raise ApiError("NOT_FOUND", f'Operation "{name}" not found.')

    def get(self, name: str) -> dict[str, Any]:
        """The Operation JSON as a client should see it now (pending while held or delayed)."""
        name, record = self._resolve(name)
        visible = {k: v for k, v in record.items() if k != VERSION_KEY}
        if record.get("done") and self._pending_by_fault(name):
            visible = {"name": visible["name"], "metadata": visible["metadata"], "done": False}
        if not visible.get("done"):
            visible.pop("done", None)  # proto3 JSON omits false
        return visible

    def list(self, parent: str) -> list[dict[str, Any]]:
        """Operations under `parent`: a location (all of it) or one model or endpoint."""
        with self.store.lock:
            names = [n for n in self.store.operations if n.startswith(parent + "/")]
        return [self.get(n) for n in names]

    def wait_for(self, name: str, timeout_s: float | None) -> dict[str, Any]:
        """WaitOperation: block until done or `timeout_s` (capped), then answer as get()."""
        name, _record = self._resolve(name)
        deadline = time.monotonic() + min(timeout_s or MAX_WAIT_S, MAX_WAIT_S)
        self.wait(name, max(deadline - time.monotonic(), 0.0))
        while not self.get(name).get("done") and time.monotonic() < deadline:
            time.sleep(0.05)  # held or delayed by a fault: done only when it is released
        return self.get(name)

    def cancel(self, name: str) -> None:
        """CancelOperation is best effort on Vertex, success not guaranteed: here the work
        (a server start, a copy) is not interrupted and the operation ends as it would
        have. Unknown names are NOT_FOUND."""
        self._resolve(name)

    def _pending_by_fault(self, name: str) -> bool:
        with self._cond:
            if name in self._held:
                return True
            release_at = self._release_at.get(name)
            if release_at is None:
                return False
            if time.time() < release_at:
                return True
            del self._release_at[name]
            return False

    def release(self) -> int:
        """Let every held operation show its result; returns how many were held."""
        with self._cond:
            count = len(self._held)
            self._held.clear()
            self._release_at.clear()
            self.hold = False
            return count

    def wait(self, name: str, timeout: float) -> bool:
        """Block until the operation's work finished (tests, admin); False on timeout."""
        with self._cond:
            event = self._events.get(name)
        return True if event is None else event.wait(timeout)

    def fail_interrupted(self) -> int:
        """After a restart, pending operations have lost their worker: fail them as Vertex
        would fail an operation whose backend went away (ABORTED)."""
        count = 0
        with self.store.transaction():
            for _name, record in self.store.operations.items():
                if not record.get("done"):
                    record["done"] = True
                    record["error"] = {"code": 10, "message": "The emulator restarted while "
                                       "this operation was running; retry it."}
                    count += 1
        return count
