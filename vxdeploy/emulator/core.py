"""The emulator's state and behaviour, independent of HTTP: what every handler works on.

`Emulator` composes the parts (store, operations, deployment runtime, router, faults,
request log) and holds the one dispatch table from RPC name to service function. Each
service function gets only its own context (see `context.py`), never this object, so the
services import nothing of this module and the arrow only points from here down.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vxdeploy.emulator import endpoints_service as endpoints
from vxdeploy.emulator import models_service as models
from vxdeploy.emulator import prediction
from vxdeploy.emulator.config import EmulatorConfig
from vxdeploy.emulator.context import Deployer, Predictor, Registry
from vxdeploy.emulator.deployments import DeploymentRuntime
from vxdeploy.emulator.faults import Faults
from vxdeploy.emulator.operations import OperationManager
from vxdeploy.emulator.prediction import Router
from vxdeploy.emulator.requestlog import RequestLog
from vxdeploy.emulator.serving import ModelServers
from vxdeploy.emulator.store import StateStore

# The dispatch table: every RPC the REST server hands to a service, with the context that
# service is given. Predict and RawPredict are not here: they skip the codec and go to
# `Router.predict` with the raw body (the hot path, see server.py).
HANDLERS: dict[str, tuple[str, Callable[..., Any]]] = {
    "UploadModel": ("registry", models.upload_model),
    "GetModel": ("registry", models.get_model),
    "ListModels": ("registry", models.list_models),
    "ListModelVersions": ("registry", models.list_model_versions),
    "UpdateModel": ("registry", models.update_model),
    "MergeVersionAliases": ("registry", models.merge_version_aliases),
    "DeleteModel": ("registry", models.delete_model),
    "DeleteModelVersion": ("registry", models.delete_model_version),
    "CreateEndpoint": ("deployer", endpoints.create_endpoint),
    "GetEndpoint": ("deployer", endpoints.get_endpoint),
    "ListEndpoints": ("deployer", endpoints.list_endpoints),
    "UpdateEndpoint": ("deployer", endpoints.update_endpoint),
    "DeleteEndpoint": ("deployer", endpoints.delete_endpoint),
    "DeployModel": ("deployer", endpoints.deploy_model),
    "UndeployModel": ("deployer", endpoints.undeploy_model),
    "MutateDeployedModel": ("deployer", endpoints.mutate_deployed_model),
    "GetOperation": ("deployer", endpoints.get_operation),
    "ListOperations": ("deployer", endpoints.list_operations),
    "WaitOperation": ("deployer", endpoints.wait_operation),
    "CancelOperation": ("deployer", endpoints.cancel_operation),
    "Explain": ("predictor", prediction.explain),
}
# Served by the router straight from the HTTP body.
ROUTED = ("Predict", "RawPredict")


class Emulator:
    """State store, operations, model servers, router, faults and the request log."""

    def __init__(self, state_dir: Path, config: EmulatorConfig | None = None, *,
                 seed: int | None = None, start_server: Callable[[Any], Any] | None = None,
                 adopt_server: Callable[[dict[str, Any]], Any] | None = None,
                 metrics: Any = None):
        config = config or EmulatorConfig()
        self.config = config
        self.state_dir = Path(state_dir)
        self.store = StateStore(self.state_dir)
        self.ops = OperationManager(self.store, inline_wait_s=config.inline_wait_s)
        self.ops.min_pending_s = config.operation_pending_s
        self.rng = random.Random(seed)
        self.faults = Faults(self.rng)
        self.servers = ModelServers(self.state_dir, start=start_server, adopt=adopt_server)
        self.runtime = DeploymentRuntime(self.servers, max_replicas=config.max_replicas,
                                         ready_timeout_s=config.ready_timeout_s)
        self.requests = RequestLog()
        self.metrics = metrics
        self.router = Router(self.store, self.servers, self.faults, self.rng, metrics)
        self._contexts: dict[str, Any] = {
            "registry": Registry(self.store, self.ops),
            "deployer": Deployer(self.store, self.ops, self.runtime),
            "predictor": Predictor(self.store, self.router),
        }

    def handle(self, rpc: str, request: Any, version: str, **extra: Any) -> Any:
        kind, handler = HANDLERS[rpc]
        return handler(self._contexts[kind], request, version, **extra)

    def restore(self) -> None:
        """After a restart: fail interrupted operations, adopt or restart deployed models."""
        self.ops.fail_interrupted()
        self.runtime.restore(self.store)

    def reset(self) -> None:
        """Forget everything: stop every server, clear resources, faults and the log."""
        self.servers.stop_all(grace_s=5)
        self.store.clear()
        self.faults.clear()
        self.ops.release()
        self.requests.clear()
        if self.metrics is not None:
            self.metrics.reset()
