"""Tearing a deployment down: traffic off, undeploy all, delete endpoint, owned models and
alert policies. Every step tolerates "already gone", so an interrupted destroy re-runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from vxdeploy.desired import MANAGED_BY, TOOL
from vxdeploy.live import LiveState
from vxdeploy.vertex.connection import Connection
from vxdeploy.vertex.errors import call_api, canonical_status
from vxdeploy.vertex.operations import wait
from vxdeploy.vertex.reader import read_alert_policies, read_endpoint
from vxdeploy.vertex.writer import undeploy_and_wait


@dataclass
class DestroyPlan:
    endpoint: str | None
    deployed_model_ids: list[str]
    model: str | None
    alert_policies: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "deployed_model_ids": self.deployed_model_ids,
                "model": self.model, "alert_policies": self.alert_policies}

    @property
    def empty(self) -> bool:
        return not (self.endpoint or self.model or self.alert_policies)


def plan_destroy(conn: Connection, endpoint_id: str, model_id: str) -> DestroyPlan:
    from google.api_core import exceptions as gexc

    state = LiveState()
    endpoint = read_endpoint(conn, endpoint_id, state)
    model_name = conn.model_name(model_id)
    try:
        model = conn.models.get_model(name=model_name, timeout=conn.timeout)
        owned = dict(model.labels).get(MANAGED_BY) == TOOL
    except gexc.NotFound:
        owned = False
    policies = read_alert_policies(conn, endpoint_id, state)
    return DestroyPlan(
        endpoint=endpoint.name if endpoint else None,
        deployed_model_ids=[d.id for d in endpoint.deployed_models] if endpoint else [],
        model=model_name if owned else None,
        alert_policies=[p.name for p in policies.values()],
    )


def _ignore_missing(what: str, call: Callable[[], Any], wait_as: str = "") -> Any:
    """Run `call`; "already gone" is success. `wait_as`: wait for the returned operation."""
    from google.api_core import exceptions as gexc

    try:
        result = call_api(what, call)
    except Exception as error:
        cause = error.__cause__ if isinstance(error.__cause__, gexc.GoogleAPICallError) else error
        if canonical_status(cause) == "NOT_FOUND":
            return None
        raise
    if wait_as and result is not None:
        wait(result, wait_as)
    return result


def apply_destroy(conn: Connection, plan: DestroyPlan,
                  progress: Callable[[str], None] = lambda step: None) -> list[str]:
    done: list[str] = []
    if plan.endpoint:
        endpoint_name = plan.endpoint
        if plan.deployed_model_ids:
            progress("traffic off")
            current = _ignore_missing("get endpoint", lambda: conn.endpoints.get_endpoint(
                name=endpoint_name, timeout=conn.timeout))
            if current is not None and dict(current.traffic_split):
                endpoint = conn.aiplatform.Endpoint(name=endpoint_name, traffic_split={},
                                                    etag=current.etag)
                call_api("clear traffic", lambda: conn.endpoints.update_endpoint(
                    endpoint=endpoint, update_mask={"paths": ["traffic_split"]},
                    timeout=conn.timeout))
                done.append("traffic cleared")
        for deployed_id in plan.deployed_model_ids:
            progress(f"undeploy {deployed_id}")
            undeploy_and_wait(conn, endpoint_name, deployed_id)
            done.append(f"undeployed {deployed_id}")
        progress("delete endpoint")
        _ignore_missing("delete endpoint", lambda: conn.endpoints.delete_endpoint(
            name=endpoint_name, timeout=conn.timeout), "delete")
        done.append(f"deleted {endpoint_name}")
    if plan.model:
        model_name = plan.model
        progress("delete model")
        _ignore_missing("delete model", lambda: conn.models.delete_model(
            name=model_name, timeout=conn.timeout), "delete")
        done.append(f"deleted {model_name}")
    for policy in plan.alert_policies:
        progress(f"delete {policy}")
        _ignore_missing("delete alert policy", partial(
            conn.alert_policies.delete_alert_policy, name=policy, timeout=conn.timeout))
        done.append(f"deleted {policy}")
    return done
