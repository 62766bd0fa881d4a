"""A named set of proto-plus messages persisted as one JSON file in the state dir.

Alert policies and notification channels are few and small, so each write rewrites the
file atomically (write a temp file, rename); a crash leaves the old or the new version.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from vxdeploy.emulator.private_files import write_private

T = TypeVar("T")


def new_id() -> str:
    """A numeric id shaped like Monitoring's (19-20 digits, never starting with 0)."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)


class Collection(Generic[T]):
    def __init__(self, path: Path, message_type: Any):
        self.path = path
        self._type = message_type
        self._lock = threading.RLock()
        self._items: dict[str, T] = {}
        if path.exists():
            raw = json.loads(path.read_text(encoding="utf-8"))
            self._items = {name: message_type.from_json(text) for name, text in raw.items()}

    @property
    def lock(self) -> threading.RLock:
        """Held around read-modify-write sequences that must not interleave."""
        return self._lock

    def _save(self) -> None:
        data = {name: self._type.to_json(item) for name, item in self._items.items()}
        write_private(self.path, json.dumps(data, indent=1, sort_keys=True))

    def get(self, name: str) -> T | None:
        with self._lock:
            item = self._items.get(name)
            return None if item is None else self._copy(item)

    def put(self, name: str, item: T) -> None:
        with self._lock:
            self._items[name] = self._copy(item)
            self._save()

    def delete(self, name: str) -> bool:
        with self._lock:
            if self._items.pop(name, None) is None:
                return False
            self._save()
            return True

    def values(self, where: Callable[[T], bool] = lambda _: True) -> list[T]:
        with self._lock:
            return [self._copy(item) for item in self._items.values() if where(item)]

    def _copy(self, item: T) -> T:
        # Callers edit what they get; the stored message changes only through put().
        copied: T = self._type.deserialize(self._type.serialize(item))
        return copied
