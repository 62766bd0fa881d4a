"""A plan survives being written to a file: every change keeps its typed request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_plan import converged, deployed_from, make_desired
from vxdeploy.errors import InvalidInputError
from vxdeploy.live import LiveState
from vxdeploy.plan import compute_plan
from vxdeploy.saved_plan import load_plan, plan_from_dict
from vxdeploy.verbs import DeployModel, UploadModel


def round_trip(plan):  # type: ignore[no-untyped-def]
    return plan_from_dict(json.loads(json.dumps(plan.to_dict(), default=str)))


def test_a_first_deploy_plan_reads_back_equal_with_typed_requests() -> None:
    desired = make_desired()
    plan = compute_plan(desired, LiveState())
    again = round_trip(plan)
    assert again == plan
    upload = next(c.request for c in again.changes if isinstance(c.request, UploadModel))
    assert upload.model == desired.model  # the image, env and routes travel in the plan
    deploy = next(c.request for c in again.changes if isinstance(c.request, DeployModel))
    assert deploy.resources == desired.resources


def test_a_rollout_plan_against_a_live_endpoint_reads_back_equal() -> None:
    old = make_desired()
    new = make_desired(model={"env": {"V": "2"}})
    live = converged(old, deployed_from(old))
    plan = compute_plan(new, live)
    assert plan.expected_versions and plan.expected_etag
    assert round_trip(plan) == plan


def test_a_plan_with_an_unknown_target_is_invalid_input(tmp_path: Path) -> None:
    body = compute_plan(make_desired(), LiveState()).to_dict()
    body["target"] = "mars"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(body, default=str))
    with pytest.raises(InvalidInputError, match="mars"):
        load_plan(path)
