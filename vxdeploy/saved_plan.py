"""Saved plans: `plan --out FILE` then `deploy --plan FILE` (Terraform's saved plans).

A saved plan carries the typed request of every change and where it applies, so it is
applied on its own, without the profile. It is applied only while it is still true: the
live endpoint must have the etag, the traffic split and the deployed versions the plan was
computed against. Anything else (someone moved traffic, deployed a new version, deleted or
created the endpoint) is refused with exit 4 instead of applying an old picture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vxdeploy.errors import ConflictError, InvalidInputError
from vxdeploy.live import LiveEndpoint, LiveState
from vxdeploy.plan import Action, Change, Plan, versions_of
from vxdeploy.profile.model import Target
from vxdeploy.verbs import (
    CreateAlert,
    CreateEndpoint,
    Delete,
    DeployModel,
    MutateDeployedModel,
    Request,
    SetAliases,
    SetTraffic,
    UndeployModel,
    UpdateAlert,
    UpdateEndpoint,
    UploadModel,
)

if TYPE_CHECKING:
    from vxdeploy.vertex.connection import Connection

RERUN_HINT = "run `vxdeploy plan --out FILE` again and review the new plan"
REQUEST_TYPES: dict[Action, type] = {
    Action.CREATE_ENDPOINT: CreateEndpoint, Action.UPDATE_ENDPOINT: UpdateEndpoint,
    Action.UPLOAD_MODEL: UploadModel, Action.DEPLOY_MODEL: DeployModel,
    Action.MUTATE_DEPLOYED_MODEL: MutateDeployedModel, Action.SET_TRAFFIC: SetTraffic,
    Action.UNDEPLOY_MODEL: UndeployModel, Action.SET_ALIASES: SetAliases,
    Action.CREATE_ALERT: CreateAlert, Action.UPDATE_ALERT: UpdateAlert,
    Action.DELETE_ALERT: Delete, Action.DELETE_MODEL_VERSION: Delete,
    Action.DELETE_ENDPOINT: Delete, Action.DELETE_MODEL: Delete,
}


def load_plan(path: Path) -> Plan:
    """Read a plan written by `vxdeploy plan --out`; a clear error for anything else."""
    from pydantic import ValidationError

    try:
        body = json.loads(path.read_text())
    except OSError as error:
        raise InvalidInputError(f"--plan {path}: cannot read it: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"--plan {path}: not JSON: {error.msg} at line {error.lineno}",
                                hint="use a file written by `vxdeploy plan --out`") from error
    try:
        return plan_from_dict(body)
    except (KeyError, TypeError, ValueError, AttributeError, ValidationError) as error:
        raise InvalidInputError(
            f"--plan {path}: not a plan written by `vxdeploy plan --out` ({error!r})",
            hint="fields required: profile, endpoint, target, changes (each with action and "
            "request), expected_split, expected_etag, expected_versions") from error


def open_saved(path: Path, profile_endpoint: str | None = None) -> tuple[Plan, Connection]:
    """The saved plan and a connection to where it applies, once it is known to be current.

    `profile_endpoint`: the endpoint of a profile given beside the plan; it must agree.
    """
    from vxdeploy.vertex.connection import connect_to
    from vxdeploy.vertex.reader import read_endpoint_named

    plan = load_plan(path)
    if profile_endpoint is not None and profile_endpoint != plan.endpoint:
        raise InvalidInputError(
            f"the saved plan is for {plan.endpoint}, but the profile deploys to "
            f"{profile_endpoint}", hint="pass the profile (and --set values) the plan was made "
            "with, or no profile at all")
    _, project, _, region, *_ = plan.endpoint.split("/")
    conn = connect_to(Target(plan.target), project, region, beta=plan.beta)
    check_still_current(plan, read_endpoint_named(conn, plan.endpoint, LiveState()))
    return plan, conn


def plan_from_dict(body: dict[str, Any]) -> Plan:
    """The inverse of `Plan.to_dict` (extra keys such as `summary` are ignored)."""
    from pydantic import TypeAdapter

    changes = []
    for c in body["changes"]:
        action = Action(c["action"])
        request: Request = TypeAdapter(REQUEST_TYPES[action]).validate_python(c["request"])
        changes.append(Change(action=action, resource=str(c["resource"]),
                              reason=str(c["reason"]), before=c.get("before"),
                              after=c.get("after"), request=request))
    split, versions = body.get("expected_split"), body.get("expected_versions")
    parts = str(body["endpoint"]).split("/")
    if len(parts) != 6 or parts[0::2] != ["projects", "locations", "endpoints"]:
        raise ValueError(f"endpoint {body['endpoint']!r} is not "
                         "projects/P/locations/L/endpoints/E")
    Target(body["target"])  # ValueError names the value
    return Plan(profile=str(body["profile"]), endpoint=str(body["endpoint"]),
                changes=tuple(changes),
                expected_split={str(k): int(v) for k, v in split.items()}
                if split is not None else None,
                expected_etag=str(body.get("expected_etag") or ""),
                expected_versions={str(k): str(v) for k, v in versions.items()}
                if versions is not None else None,
                target=str(body["target"]), beta=bool(body.get("beta", False)))


def check_still_current(saved: Plan, live: LiveEndpoint | None) -> None:
    """Refuse (ConflictError, exit 4) a saved plan the live endpoint no longer matches:
    decided from the plan's expected split, etag and versions alone."""
    name = saved.endpoint
    if saved.expected_split is not None and live is None:
        raise ConflictError(f"the saved plan is stale: {name} was deleted since the plan was "
                            "made", hint=RERUN_HINT)
    if live is None:
        return
    if saved.expected_split is None:
        raise ConflictError(f"the saved plan is stale: {name} was created since the plan was "
                            "made", hint=RERUN_HINT)
    if versions_of(live) != saved.expected_versions:
        raise ConflictError(
            f"the saved plan is stale: the deployed versions of {name} changed since the plan "
            f"was made (planned against {saved.expected_versions}, now {versions_of(live)})",
            hint=RERUN_HINT)
    if live.traffic_split != saved.expected_split:
        raise ConflictError(
            f"the saved plan is stale: the traffic split of {name} changed since the plan was "
            f"made (planned against {saved.expected_split}, now {live.traffic_split})",
            hint=RERUN_HINT)
    if live.etag != saved.expected_etag:
        raise ConflictError(
            f"the saved plan is stale: {name} was changed since the plan was made "
            f"(etag {saved.expected_etag!r}, now {live.etag!r})", hint=RERUN_HINT)
