"""Applying a plan: exactly its changes, in order, each waited on with a deadline.

Safe to re-run after any interruption: ids are deterministic, so a create or deploy that
already happened answers ALREADY_EXISTS and is adopted instead of duplicated; traffic writes
compare the split the plan saw with the split now and carry the endpoint's etag, so a
concurrent change stops the run instead of being overwritten.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from vxdeploy.desired import Desired, DesiredAlert
from vxdeploy.errors import ConflictError, OperationTimeoutError
from vxdeploy.names import DEFAULT_ALIAS
from vxdeploy.plan import NEW_VERSION, Action, Change, Plan
from vxdeploy.vertex import requests as build
from vxdeploy.vertex.connection import Connection
from vxdeploy.vertex.errors import call_api, canonical_status, translate, with_retries
from vxdeploy.vertex.operations import wait
from vxdeploy.vertex.writer import undeploy_and_wait

MUTATE_PATHS = [f"dedicated_resources.{name}" for name in
                ("min_replica_count", "max_replica_count", "autoscaling_metric_specs")]


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
    """Runs one plan's changes against one connection."""

    def __init__(self, conn: Connection, desired: Desired, plan: Plan,
                 progress: Progress | None = None, deploy_deadline_s: float = 3600.0):
        self.conn = conn
        self.desired = desired
        self.plan = plan
        self.progress = progress or (lambda change, state: None)
        self.deploy_deadline_s = deploy_deadline_s
        self.result = ApplyResult()
        self.aip = conn.aiplatform

    def run(self) -> ApplyResult:
        handlers: dict[Action, Callable[[Change], None]] = {
            Action.CREATE_ENDPOINT: self._create_endpoint,
            Action.UPDATE_ENDPOINT: self._update_endpoint,
            Action.UPLOAD_MODEL: self._upload_model,
            Action.DEPLOY_MODEL: self._deploy_model,
            Action.MUTATE_DEPLOYED_MODEL: self._mutate,
            Action.SET_TRAFFIC: self._set_traffic,
            Action.UNDEPLOY_MODEL: self._undeploy,
            Action.SET_ALIASES: self._set_aliases,
            Action.CREATE_ALERT: self._create_alert,
            Action.UPDATE_ALERT: self._update_alert,
            Action.DELETE_ALERT: self._delete_alert,
            Action.DELETE_MODEL_VERSION: self._delete_version,
        }
        for change in self.plan.changes:
            started = time.monotonic()
            self.progress(change, "start")
            handlers[change.action](change)
            elapsed = round(time.monotonic() - started, 3)
            self.result.applied.append({**change.to_dict(), "seconds": elapsed})
            self.progress(change, "done")
        return self.result

    # -- helpers -----------------------------------------------------------------------
    @property
    def endpoint_name(self) -> str:
        return self.plan.endpoint

    def _mutating(self, what: str, call: Callable[[], Any]) -> Any:
        self.result.mutating_calls += 1
        return call_api(what, call)

    def _version(self, ref: str) -> str:
        if ref.endswith(f"@{NEW_VERSION}"):
            if not self.result.new_version:
                raise RuntimeError("plan deploys a new version but no upload preceded it")
            return self.result.new_version
        return ref

    # -- endpoint ----------------------------------------------------------------------
    def _create_endpoint(self, change: Change) -> None:
        from google.api_core import exceptions as gexc

        endpoint = build.endpoint_message(self.aip, self.desired)
        endpoint_id = change.params["endpoint_id"]
        try:
            self.result.mutating_calls += 1
            operation = with_retries(lambda: self.conn.endpoints.create_endpoint(
                parent=self.conn.parent, endpoint=endpoint, endpoint_id=endpoint_id,
                timeout=self.conn.timeout))
        except gexc.GoogleAPICallError as error:
            if canonical_status(error) == "ALREADY_EXISTS":
                return  # an earlier, interrupted run created it: adopt
            raise translate(error, "create endpoint") from error
        wait(operation, "create endpoint")

    def _update_endpoint(self, change: Change) -> None:
        after = change.after or {}
        endpoint = self.aip.Endpoint(name=self.endpoint_name)
        paths = []
        if "labels" in after:
            endpoint.labels = after["labels"]
            paths.append("labels")
        if "display_name" in after:
            endpoint.display_name = after["display_name"]
            paths.append("display_name")
        if "inference_timeout_s" in after:
            from datetime import timedelta

            endpoint.client_connection_config = self.aip.ClientConnectionConfig(
                inference_timeout=timedelta(seconds=after["inference_timeout_s"]))
            paths.append("client_connection_config")
        self._mutating("update endpoint", lambda: self.conn.endpoints.update_endpoint(
            endpoint=endpoint, update_mask={"paths": paths}, timeout=self.conn.timeout))

    # -- models ------------------------------------------------------------------------
    def _upload_model(self, change: Change) -> None:
        from google.api_core import exceptions as gexc

        model = build.model_message(self.aip, self.desired)
        model_id = change.params["model_id"]
        if self.desired.staging_bucket:  # Vertex reads gs:// only: ship a local folder first
            from vxdeploy.staging import artifact_uri_for

            model.artifact_uri = artifact_uri_for(
                model.artifact_uri, staging_bucket=self.desired.staging_bucket, model_id=model_id)
        model_name = self.conn.model_name(model_id)
        request: dict[str, Any] = {"parent": self.conn.parent, "model": model}
        if change.params.get("parent_exists"):
            request["parent_model"] = model_name
        else:
            request["model_id"] = model_id
        try:
            self.result.mutating_calls += 1
            operation = with_retries(lambda: self.conn.models.upload_model(
                request=request, timeout=self.conn.timeout))
        except gexc.GoogleAPICallError as error:
            if canonical_status(error) != "ALREADY_EXISTS" or "parent_model" in request:
                raise translate(error, "upload model") from error
            # another run created the model meanwhile: add this as a new version of it
            request.pop("model_id")
            request["parent_model"] = model_name
            self.result.mutating_calls += 1
            operation = call_api("upload model", lambda: self.conn.models.upload_model(
                request=request, timeout=self.conn.timeout))
        response = wait(operation, "upload model")
        base = response.model.split("@", 1)[0]
        self.result.new_version = f"{base}@{response.model_version_id}"

    def _set_aliases(self, change: Change) -> None:
        version = self._version(change.params["version"])
        model = version.split("@", 1)[0]
        add = list(change.params.get("add", []))
        remove = list(change.params.get("remove", []))
        merge, timeout = self.conn.models.merge_version_aliases, self.conn.timeout
        if change.params.get("move_from_others"):
            for alias in add:
                holder = None if alias == DEFAULT_ALIAS else self._alias_holder(model, alias)
                if holder and holder != version:
                    self._mutating(f"move alias {alias}", partial(
                        merge, name=holder, version_aliases=[f"-{alias}"], timeout=timeout))
        aliases = [*add, *(f"-{a}" for a in remove)]
        if aliases:
            self._mutating(f"set aliases on {version}", partial(
                merge, name=version, version_aliases=aliases, timeout=timeout))

    def _alias_holder(self, model: str, alias: str) -> str | None:
        from google.api_core import exceptions as gexc

        try:
            found = self.conn.models.get_model(name=f"{model}@{alias}", timeout=self.conn.timeout)
        except gexc.NotFound:
            return None
        except gexc.GoogleAPICallError as error:
            raise translate(error, f"find alias {alias}") from error
        return f"{found.name.split('@', 1)[0]}@{found.version_id}"

    # -- deployments -------------------------------------------------------------------
    def _delete_version(self, change: Change) -> None:
        version = change.params["version"]
        operation = self._mutating(f"delete model version {version}", lambda: (
            self.conn.models.delete_model_version(name=version, timeout=self.conn.timeout)))
        wait(operation, "delete model version")

    def _deploy_model(self, change: Change) -> None:
        from google.api_core import exceptions as gexc

        version = self._version(change.params["version"])
        deployed = build.deployed_model_message(self.aip, self.desired, version)
        split = {"0": 100} if change.params.get("traffic_percent") == 100 else {}
        try:
            self.result.mutating_calls += 1
            operation = with_retries(lambda: self.conn.endpoints.deploy_model(
                endpoint=self.endpoint_name, deployed_model=deployed, traffic_split=split,
                timeout=self.conn.timeout))
        except gexc.GoogleAPICallError as error:
            if canonical_status(error) != "ALREADY_EXISTS":
                raise translate(error, "deploy model") from error
            self._await_deployed(deployed.id)  # an interrupted earlier deploy: wait for it
            return
        wait(operation, "deploy model", self.deploy_deadline_s)

    def _await_deployed(self, deployed_model_id: str) -> None:
        deadline = time.monotonic() + self.deploy_deadline_s
        while time.monotonic() < deadline:
            endpoint = call_api("get endpoint", lambda: self.conn.endpoints.get_endpoint(
                name=self.endpoint_name, timeout=self.conn.timeout))
            if any(d.id == deployed_model_id for d in endpoint.deployed_models):
                return
            time.sleep(2)
        raise OperationTimeoutError(f"deployed model {deployed_model_id} did not appear within "
                                    f"{self.deploy_deadline_s:.0f} s")

    def _mutate(self, change: Change) -> None:
        deployed = self.aip.DeployedModel(
            id=change.params["deployed_model_id"],
            dedicated_resources=build.dedicated_resources(self.aip, self.desired))
        operation = self._mutating("mutate deployed model", lambda: (
            self.conn.endpoints.mutate_deployed_model(
                endpoint=self.endpoint_name, deployed_model=deployed,
                update_mask={"paths": MUTATE_PATHS}, timeout=self.conn.timeout)))
        wait(operation, "mutate deployed model")

    def _set_traffic(self, change: Change) -> None:
        set_traffic(self.conn, self.endpoint_name, change.before or {}, change.params["split"],
                    self.result)

    def _undeploy(self, change: Change) -> None:
        self.result.mutating_calls += 1
        undeploy_and_wait(self.conn, self.endpoint_name, change.params["deployed_model_id"])

    # -- alerts ------------------------------------------------------------------------
    def _alert(self, kind: str) -> DesiredAlert:
        return next(a for a in self.desired.alerts if a.kind == kind)

    def _create_alert(self, change: Change) -> None:
        policy = build.alert_policy_message(self._alert(change.params["kind"]),
                                            change.params["channels"])
        self._mutating("create alert policy", lambda: (
            self.conn.alert_policies.create_alert_policy(
                name=self.conn.monitoring_project, alert_policy=policy,
                timeout=self.conn.timeout)))

    def _update_alert(self, change: Change) -> None:
        policy = build.alert_policy_message(self._alert(change.params["kind"]),
                                            change.params["channels"], change.params["name"])
        self._mutating("update alert policy", lambda: (
            self.conn.alert_policies.update_alert_policy(alert_policy=policy,
                                                         timeout=self.conn.timeout)))

    def _delete_alert(self, change: Change) -> None:
        self._mutating("delete alert policy", lambda: (
            self.conn.alert_policies.delete_alert_policy(name=change.params["name"],
                                                         timeout=self.conn.timeout)))


def set_traffic(conn: Connection, endpoint_name: str, expected: dict[str, int],
                split: dict[str, int], result: ApplyResult | None = None) -> str:
    """Write `split` only if the endpoint still has `expected`, with its etag. Returns the
    new etag. A split that changed since it was read raises ConflictError."""
    from google.api_core import exceptions as gexc

    current = call_api("get endpoint", lambda: conn.endpoints.get_endpoint(
        name=endpoint_name, timeout=conn.timeout))
    now = {k: int(v) for k, v in current.traffic_split.items() if v}
    if now != {k: v for k, v in expected.items() if v}:
        raise ConflictError(
            f"the traffic split of {endpoint_name} changed since it was read: expected "
            f"{expected}, found {now}; not overwriting it",
            hint="someone else is changing traffic; re-run to plan against the new split")
    endpoint = conn.aiplatform.Endpoint(name=endpoint_name, traffic_split=split,
                                        etag=current.etag)
    try:
        if result is not None:
            result.mutating_calls += 1
        updated = conn.endpoints.update_endpoint(
            endpoint=endpoint, update_mask={"paths": ["traffic_split"]}, timeout=conn.timeout)
    except gexc.GoogleAPICallError as error:
        raise translate(error, "set traffic") from error
    return str(updated.etag)


def apply_plan(conn: Connection, desired: Desired, plan: Plan,
               progress: Progress | None = None) -> ApplyResult:
    return Applier(conn, desired, plan, progress).run()
