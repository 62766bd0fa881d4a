"""The one writer: every mutating call deploy, rollout and destroy make, as typed verbs.

Each verb sends its request with retries for transient failures, adopts what an earlier,
interrupted run already made (ALREADY_EXISTS), treats "already gone" as done where
deleting is the point (NOT_FOUND), translates API errors to `VxError`s once, waits for
long-running operations and counts its own mutating calls, so no caller repeats any of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from vxdeploy.errors import ConflictError, OperationTimeoutError
from vxdeploy.live import LiveEndpoint, LiveState
from vxdeploy.names import DEFAULT_ALIAS
from vxdeploy.verbs import (
    CreateAlert,
    CreateEndpoint,
    DeployModel,
    MutateDeployedModel,
    SetAliases,
    UpdateAlert,
    UpdateEndpoint,
    UploadModel,
)
from vxdeploy.vertex import requests as build
from vxdeploy.vertex.connection import Connection
from vxdeploy.vertex.errors import call_api, canonical_status
from vxdeploy.vertex.operations import wait
from vxdeploy.vertex.reader import live_endpoint

T = TypeVar("T")
MUTATE_PATHS = [f"dedicated_resources.{name}" for name in
                ("min_replica_count", "max_replica_count", "autoscaling_metric_specs")]


def _status(error: BaseException) -> str:
    """The canonical status of a translated error (its cause) or of a raw one."""
    return canonical_status(error.__cause__ or error)


class Writer:
    """Typed mutating verbs over one connection; `mutating_calls` counts what was sent."""

    def __init__(self, conn: Connection, deploy_deadline_s: float = 3600.0):
        self.conn = conn
        self.aip = conn.aiplatform
        self.deploy_deadline_s = deploy_deadline_s
        self.mutating_calls = 0

    def _send(self, what: str, call: Callable[[], T], *, adopt: bool = False,
              missing_ok: bool = False) -> T | None:
        """One mutating call: None when it met ALREADY_EXISTS (`adopt`) or NOT_FOUND
        (`missing_ok`), which an interrupted earlier run or a concurrent one explains."""
        self.mutating_calls += 1
        try:
            return call_api(what, call)
        except Exception as error:
            status = _status(error)
            if (adopt and status == "ALREADY_EXISTS") or (missing_ok and status == "NOT_FOUND"):
                return None
            raise

    # -- endpoint ----------------------------------------------------------------------
    def create_endpoint(self, request: CreateEndpoint) -> None:
        endpoint = build.endpoint_message(self.aip, request.endpoint)
        operation = self._send("create endpoint", lambda: self.conn.endpoints.create_endpoint(
            parent=self.conn.parent, endpoint=endpoint, endpoint_id=request.endpoint_id,
            timeout=self.conn.timeout), adopt=True)
        if operation is not None:
            wait(operation, "create endpoint")

    def update_endpoint(self, name: str, request: UpdateEndpoint) -> None:
        endpoint = self.aip.Endpoint(name=name)
        paths = []
        if request.labels is not None:
            endpoint.labels = request.labels
            paths.append("labels")
        if request.display_name is not None:
            endpoint.display_name = request.display_name
            paths.append("display_name")
        if request.inference_timeout_s is not None:
            endpoint.client_connection_config = self.aip.ClientConnectionConfig(
                inference_timeout=timedelta(seconds=request.inference_timeout_s))
            paths.append("client_connection_config")
        self._send("update endpoint", lambda: self.conn.endpoints.update_endpoint(
            endpoint=endpoint, update_mask={"paths": paths}, timeout=self.conn.timeout))

    def set_traffic(self, name: str, split: dict[str, int], *,
                    expected: dict[str, int] | None = None, etag: str = "",
                    labels: dict[str, str] | None = None, state: LiveState | None = None
                    ) -> LiveEndpoint:
        """Write `split` (and `labels`) conditional on the endpoint's etag.

        Without `etag`, the endpoint is read first and must still have the `expected`
        split (None: any split); a split that changed since it was read is ConflictError,
        and so is a write that loses the race on the etag. Returns the endpoint written.
        """
        if not etag:
            current = call_api("get endpoint", lambda: self.conn.endpoints.get_endpoint(
                name=name, timeout=self.conn.timeout))
            now = {k: int(v) for k, v in current.traffic_split.items() if v}
            if expected is not None and now != {k: v for k, v in expected.items() if v}:
                raise ConflictError(
                    f"the traffic split of {name} changed since it was read: expected "
                    f"{expected}, found {now}; not overwriting it",
                    hint="someone else is changing traffic; re-run to plan against the new "
                         "split")
            etag = current.etag
        endpoint = self.aip.Endpoint(name=name, traffic_split=split, etag=etag)
        paths = ["traffic_split"]
        if labels is not None:
            endpoint.labels = labels
            paths.append("labels")
        try:
            updated = self._send(f"update traffic of {name}", lambda: (
                self.conn.endpoints.update_endpoint(endpoint=endpoint,
                                                    update_mask={"paths": paths},
                                                    timeout=self.conn.timeout)))
        except ConflictError as error:
            raise ConflictError(
                f"endpoint {name} changed since it was read (stale etag); the traffic "
                f"split {split} was not written",
                hint="someone else changed the endpoint: check `vxdeploy rollout status` "
                     "and run the command again") from error
        return live_endpoint(self.conn, updated, state or LiveState())

    def delete_endpoint(self, name: str) -> None:
        operation = self._send("delete endpoint", lambda: self.conn.endpoints.delete_endpoint(
            name=name, timeout=self.conn.timeout), missing_ok=True)
        if operation is not None:
            wait(operation, "delete")

    # -- deployed models ---------------------------------------------------------------
    def deploy(self, endpoint: str, request: DeployModel, version: str) -> None:
        deployed = build.deployed_model_message(self.aip, request, version)
        split = {"0": 100} if request.traffic_percent == 100 else {}
        operation = self._send("deploy model", lambda: self.conn.endpoints.deploy_model(
            endpoint=endpoint, deployed_model=deployed, traffic_split=split,
            timeout=self.conn.timeout), adopt=True)
        if operation is None:  # an interrupted earlier deploy: wait for it
            self._await_deployed(endpoint, request.deployed_model_id)
        else:
            wait(operation, "deploy model", self.deploy_deadline_s)

    def _await_deployed(self, endpoint: str, deployed_model_id: str) -> None:
        deadline = time.monotonic() + self.deploy_deadline_s
        while time.monotonic() < deadline:
            found = call_api("get endpoint", lambda: self.conn.endpoints.get_endpoint(
                name=endpoint, timeout=self.conn.timeout))
            if any(d.id == deployed_model_id for d in found.deployed_models):
                return
            time.sleep(2)
        raise OperationTimeoutError(f"deployed model {deployed_model_id} did not appear within "
                                    f"{self.deploy_deadline_s:.0f} s")

    def mutate(self, endpoint: str, request: MutateDeployedModel) -> None:
        deployed = self.aip.DeployedModel(
            id=request.deployed_model_id,
            dedicated_resources=build.dedicated_resources(self.aip, request.resources))
        operation = self._send("mutate deployed model", lambda: (
            self.conn.endpoints.mutate_deployed_model(
                endpoint=endpoint, deployed_model=deployed,
                update_mask={"paths": MUTATE_PATHS}, timeout=self.conn.timeout)))
        wait(operation, "mutate deployed model")

    def undeploy_and_wait(self, endpoint: str, deployed_model_id: str, *,
                          missing_ok: bool = True) -> None:
        """Undeploy one DeployedModel and wait. With `missing_ok`, a model (or endpoint)
        that is already gone counts as done: re-runs after an interruption."""
        operation = self._send(f"undeploy {deployed_model_id} from {endpoint}",
                               lambda: self.conn.endpoints.undeploy_model(
                                   endpoint=endpoint, deployed_model_id=deployed_model_id,
                                   timeout=self.conn.timeout), missing_ok=missing_ok)
        if operation is not None:
            wait(operation, "undeploy model")

    # -- models ------------------------------------------------------------------------
    def upload(self, request: UploadModel) -> str:
        """Upload a version; returns its name `MODEL@ID`."""
        model = build.model_message(self.aip, request.model)
        if request.staging_bucket:  # Vertex reads gs:// only: ship a local folder first
            from vxdeploy.staging import artifact_uri_for

            model.artifact_uri = artifact_uri_for(
                model.artifact_uri, staging_bucket=request.staging_bucket,
                model_id=request.model_id)
        model_name = self.conn.model_name(request.model_id)
        body: dict[str, Any] = {"parent": self.conn.parent, "model": model}
        if request.parent_exists:
            body["parent_model"] = model_name
        else:
            body["model_id"] = request.model_id

        def send() -> Any:
            return self.conn.models.upload_model(request=body, timeout=self.conn.timeout)

        operation = self._send("upload model", send, adopt=not request.parent_exists)
        if operation is None:
            # another run created the model meanwhile: add this as a new version of it
            body.pop("model_id")
            body["parent_model"] = model_name
            operation = self._send("upload model", send)
        response = wait(operation, "upload model")
        return f"{response.model.split('@', 1)[0]}@{response.model_version_id}"

    def set_aliases(self, request: SetAliases, version: str) -> None:
        merge, timeout = self.conn.models.merge_version_aliases, self.conn.timeout
        if request.move_from_others:
            model = version.split("@", 1)[0]
            for alias in request.add:
                holder = None if alias == DEFAULT_ALIAS else self._alias_holder(model, alias)
                if holder and holder != version:
                    self._send(f"move alias {alias}", partial(
                        merge, name=holder, version_aliases=[f"-{alias}"], timeout=timeout))
        aliases = [*request.add, *(f"-{a}" for a in request.remove)]
        if aliases:
            self._send(f"set aliases on {version}", lambda: merge(
                name=version, version_aliases=aliases, timeout=timeout))

    def _alias_holder(self, model: str, alias: str) -> str | None:
        try:
            found = call_api(f"find alias {alias}", lambda: self.conn.models.get_model(
                name=f"{model}@{alias}", timeout=self.conn.timeout))
        except Exception as error:
            if _status(error) == "NOT_FOUND":
                return None
            raise
        return f"{found.name.split('@', 1)[0]}@{found.version_id}"

    def delete_model_version(self, version: str) -> None:
        operation = self._send(f"delete model version {version}", lambda: (
            self.conn.models.delete_model_version(name=version, timeout=self.conn.timeout)),
            missing_ok=True)
        if operation is not None:
            wait(operation, "delete model version")

    def delete_model(self, name: str) -> None:
        operation = self._send("delete model", lambda: self.conn.models.delete_model(
            name=name, timeout=self.conn.timeout), missing_ok=True)
        if operation is not None:
            wait(operation, "delete")

    # -- alert policies ----------------------------------------------------------------
    def create_alert(self, request: CreateAlert) -> None:
        policy = build.alert_policy_message(request.alert, request.channels)
        self._send("create alert policy", lambda: self.conn.alert_policies.create_alert_policy(
            name=self.conn.monitoring_project, alert_policy=policy, timeout=self.conn.timeout))

    def update_alert(self, request: UpdateAlert) -> None:
        policy = build.alert_policy_message(request.alert, request.channels, request.name)
        self._send("update alert policy", lambda: (
            self.conn.alert_policies.update_alert_policy(alert_policy=policy,
                                                         timeout=self.conn.timeout)))

    def delete_alert(self, name: str) -> None:
        self._send("delete alert policy", lambda: self.conn.alert_policies.delete_alert_policy(
            name=name, timeout=self.conn.timeout), missing_ok=True)
