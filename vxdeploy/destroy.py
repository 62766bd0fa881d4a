"""Destroy as a plan mode: read what exists, plan its removal with the same `Change`s deploy
uses, and let the same applier and writer execute them (every delete tolerates "already
gone", so an interrupted destroy re-runs)."""

from __future__ import annotations

from typing import Any

from vxdeploy.plan import Action, Plan, compute_destroy
from vxdeploy.profile.model import Profile
from vxdeploy.vertex.connection import Connection
from vxdeploy.vertex.reader import read_destroy_state


def plan_destroy(conn: Connection, profile: Profile) -> Plan:
    """The endpoint and model are both named after the profile's endpoint (as deploy does)."""
    endpoint_id = profile.endpoint.name
    live = read_destroy_state(conn, endpoint_id, endpoint_id)
    return compute_destroy(profile.name, conn.endpoint_name(endpoint_id), live,
                           profile.target.value)


def summary(plan: Plan) -> dict[str, Any]:
    """What will go, by kind: the endpoint (None if there is none), its deployed models,
    the model (None unless this tool made it) and the alert policies."""
    by = {a: [c.resource for c in plan.changes if c.action is a] for a in Action}
    return {"endpoint": next(iter(by[Action.DELETE_ENDPOINT]), None),
            "deployed_model_ids": [r.rsplit("/", 1)[-1] for r in by[Action.UNDEPLOY_MODEL]],
            "model": next(iter(by[Action.DELETE_MODEL]), None),
            "alert_policies": by[Action.DELETE_ALERT]}
