"""The emulator's resources, kept as v1beta1 messages and persisted as JSON in the state dir.

v1beta1 is the superset of v1 for every field served, so one store answers both API
versions. Every mutation rewrites `state.json` atomically (write a temp file, then rename):
the state is small, and an emulator killed at any moment restarts with a consistent view.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1beta1 import types as t
from google.protobuf import json_format

from vxdeploy.emulator.private_files import private_dir, write_private

SCHEMA = 1
MAX_OPERATIONS = 2000  # older finished operations are dropped beyond this


@dataclass
class ModelRecord:
    """One registry model: its versions by id and the next version id to hand out."""

    versions: dict[str, t.Model] = field(default_factory=dict)
    next_version: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"next_version": self.next_version,
                "versions": {vid: _dump(m) for vid, m in self.versions.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelRecord:
        return cls(versions={vid: _load(t.Model, m) for vid, m in data["versions"].items()},
                   next_version=int(data["next_version"]))


def _dump(message: Any) -> dict[str, Any]:
    as_dict: dict[str, Any] = json_format.MessageToDict(type(message).pb(message))
    return as_dict


def _load(message_type: Any, data: dict[str, Any]) -> Any:
    pb = message_type.pb(message_type())
    json_format.ParseDict(data, pb, ignore_unknown_fields=True)
    return message_type.wrap(pb)


def new_etag() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(12)).decode().rstrip("=")


class StateStore:
    """Resources, operations and id counters behind one lock, saved on every change."""

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        private_dir(self.state_dir)
        self.path = self.state_dir / "state.json"
        self.lock = threading.RLock()
        self.models: dict[str, ModelRecord] = {}  # by name without version
        self.endpoints: dict[str, t.Endpoint] = {}
        self.operations: dict[str, dict[str, Any]] = {}  # name -> Operation JSON + "_version"
        self.artifacts: dict[str, str] = {}  # "model_name@version" -> local artifact copy
        self._next_id = 0
        self._next_small_id = 0
        self.load()

    # ---- ids -------------------------------------------------------------------------
    def new_id(self) -> str:
        """A 19-digit id, like Vertex's endpoint, model and operation ids."""
        with self.lock:
            self._next_id += 1
            return str(self._next_id)

    def new_deployed_model_id(self) -> str:
        """A 10-digit id: Vertex allows deployed model ids of 1-10 digits."""
        with self.lock:
            self._next_small_id += 1
            return str(self._next_small_id)

    # ---- mutation --------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[StateStore]:
        """Lock, let the caller mutate, then save: the one way to change state, so a change
        cannot be forgotten on disk. An exception (a rule refusing the request) skips the
        save; callers validate before they mutate."""
        with self.lock:
            yield self
            self.save()

    # ---- persistence -----------------------------------------------------------------
    def load(self) -> None:
        with self.lock:
            if not self.path.exists():
                self._next_id = 1_000_000_000_000_000_000 + secrets.randbelow(10**17)
                self._next_small_id = 1_000_000_000 + secrets.randbelow(10**8)
                return
            data = json.loads(self.path.read_text())
            self._next_id = int(data["next_id"])
            self._next_small_id = int(data["next_small_id"])
            self.models = {name: ModelRecord.from_json(rec)
                           for name, rec in data.get("models", {}).items()}
            self.endpoints = {name: _load(t.Endpoint, ep)
                              for name, ep in data.get("endpoints", {}).items()}
            self.operations = data.get("operations", {})
            self.artifacts = data.get("artifacts", {})

    def save(self) -> None:
        with self.lock:
            self._trim_operations()
            data = {
                "schema": SCHEMA,
                "next_id": self._next_id,
                "next_small_id": self._next_small_id,
                "models": {name: rec.to_json() for name, rec in self.models.items()},
                "endpoints": {name: _dump(ep) for name, ep in self.endpoints.items()},
                "operations": self.operations,
                "artifacts": self.artifacts,
            }
            write_private(self.path, json.dumps(data, separators=(",", ":")))

    def _trim_operations(self) -> None:
        if len(self.operations) <= MAX_OPERATIONS:
            return
        finished = [name for name, op in self.operations.items() if op.get("done")]
        for name in finished[:len(self.operations) - MAX_OPERATIONS]:
            del self.operations[name]

    def clear(self) -> None:
        """Forget every resource and operation (admin reset); ids keep counting up."""
        with self.transaction():
            self.models.clear()
            self.endpoints.clear()
            self.operations.clear()
            self.artifacts.clear()
