"""What the EndpointService deploys with: the runtime specs of a deployed model, and starting,
scaling and restoring its replicas through `ModelServers`.

Kept apart from the services so EndpointService is handed this object (and the store),
not the whole emulator; the settings it needs (replica cap, readiness timeout) come in
from `EmulatorConfig` rather than from the environment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from google.cloud.aiplatform_v1beta1 import types as t

from vxdeploy.emulator.names import parse
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

if TYPE_CHECKING:
    from vxdeploy.emulator.store import StateStore

log = logging.getLogger("vxdeploy.emulator")

# Bundled servers whose forward passes run on torch's intra-op threads in this process
# (TorchServe sizes its own workers; a user's image is left alone).
SHARED_HOST_THREADS = frozenset({"flask", "tensorrt"})


def is_scale_to_zero(dm: t.DeployedModel) -> bool:
    """A deployment with no replica at rest: min_replica_count 0 and a scale-to-zero spec."""
    return (dm.dedicated_resources.min_replica_count == 0
            and "scale_to_zero_spec" in dm.dedicated_resources)


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


class DeploymentRuntime:
    """The model servers of every deployment, and the deploys still starting."""

    def __init__(self, servers: ModelServers, *, max_replicas: int, ready_timeout_s: float):
        self.servers = servers
        self.max_replicas = max_replicas
        self.ready_timeout_s = ready_timeout_s
        # endpoint name -> ids of deployed models whose DeployModel is still running
        self.deploying: dict[str, set[str]] = {}

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
        if container in SHARED_HOST_THREADS:
            # On Vertex a replica owns its machine; here every deployed server shares this
            # one. With torch's default (a thread per core in every forward pass) two
            # servers answering at once oversubscribe the cores, and OpenMP threads spin at
            # barriers while their partners wait for a core: p99 rose from 30 ms to 2-3 s
            # with two flask servers on 2 cores. One thread per pass, and a model worker
            # per core, keeps each server batching without the collapse. model.env wins.
            env.setdefault("VXSERVE_TORCH_THREADS", "1")
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
        stz = is_scale_to_zero(dm)
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

    def restore(self, store: StateStore) -> None:
        """After a restart: adopt or restart the model servers of every deployed model."""
        saved = self.servers.saved()
        keep = set()
        with store.lock:
            jobs = []
            for endpoint in store.endpoints.values():
                for dm in endpoint.deployed_models:
                    record = store.models.get(dm.model)
                    model = record.versions.get(dm.model_version_id) if record else None
                    if model is None:
                        continue
                    uri = store.artifacts.get(f"{model.name}@{model.version_id}", "")
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
