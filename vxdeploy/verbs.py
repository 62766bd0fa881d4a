"""The typed requests a plan's changes carry: one per verb of `vertex.writer`.

A change holds everything its API call needs (the model's container, the machines, the
alert), not a copy of the desired state to rebuild it from, so a plan saved to a file is
applicable on its own and `apply` executes exactly what the plan shows. Plain frozen
dataclasses of plain values: pure planning builds them, pydantic turns them into JSON and
back (`saved_plan`), and only the writer turns them into GAPIC messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from vxdeploy.desired import DesiredAlert, DesiredEndpoint, DesiredModel, DesiredResources


@dataclass(frozen=True)
class CreateEndpoint:
    endpoint_id: str
    endpoint: DesiredEndpoint


@dataclass(frozen=True)
class UpdateEndpoint:
    """Only the fields that are not None are written (the update mask)."""

    labels: dict[str, str] | None = None
    display_name: str | None = None
    inference_timeout_s: int | None = None


@dataclass(frozen=True)
class UploadModel:
    model_id: str
    parent_exists: bool  # add a version to the model, or create the model
    model: DesiredModel
    staging_bucket: str = ""  # Vertex reads gs:// only: a local folder is shipped here first


@dataclass(frozen=True)
class DeployModel:
    version: str  # MODEL@ID, or MODEL@(new): the version an earlier upload creates
    deployed_model_id: str
    display_name: str
    resources: DesiredResources
    traffic_percent: int  # 100 only for the first model on an endpoint, else 0


@dataclass(frozen=True)
class MutateDeployedModel:
    deployed_model_id: str
    resources: DesiredResources  # replica bounds and autoscaling are what changes in place


@dataclass(frozen=True)
class SetTraffic:
    """Write `split` with the endpoint's etag, only while its split is still `expected`.

    `expected` None: whatever the split is now (destroy clears it whatever it is).
    """

    split: dict[str, int]
    expected: dict[str, int] | None = None


@dataclass(frozen=True)
class UndeployModel:
    deployed_model_id: str


@dataclass(frozen=True)
class SetAliases:
    version: str
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    move_from_others: bool = False  # take `add` off the versions holding them first


@dataclass(frozen=True)
class CreateAlert:
    alert: DesiredAlert
    channels: tuple[str, ...]


@dataclass(frozen=True)
class UpdateAlert:
    alert: DesiredAlert
    channels: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class Delete:
    """Delete the named resource (alert policy, model version, endpoint or model);
    "already gone" is done."""

    name: str


Request = (CreateEndpoint | UpdateEndpoint | UploadModel | DeployModel | MutateDeployedModel
           | SetTraffic | UndeployModel | SetAliases | CreateAlert | UpdateAlert | Delete)
