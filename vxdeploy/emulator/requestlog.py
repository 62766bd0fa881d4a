"""The request log: every API call with its RPC, resource, status and time.

Other parts' tests count mutating calls through it (a second `deploy` of an unchanged
profile must make none), so each entry has a sequence number to ask "what since N?".
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

MAX_ENTRIES = 20_000


@dataclass
class Entry:
    seq: int
    time: float
    rpc: str  # "" when no route matched
    version: str
    http_method: str
    path: str
    resource: str
    status: int
    duration_ms: float

    @property
    def mutating(self) -> bool:
        return self.http_method != "GET" and self.rpc not in ("Predict", "RawPredict")


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[Entry] = deque(maxlen=MAX_ENTRIES)
        self._seq = itertools.count(1)
        self.last_seq = 0

    def add(self, *, rpc: str, version: str, http_method: str, path: str, resource: str,
            status: int, started: float) -> None:
        with self._lock:
            seq = next(self._seq)
            self.last_seq = seq
            self._entries.append(Entry(seq, time.time(), rpc, version, http_method, path,
                                       resource, status, (time.perf_counter() - started) * 1e3))

    def query(self, *, since: int = 0, rpc: str | None = None,
              mutating: bool | None = None) -> list[dict[str, Any]]:
        with self._lock:
            entries = [e for e in self._entries if e.seq > since]
        out = []
        for entry in entries:
            if rpc and entry.rpc != rpc:
                continue
            if mutating is not None and entry.mutating != mutating:
                continue
            out.append(asdict(entry) | {"mutating": entry.mutating})
        return out

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
