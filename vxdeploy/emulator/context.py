"""What each service is given: only the parts of the emulator it uses.

The services are functions of (context, request, version). Typing them against these
protocols rather than the whole `Emulator` keeps each one honest about its dependencies
(the Model Registry never touches model servers) and lets a test hand a service just a
store and an operation manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1beta1 import types as t

    from vxdeploy.emulator.operations import OperationManager
    from vxdeploy.emulator.serving import Deployment, ModelServers
    from vxdeploy.emulator.store import StateStore


class HasStore(Protocol):
    """Reads and writes of resources."""

    store: StateStore


class HasOperations(Protocol):
    """Long-running operations only (the Operations mixin RPCs)."""

    ops: OperationManager


class Registry(HasStore, HasOperations, Protocol):
    """ModelService: resources, operations and the uploads still being registered."""

    pending_models: set[str]


class Deployer(HasStore, HasOperations, Protocol):
    """EndpointService: resources, operations and the model servers it starts and stops."""

    servers: ModelServers
    deploying: dict[str, set[str]]

    def replicas_for(self, dm: t.DeployedModel) -> int: ...

    def deployment_for(self, endpoint_name: str, dm: t.DeployedModel, model: t.Model,
                       storage_uri: str) -> Deployment: ...

    def start_deployment(self, deployment: Deployment, dm: t.DeployedModel) -> Any: ...
