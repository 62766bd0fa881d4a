"""The emulator's state and behaviour, independent of HTTP: what every handler works on."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.cloud.aiplatform_v1beta1 import types as t

from vxdeploy.emulator import endpoints_service, models_service, prediction
from vxdeploy.emulator.faults import Faults
from vxdeploy.emulator.names import parse
from vxdeploy.emulator.operations import OperationManager
from vxdeploy.emulator.prediction import Router
from vxdeploy.emulator.requestlog import RequestLog
from vxdeploy.emulator.runtime.manifest import has_process_manifest
from vxdeploy.emulator.serving import (
    CONTAINER_LABEL,
    CONTAINERS,
    RUNTIME_LABEL,
    RUNTIMES,
    Deployment,
    ModelServers,
    build_env,
    default_routes,
)
from vxdeploy.emulator.store import StateStore

log = logging.getLogger("vxdeploy.emulator")

HANDLERS: dict[str, Callable[..., Any]] = {**models_service.HANDLERS,
                                           **endpoints_service.HANDLERS,
                                           "Explain": prediction.explain}


def _require_engine(model: t.Model) -> None:
    """Refuse at once (FAILED_PRECONDITION) a deploy that needs Docker when none answers."""
    from vxdeploy.emulator.errors import failed_precondition
    from vxdeploy.emulator.runtime import engine_problem

    problem = engine_problem()
    if problem is not None:
        raise failed_precondition(
            f"Model {model.name} runs in its own container ({model.container_spec.image_uri}) "
            f"and no Docker engine is reachable to run it ({problem}). Start one with "
            "`make docker-up` or point DOCKER_HOST at one; the local emulator never runs a "
            "custom container's command on this machine.")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


class Emulator:
    """State store, operations, model servers, router, faults and the request log."""

    def __init__(self, state_dir: Path, *, seed: int | None = None,
                 inline_wait_s: float | None = None,
                 max_replicas: int | None = None, start_server: Callable[[Any], Any] | None = None,
                 adopt_server: Callable[[dict[str, Any]], Any] | None = None,
                 metrics: Any = None, ready_timeout_s: float | None = None):
        self.state_dir = Path(state_dir)
        self.store = StateStore(self.state_dir)
        # How long an LRO call waits for its work before answering pending (then polled).
        if inline_wait_s is None:
            inline_wait_s = float(os.environ.get("VXDEPLOY_EMULATOR_INLINE_WAIT_S", "2.0"))
        self.ops = OperationManager(self.store, inline_wait_s=inline_wait_s)
        # "Pending mode": every operation stays pending this long and must be polled.
        self.ops.min_pending_s = float(os.environ.get("VXDEPLOY_EMULATOR_OPERATION_PENDING_S",
                                                      "0"))
        self.rng = random.Random(seed)
        self.faults = Faults(self.rng)
        self.servers = ModelServers(self.state_dir, start=start_server, adopt=adopt_server)
        self.requests = RequestLog()
        self.router = Router(self)
        self.metrics = metrics
        # Local machines are small: cap how many replicas of one deployment really run.
        self.max_replicas = max_replicas or _env_int("VXDEPLOY_EMULATOR_MAX_REPLICAS", 1)
        self.ready_timeout_s = ready_timeout_s or float(
            os.environ.get("VXDEPLOY_EMULATOR_READY_TIMEOUT_S", "180"))
        self.pending_models: set[str] = set()
        self.deploying: dict[str, set[str]] = {}

    def handle(self, rpc: str, request: Any, version: str, **extra: Any) -> Any:
        return HANDLERS[rpc](self, request, version, **extra)

    # ---- deployments ---------------------------------------------------------------------
    def replicas_for(self, dm: t.DeployedModel) -> int:
        wanted = max(int(dm.dedicated_resources.min_replica_count), 0)
        return min(wanted, self.max_replicas)

    def deployment_for(self, endpoint_name: str, dm: t.DeployedModel, model: t.Model,
                       storage_uri: str) -> Deployment:
        """The runtime specs of one deployed model (one per replica slot)."""
        from vxdeploy.emulator.runtime import ModelServerSpec

        endpoint = parse(endpoint_name, "endpoints")
        default_health, default_predict = default_routes(endpoint.id, dm.id)
        container_spec = model.container_spec
        health = container_spec.health_route or default_health
        predict = container_spec.predict_route or default_predict
        env = build_env(endpoint=endpoint, deployed_model=dm, model=model,
                        storage_uri=storage_uri, health_route=health, predict_route=predict)
        container = model.labels.get(CONTAINER_LABEL, "custom")
        if container not in CONTAINERS and not has_process_manifest(container):
            raise ValueError(f"Label {CONTAINER_LABEL}={container!r} names no bundled server; "
                             f"allowed: {', '.join(CONTAINERS)}.")
        # Any other value (vxdeploy labels remote models "vertex") runs the default runtime.
        runtime = model.labels.get(RUNTIME_LABEL, "process")
        if runtime not in RUNTIMES:
            runtime = "process"
        if container == "custom":
            runtime = "docker"  # a user's image runs in a container, never on the host
        if runtime == "docker":
            _require_engine(model)
        if runtime == "process":
            # Downloads, ONNX exports and engines go in the state directory (removed with
            # it), not the system temp dir; a container keeps them in its own /tmp.
            env.setdefault("VXSERVE_CACHE_DIR", str(self.servers.state_dir / "cache"))
        port = container_spec.ports[0].container_port if container_spec.ports else 8080
        command = list(container_spec.command) or None
        args = list(container_spec.args) or None
        slots = max(self.max_replicas, 1)
        specs = [ModelServerSpec(
            key=f"{endpoint.id}/{dm.id}" + (f"/r{index}" if index else ""),
            container=container, image_uri=container_spec.image_uri, env=dict(env),
            health_route=health, predict_route=predict, container_port=port or 8080,
            log_path=self.servers.logs_dir / f"{endpoint.id}-{dm.id}-r{index}.log",
            runtime=runtime, ready_timeout_s=self.ready_timeout_s, command=command, args=args,
            labels={"vxdeploy-endpoint": endpoint.id, "vxdeploy-deployed-model": dm.id},
        ) for index in range(slots)]
        stz = endpoints_service.is_scale_to_zero(dm)
        idle = 3600.0
        if stz and "idle_scaledown_period" in dm.dedicated_resources.scale_to_zero_spec:
            idle = dm.dedicated_resources.scale_to_zero_spec.idle_scaledown_period.total_seconds()
        return Deployment(key=f"{endpoint.id}/{dm.id}", project=endpoint.project,
                          location=endpoint.location, endpoint_id=endpoint.id,
                          deployed_model_id=dm.id, specs=specs, scale_to_zero=stz,
                          idle_scaledown_s=idle or 3600.0)

    def start_deployment(self, deployment: Deployment, dm: t.DeployedModel) -> None:
        """Start the min replicas (none for scale-to-zero); fail the deploy with the log tail."""
        from vxdeploy.emulator.errors import ApiError

        if deployment.scale_to_zero:
            self.servers.register(deployment)
            return
        try:
            self.servers.start(deployment, self.replicas_for(dm))
        except Exception as error:
            self.servers.stop(deployment.key, grace_s=2)
            raise ApiError("INVALID_ARGUMENT", "Model server never became ready. Please validate "
                           f"that your model file or container configuration are valid. "
                           f"{error}") from error

    def restore(self) -> None:
        """After a restart: fail interrupted operations, adopt or restart deployed models."""
        self.ops.fail_interrupted()
        saved = self.servers.saved()
        keep = set()
        with self.store.lock:
            jobs = []
            for endpoint in self.store.endpoints.values():
                for dm in endpoint.deployed_models:
                    record = self.store.models.get(dm.model)
                    model = record.versions.get(dm.model_version_id) if record else None
                    if model is None:
                        continue
                    uri = self.store.artifacts.get(f"{model.name}@{model.version_id}", "")
                    jobs.append((endpoint.name, t.DeployedModel(dm), t.Model(model), uri))
        for endpoint_name, dm, model, uri in jobs:
            try:
                deployment = self.deployment_for(endpoint_name, dm, model, uri)
            except Exception as error:
                log.warning("cannot restore %s/%s: %s", endpoint_name, dm.id, error)
                continue
            keep.add(deployment.key)
            replicas = 0 if deployment.scale_to_zero else self.replicas_for(dm)
            self.servers.restore(deployment, replicas, saved.get(deployment.key, []))
        self.servers.finish_restore(keep)

    def reset(self) -> None:
        """Forget everything: stop every server, clear resources, faults and the log."""
        self.servers.stop_all(grace_s=5)
        self.store.clear()
        self.faults.clear()
        self.ops.release()
        self.requests.clear()
        if self.metrics is not None:
            self.metrics.reset()
