"""What each service is given: only the parts of the emulator it uses.

The services are functions of (context, request, version). Each service gets a small
context of its own, built once by `core.Emulator`, rather than the whole emulator: the
Model Registry never touches model servers, the EndpointService gets the store, the
operations and the deployment runtime, and a test can hand a service just those. Helpers
shared by several services are typed against the narrow protocols (`HasStore`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vxdeploy.emulator.deployments import DeploymentRuntime
    from vxdeploy.emulator.operations import OperationManager
    from vxdeploy.emulator.prediction import Router
    from vxdeploy.emulator.store import StateStore


class HasStore(Protocol):
    """Reads and writes of resources."""

    @property
    def store(self) -> StateStore: ...


class HasOperations(Protocol):
    """Long-running operations only (the Operations mixin RPCs)."""

    @property
    def ops(self) -> OperationManager: ...


@dataclass(frozen=True)
class Registry:
    """ModelService: resources, operations and the uploads still being registered."""

    store: StateStore
    ops: OperationManager
    pending_models: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Deployer:
    """EndpointService: resources, operations and the runtime that runs deployed models."""

    store: StateStore
    ops: OperationManager
    runtime: DeploymentRuntime


@dataclass(frozen=True)
class Predictor:
    """PredictionService's non-streaming RPCs (Explain): resources and the router."""

    store: StateStore
    router: Router
