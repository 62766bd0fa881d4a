"""Applying a plan: exactly its changes, in order, each through the one writer.

Each change carries the typed request it needs, so a plan applies on its own (a saved
plan needs no profile). Safe to re-run after any interruption: the writer adopts what an
earlier run made (ids are deterministic) and treats "already gone" as done; traffic writes
compare the split the plan saw with the split now and carry the endpoint's etag, so a
concurrent change stops the run instead of being overwritten.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vxdeploy.plan import NEW_VERSION, Action, Change, Plan
from vxdeploy.verbs import (
    CreateAlert,
    CreateEndpoint,
    Delete,
    DeployModel,
    MutateDeployedModel,
    SetAliases,
    SetTraffic,
    UndeployModel,
    UpdateAlert,
    UpdateEndpoint,
    UploadModel,
)
from vxdeploy.vertex.connection import Connection
from vxdeploy.vertex.writer import Writer


@dataclass
class ApplyResult:
    applied: list[dict[str, Any]] = field(default_factory=list)
    new_version: str = ""
    mutating_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "new_version": self.new_version,
                "mutating_calls": self.mutating_calls}


Progress = Callable[[Change, str], None]


class Applier:
    """Runs one plan's changes through one writer."""

    def __init__(self, writer: Writer, plan: Plan, progress: Progress | None = None):
        self.writer = writer
        self.plan = plan
        self.progress = progress or (lambda change, state: None)
        self.result = ApplyResult()

    def run(self) -> ApplyResult:
        for change in self.plan.changes:
            started = time.monotonic()
            self.progress(change, "start")
            try:
                self._execute(change)
            finally:
                self.result.mutating_calls = self.writer.mutating_calls
            elapsed = round(time.monotonic() - started, 3)
            self.result.applied.append({**change.to_dict(), "seconds": elapsed})
            self.progress(change, "done")
        return self.result

    def _version(self, ref: str) -> str:
        if ref.endswith(f"@{NEW_VERSION}"):
            if not self.result.new_version:
                raise RuntimeError("plan deploys a new version but no upload preceded it")
            return self.result.new_version
        return ref

    def _execute(self, change: Change) -> None:
        """One change, one verb: the request is already typed by the plan."""
        w, r, endpoint = self.writer, change.request, self.plan.endpoint
        match r:
            case CreateEndpoint():
                w.create_endpoint(r)
            case UpdateEndpoint():
                w.update_endpoint(endpoint, r)
            case UploadModel():
                self.result.new_version = w.upload(r)
            case DeployModel():
                w.deploy(endpoint, r, self._version(r.version))
            case MutateDeployedModel():
                w.mutate(endpoint, r)
            case SetTraffic():
                w.set_traffic(endpoint, r.split, expected=r.expected)
            case UndeployModel():
                w.undeploy_and_wait(endpoint, r.deployed_model_id)
            case SetAliases():
                w.set_aliases(r, self._version(r.version))
            case CreateAlert():
                w.create_alert(r)
            case UpdateAlert():
                w.update_alert(r)
            case Delete():
                DELETERS[change.action](w, r.name)


DELETERS: dict[Action, Callable[[Writer, str], None]] = {
    Action.DELETE_ALERT: Writer.delete_alert,
    Action.DELETE_MODEL_VERSION: Writer.delete_model_version,
    Action.DELETE_ENDPOINT: Writer.delete_endpoint,
    Action.DELETE_MODEL: Writer.delete_model,
}


def apply_plan(conn: Connection, plan: Plan, progress: Progress | None = None) -> ApplyResult:
    return Applier(Writer(conn), plan, progress).run()
