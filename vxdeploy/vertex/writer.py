"""Mutating verbs shared by deploy, rollout and destroy, written once.

Each verb retries transient failures, translates API errors to `VxError`s and tells the
caller whether it made a mutating call, so callers count calls without repeating the
NOT_FOUND / retry handling.
"""

from __future__ import annotations

from vxdeploy.vertex.connection import Connection
from vxdeploy.vertex.errors import call_api, canonical_status
from vxdeploy.vertex.operations import wait


def undeploy_and_wait(conn: Connection, endpoint: str, deployed_model_id: str, *,
                      missing_ok: bool = True) -> bool:
    """Undeploy one DeployedModel and wait for the operation. With `missing_ok`, a model
    (or endpoint) that is already gone counts as done: re-runs after an interruption.
    Returns True when the undeploy call was sent (it is a mutating call either way)."""
    try:
        operation = call_api(f"undeploy {deployed_model_id} from {endpoint}",
                             lambda: conn.endpoints.undeploy_model(
                                 endpoint=endpoint, deployed_model_id=deployed_model_id,
                                 timeout=conn.timeout))
    except Exception as error:
        if missing_ok and canonical_status(error.__cause__ or error) == "NOT_FOUND":
            return True
        raise
    wait(operation, "undeploy model")
    return True
