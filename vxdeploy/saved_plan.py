"""Saved plans: `plan --out FILE` then `deploy --plan FILE` (Terraform's saved plans).

A saved plan is applied only while it is still true: the live endpoint must have the etag
and traffic split the plan was computed against, and planning again now must give exactly
the same changes. Anything else (someone moved traffic, deployed a new version, deleted the
endpoint, or the profile changed) is refused with exit 4 instead of applying an old picture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vxdeploy.errors import ConflictError, InvalidInputError
from vxdeploy.plan import Action, Change, Plan

RERUN_HINT = "run `vxdeploy plan --out FILE` again and review the new plan"


def load_plan(path: Path) -> Plan:
    """Read a plan written by `vxdeploy plan --out`; a clear error for anything else."""
    try:
        body = json.loads(path.read_text())
    except OSError as error:
        raise InvalidInputError(f"--plan {path}: cannot read it: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"--plan {path}: not JSON: {error.msg} at line {error.lineno}",
                                hint="use a file written by `vxdeploy plan --out`") from error
    try:
        return plan_from_dict(body)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidInputError(
            f"--plan {path}: not a plan written by `vxdeploy plan --out` ({error!r})",
            hint="fields required: profile, endpoint, changes, expected_split, "
            "expected_etag") from error


def plan_from_dict(body: dict[str, Any]) -> Plan:
    """The inverse of `Plan.to_dict` (extra keys such as `summary` are ignored)."""
    changes = tuple(Change(action=Action(c["action"]), resource=str(c["resource"]),
                           reason=str(c["reason"]), before=c.get("before"),
                           after=c.get("after"), params=dict(c.get("params") or {}))
                    for c in body["changes"])
    split = body.get("expected_split")
    return Plan(profile=str(body["profile"]), endpoint=str(body["endpoint"]), changes=changes,
                expected_split={str(k): int(v) for k, v in split.items()}
                if split is not None else None,
                expected_etag=str(body.get("expected_etag") or ""))


def check_still_current(saved: Plan, fresh: Plan) -> None:
    """Refuse (ConflictError, exit 4) a saved plan that no longer matches the live endpoint."""
    if saved.endpoint != fresh.endpoint:
        raise InvalidInputError(
            f"the saved plan is for {saved.endpoint}, but the profile deploys to "
            f"{fresh.endpoint}", hint="pass the profile (and --set values) the plan was made with")
    if saved.expected_split is not None and fresh.expected_split is None:
        raise ConflictError(f"the saved plan is stale: {saved.endpoint} was deleted since the "
                            "plan was made", hint=RERUN_HINT)
    if saved.expected_split is None and fresh.expected_split is not None:
        raise ConflictError(f"the saved plan is stale: {saved.endpoint} was created since the "
                            "plan was made", hint=RERUN_HINT)
    if (saved.expected_split or {}) != (fresh.expected_split or {}):
        raise ConflictError(
            f"the saved plan is stale: the traffic split of {saved.endpoint} changed since the "
            f"plan was made (planned against {saved.expected_split}, now "
            f"{fresh.expected_split})", hint=RERUN_HINT)
    if saved.expected_etag != fresh.expected_etag:
        raise ConflictError(
            f"the saved plan is stale: {saved.endpoint} was changed since the plan was made "
            f"(etag {saved.expected_etag!r}, now {fresh.expected_etag!r})", hint=RERUN_HINT)
    if _as_json(saved) != _as_json(fresh):
        raise ConflictError(
            f"the saved plan is stale: planning {saved.endpoint} now gives different changes "
            "(the live model versions or the profile changed since the plan was made)",
            hint=RERUN_HINT)


def _as_json(plan: Plan) -> Any:
    """The changes as they are written to a file, so tuples and lists compare equal."""
    return json.loads(json.dumps([c.to_dict() for c in plan.changes], default=str))
