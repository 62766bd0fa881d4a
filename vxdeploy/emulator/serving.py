"""The deployed models' servers: started through the runtime, supervised, routed to.

The emulator core asks this module for "the servers of deployed model D on endpoint E";
how they run (process or container) is the runtime's business. Handles are saved in
`servers.json` so an emulator that restarts adopts servers that are still alive instead
of starting them again, and restarts the ones that died.

Every server carries its owner (the state folder) and a launch id in its environment
(`ownership`), so a server the previous daemon was still starting when it was killed is
found and stopped too: nothing runs that the emulator does not know about.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vxdeploy.emulator import ownership
from vxdeploy.emulator.names import ResourceName, project_number
from vxdeploy.emulator.private_files import private_dir, write_private
from vxdeploy.emulator.runtime.spec import CONTAINERS, RUNTIMES
from vxdeploy.names import CONTAINER_LABEL, RUNTIME_LABEL

log = logging.getLogger("vxdeploy.emulator.serving")

__all__ = ["CONTAINERS", "CONTAINER_LABEL", "RUNTIMES", "RUNTIME_LABEL"]  # re-exported

MAX_RESTARTS = 3  # per deployed model within RESTART_WINDOW_S, then it stays down
RESTART_WINDOW_S = 300.0


def default_routes(endpoint_id: str, deployed_model_id: str) -> tuple[str, str]:
    """Vertex's default health and predict routes when the container spec names none."""
    base = f"/v1/endpoints/{endpoint_id}/deployedModels/{deployed_model_id}"
    return base, base + ":predict"


def build_env(*, endpoint: ResourceName, deployed_model: Any, model: Any, storage_uri: str,
              health_route: str, predict_route: str) -> dict[str, str]:
    """The AIP_* variables Vertex sets for a serving container, plus the Model's own env."""
    machine = deployed_model.dedicated_resources.machine_spec
    accelerator = machine.accelerator_type.name if machine.accelerator_type else ""
    env = {item.name: item.value for item in model.container_spec.env}
    env.update({
        "AIP_HEALTH_ROUTE": health_route,
        "AIP_PREDICT_ROUTE": predict_route,
        "AIP_STORAGE_URI": storage_uri,
        "AIP_DEPLOYED_MODEL_ID": deployed_model.id,
        "AIP_ENDPOINT_ID": endpoint.id,
        "AIP_MODEL_NAME": model.name.rsplit("/", 1)[-1],
        "AIP_VERSION_NAME": model.version_id,
        "AIP_MACHINE_TYPE": machine.machine_type,
        "AIP_ACCELERATOR_TYPE": "" if accelerator == "ACCELERATOR_TYPE_UNSPECIFIED"
        else accelerator,
        "AIP_FRAMEWORK": "CUSTOM_CONTAINER",
        "AIP_MODE": "PREDICTION",
        "AIP_MODE_VERSION": "1.0.0",
        "AIP_PROJECT_NUMBER": project_number(endpoint.project),
    })
    return env


@dataclass
class Deployment:
    """Everything needed to (re)start the replicas of one deployed model."""

    key: str  # f"{endpoint_id}/{deployed_model_id}"
    project: str
    location: str
    endpoint_id: str
    deployed_model_id: str
    specs: list[Any]  # one ModelServerSpec per replica slot
    scale_to_zero: bool = False
    idle_scaledown_s: float = 3600.0
    servers: list[Any] = field(default_factory=list)
    starting: bool = False
    restarts: list[float] = field(default_factory=list)
    last_request: float = field(default_factory=time.time)
    error: str = ""
    _rr: itertools.count[int] = field(default_factory=itertools.count)


class ModelServers:
    """Starts, stops, supervises and hands out the model servers of every deployment."""

    def __init__(self, state_dir: Path, *, start: Callable[[Any], Any] | None = None,
                 adopt: Callable[[dict[str, Any]], Any] | None = None,
                 check_interval_s: float = 1.0):
        self.state_dir = Path(state_dir)
        self.logs_dir = self.state_dir / "logs"
        private_dir(self.logs_dir)
        self._path = self.state_dir / "servers.json"
        self._start = start
        self._adopt = adopt
        self._lock = threading.RLock()
        self._deployments: dict[str, Deployment] = {}
        self._stop = threading.Event()
        self._check_interval_s = check_interval_s
        self._monitor: threading.Thread | None = None
        self._launched: set[str] = set()  # launch ids this process started (see ownership)
        self._pending_restores: list[tuple[Deployment, int]] = []

    # ---- runtime access (lazy so tests may inject a runtime) ---------------------------
    def _runtime_start(self, spec: Any) -> Any:
        if self._start is None:
            from vxdeploy.emulator.runtime import start_model_server

            self._start = start_model_server
        launch = uuid.uuid4().hex
        with self._lock:
            self._launched.add(launch)
        # Marked before the runtime launches anything: a daemon killed while the server is
        # still starting leaves a process its successor can find and stop.
        spec.env[ownership.OWNER_ENV] = ownership.owner_id(self.state_dir)
        spec.env[ownership.LAUNCH_ENV] = launch
        server: Any = self._start(spec)
        server.launch = launch
        return server

    def _runtime_adopt(self, info: dict[str, Any]) -> Any:
        if self._adopt is None:
            from vxdeploy.emulator.runtime import adopt

            self._adopt = adopt
        return self._adopt(info)

    # ---- lifecycle -----------------------------------------------------------------------
    def start_monitor(self) -> None:
        self._monitor = threading.Thread(target=self._supervise, name="model-supervisor",
                                         daemon=True)
        self._monitor.start()

    def register(self, deployment: Deployment) -> None:
        with self._lock:
            self._deployments[deployment.key] = deployment

    def start(self, deployment: Deployment, replicas: int) -> None:
        """Start `replicas` servers now (blocking); raise the runtime's error on failure."""
        self.register(deployment)
        started = []
        try:
            offset = len(deployment.servers)
            for index in range(replicas):
                started.append(self._runtime_start(deployment.specs[offset + index]))
        except BaseException:
            for server in started:
                server.stop(grace_s=2)
            raise
        with self._lock:
            # Undeployed, or the emulator shut down, while these were starting (a scale-up
            # from zero runs in the background): nobody would ever stop them.
            orphaned = self._stop.is_set() or \
                self._deployments.get(deployment.key) is not deployment
            if not orphaned:
                deployment.servers.extend(started)
                deployment.error = ""
                deployment.last_request = time.time()
        if orphaned:
            for server in started:
                server.stop(grace_s=2)
            return
        self._save()

    def start_async(self, deployment: Deployment, replicas: int) -> bool:
        """Start in the background unless a start is already under way; True if started."""
        with self._lock:
            if deployment.starting:
                return False
            deployment.starting = True

        def run() -> None:
            try:
                self.start(deployment, replicas)
            except Exception as error:
                deployment.error = str(error)
                log.warning("model server %s failed to start: %s", deployment.key, error)
            finally:
                deployment.starting = False

        threading.Thread(target=run, name=f"start-{deployment.key}", daemon=True).start()
        return True

    def scale(self, key: str, replicas: int) -> None:
        """Grow or shrink a deployment to `replicas` running servers (blocking)."""
        deployment = self.get(key)
        if deployment is None:
            return
        with self._lock:
            extra = deployment.servers[replicas:]
            deployment.servers = deployment.servers[:replicas]
            missing = replicas - len(deployment.servers)
        for server in extra:
            server.stop(grace_s=5)
        for index in range(missing):
            server = self._runtime_start(deployment.specs[len(deployment.servers) + index])
            with self._lock:
                deployment.servers.append(server)
        self._save()

    def stop(self, key: str, grace_s: float = 10) -> None:
        with self._lock:
            deployment = self._deployments.pop(key, None)
        if deployment is None:
            return
        for server in deployment.servers:
            try:
                server.stop(grace_s=grace_s)
            except Exception as error:  # a server that will not stop must not block undeploy
                log.warning("stopping %s failed: %s", deployment.key, error)
        self._save()

    def stop_all(self, grace_s: float = 10) -> None:
        with self._lock:
            keys = list(self._deployments)
        threads = [threading.Thread(target=self.stop, args=(key, grace_s)) for key in keys]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(grace_s + 5)

    def shutdown(self, *, stop_servers: bool = True) -> None:
        self._stop.set()
        if stop_servers:
            self.stop_all()

    # ---- routing -------------------------------------------------------------------------
    def get(self, key: str) -> Deployment | None:
        with self._lock:
            return self._deployments.get(key)

    def pick(self, key: str) -> Any | None:
        """A live server of the deployment, round-robin over replicas; None when none runs."""
        deployment = self.get(key)
        if deployment is None:
            return None
        deployment.last_request = time.time()
        servers = deployment.servers
        if not servers:
            return None
        return servers[next(deployment._rr) % len(servers)]

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            deployments = list(self._deployments.values())
        out = []
        for d in deployments:
            out.append({
                "key": d.key, "endpoint_id": d.endpoint_id,
                "deployed_model_id": d.deployed_model_id,
                "project": d.project, "location": d.location,
                "replicas": [s.info() | {"alive": s.alive()} for s in d.servers],
                "scale_to_zero": d.scale_to_zero, "starting": d.starting, "error": d.error,
                "log_path": str(d.specs[0].log_path) if d.specs else "",
            })
        return out

    # ---- restore and supervision ---------------------------------------------------------
    def saved(self) -> dict[str, list[dict[str, Any]]]:
        try:
            saved: dict[str, list[dict[str, Any]]] = json.loads(self._path.read_text())
            return saved
        except (OSError, ValueError):
            return {}

    def restore(self, deployment: Deployment, replicas: int,
                saved: list[dict[str, Any]]) -> None:
        """Adopt saved servers that are still alive; start the rest in the background."""
        self.register(deployment)
        adopted = []
        for info in saved:
            try:
                server = self._runtime_adopt(info)
            except Exception:
                continue
            server.launch = info.get("launch", "")
            if server.alive():
                adopted.append(server)
        with self._lock:
            deployment.servers = adopted[:replicas]
        for server in adopted[replicas:]:
            server.stop(grace_s=2)
        if len(deployment.servers) < replicas:
            with self._lock:
                deployment.starting = True
                self._pending_restores.append((deployment, replicas - len(deployment.servers)))
        self._save()

    def finish_restore(self, keep: set[str]) -> None:
        """End a restore: stop what no deployment owns, then start the missing servers.

        Blocks until every missing server is healthy or has failed (each is bounded by its
        ready timeout), so an emulator reports ready only with its deployed models serving.
        Strays are stopped first: saved servers of deployments that are gone, and any
        process marked with this state folder that is neither adopted nor ours (a server
        the previous daemon was starting when it died).
        """
        self.kill_orphans(keep)
        with self._lock:
            known = {getattr(s, "launch", "") for d in self._deployments.values()
                     for s in d.servers} | self._launched
            pending, self._pending_restores = self._pending_restores, []
        stray = ownership.sweep(self.state_dir, keep=known - {""})
        if stray:
            log.warning("stopped %d model server process(es) no deployment owns: pids %s",
                        len(stray), stray)
        threads = [threading.Thread(target=self._restart, args=(deployment, missing),
                                    name=f"restore-{deployment.key}", daemon=True)
                   for deployment, missing in pending]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _restart(self, deployment: Deployment, missing: int) -> None:
        try:
            for _ in range(missing):
                server = self._runtime_start(deployment.specs[len(deployment.servers)])
                with self._lock:
                    deployment.servers.append(server)
            deployment.error = ""
            self._save()
        except Exception as error:
            deployment.error = str(error)
            log.warning("restarting %s failed: %s", deployment.key, error)
        finally:
            deployment.starting = False

    def kill_orphans(self, keep: set[str]) -> None:
        """Stop saved servers whose deployment no longer exists (e.g. undeployed meanwhile)."""
        for key, infos in self.saved().items():
            if key in keep:
                continue
            for info in infos:
                try:
                    server = self._runtime_adopt(info)
                    if server.alive():
                        server.stop(grace_s=2)
                except Exception as error:
                    log.warning("could not stop orphan %s: %s", key, error)

    def _supervise(self) -> None:
        while not self._stop.wait(self._check_interval_s):
            with self._lock:
                deployments = list(self._deployments.values())
            for deployment in deployments:
                try:
                    self._check(deployment)
                except Exception as error:  # supervision must survive any one failure
                    log.warning("supervising %s: %s", deployment.key, error)

    def _check(self, deployment: Deployment) -> None:
        if deployment.starting:
            return
        now = time.time()
        dead = [s for s in deployment.servers if not s.alive()]
        if dead:
            with self._lock:
                deployment.servers = [s for s in deployment.servers if s not in dead]
            deployment.restarts = [t for t in deployment.restarts if now - t < RESTART_WINDOW_S]
            if len(deployment.restarts) >= MAX_RESTARTS:
                deployment.error = (f"server exited {MAX_RESTARTS} times within "
                                    f"{RESTART_WINDOW_S:.0f}s; not restarting. Log tail:\n"
                                    + dead[0].log_tail(20))
                self._save()
                return
            deployment.restarts.append(now)
            log.warning("model server %s died; restarting", deployment.key)
            self.start_async(deployment, len(dead))
            return
        if (deployment.scale_to_zero and deployment.servers
                and now - deployment.last_request > deployment.idle_scaledown_s):
            with self._lock:
                servers, deployment.servers = deployment.servers, []
            for server in servers:
                server.stop(grace_s=5)
            self._save()

    def _save(self) -> None:
        with self._lock:
            data = {key: [s.info() | {"launch": getattr(s, "launch", "")} for s in d.servers]
                    for key, d in self._deployments.items()}
            write_private(self._path, json.dumps(data))
