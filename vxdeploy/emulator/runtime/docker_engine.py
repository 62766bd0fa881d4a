"""Run a model image in a Docker engine, as Vertex would run the container."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Any

from vxdeploy.emulator.constants import LOOPBACK_HOST, STORAGE_ENV
from vxdeploy.emulator.ownership import LAUNCH_ENV, OWNER_ENV
from vxdeploy.emulator.private_files import private_dir
from vxdeploy.emulator.runtime.errors import DockerEngineUnavailableError, ModelServerStartError
from vxdeploy.emulator.runtime.expansion import expand_all
from vxdeploy.emulator.runtime.logs import tail
from vxdeploy.emulator.runtime.net import free_port, wait_healthy
from vxdeploy.emulator.runtime.server import RunningServer
from vxdeploy.emulator.runtime.spec import ModelServerSpec

log = logging.getLogger(__name__)

HOST = LOOPBACK_HOST
NETWORK_ENV = "VXDEPLOY_DOCKER_NETWORK"  # "host" | "bridge"; default: what the engine has
LABEL = "vxdeploy"
KEY_LABEL = "vxdeploy.key"
_CONNECT_TIMEOUT_S = 10
_API_TIMEOUT_S = 600


def docker_client() -> Any:
    """A client for the engine DOCKER_HOST (or the default socket) names, checked by a ping."""
    import docker

    try:
        client = docker.from_env(timeout=_CONNECT_TIMEOUT_S)
        client.ping()
    except Exception as exc:  # DockerException, or requests' errors on odd DOCKER_HOST values
        where = os.environ.get("DOCKER_HOST") or "the default socket unix:///var/run/docker.sock"
        raise DockerEngineUnavailableError(f"{where}: {exc}") from exc
    client.api.timeout = _API_TIMEOUT_S  # pulls and a long stop grace outlast a ping
    return client


def engine_problem(timeout_s: float = 3.0) -> str | None:
    """Why no Docker engine can run a container now, or None when one answers a ping."""
    import docker

    try:
        client = docker.from_env(timeout=timeout_s)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # DockerException, or requests' errors on odd DOCKER_HOST values
        where = os.environ.get("DOCKER_HOST") or "the default socket unix:///var/run/docker.sock"
        return f"{where}: {exc}"
    return None


def _ensure_image(client: Any, spec: ModelServerSpec) -> None:
    """Pull the image only when the engine lacks it, with an error that says which."""
    import docker

    try:
        client.images.get(spec.image_uri)
        return
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(spec.image_uri)
    except docker.errors.DockerException as exc:
        raise ModelServerStartError(
            f"model server {spec.key!r}: image {spec.image_uri!r} is not in the engine "
            f"and pulling it failed: {exc}",
            hint="build it first (`vxdeploy build`), or push it where this engine can pull it",
        ) from exc


def _use_host_network(client: Any) -> bool:
    """Host networking where the engine has no usable bridge (dockerd --bridge=none)."""
    configured = os.environ.get(NETWORK_ENV, "").strip().lower()
    if configured in ("host", "bridge"):
        return configured == "host"
    if configured:
        raise ModelServerStartError(f"{NETWORK_ENV}={configured!r}: allowed values: host, bridge")
    return not client.networks.list(names=["bridge"])


def _artifact_mounts(env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Bind a local AIP_STORAGE_URI (a path or file:// URI) read-only at the same path.

    On Vertex the container downloads gs:// artifacts itself; the emulator hands it a
    folder on this machine instead, which a container can only read when it is mounted.
    """
    uri = env.get("AIP_STORAGE_URI", "")
    path = uri.removeprefix("file://") if uri.startswith(("file://", "/")) else ""
    if not path or not Path(path).exists():
        return {}
    return {path: {"bind": path, "mode": "ro"}}


PROCESS_MARKERS = frozenset({OWNER_ENV, LAUNCH_ENV})


def container_environment(spec: ModelServerSpec, port: int) -> dict[str, str]:
    """Exactly what Vertex gives the container: the AIP_* variables and the Model's env.

    Plus STORAGE_EMULATOR_HOST where the local Cloud Storage runs, so gs:// artifacts
    resolve with no credentials. Nothing of the emulator's own environment.
    """
    # The process-tree markers (ownership.py) find host processes; a container is found by
    # its labels, and its environment stays exactly Vertex's.
    env = {key: value for key, value in spec.env.items() if key not in PROCESS_MARKERS}
    env.setdefault("AIP_HEALTH_ROUTE", spec.health_route)
    env.setdefault("AIP_PREDICT_ROUTE", spec.predict_route)
    env["AIP_HTTP_PORT"] = str(port)
    if not env.get("AIP_ACCELERATOR_TYPE"):
        env.pop("AIP_ACCELERATOR_TYPE", None)  # Vertex leaves it unset without an accelerator
    storage = os.environ.get(STORAGE_ENV)
    if storage and STORAGE_ENV not in env:
        env[STORAGE_ENV] = storage
    return env


def _container_name(key: str) -> str:
    safe = re.sub(r"[^a-zA-Z0-9_.-]+", "-", key).strip("-.") or "server"
    return f"vxdeploy-{safe}-{uuid.uuid4().hex[:6]}"


def _stream_logs(container: Any, log_path: Path) -> threading.Thread:
    def pump() -> None:
        try:
            with open(log_path, "ab") as log:
                for chunk in container.logs(stream=True, follow=True):
                    log.write(chunk)
                    log.flush()
        except Exception:  # the container went away; the log ends here
            return

    thread = threading.Thread(target=pump, name=f"logs-{container.id[:12]}", daemon=True)
    thread.start()
    return thread


class DockerServer(RunningServer):
    """A container labelled with vxdeploy and its key; stop() removes it."""

    runtime = "docker"

    def __init__(self, *, key: str, base_url: str, log_path: Path, container: Any):
        super().__init__(key=key, base_url=base_url, log_path=log_path)
        self._container = container
        self.container_id = container.id

    def status(self) -> str:
        import docker

        try:
            self._container.reload()
        except docker.errors.NotFound:
            return "removed"
        except docker.errors.DockerException:
            return "unknown"
        return str(self._container.status)

    def alive(self) -> bool:
        return self.status() == "running"

    def log_tail(self, lines: int = 50) -> str:
        text = tail(self.log_path, lines)
        if text:
            return text
        try:  # the pump thread may not have written yet
            return str(self._container.logs(tail=lines).decode("utf-8", errors="replace"))
        except Exception:  # container gone: nothing more to show
            return ""

    def stop(self, grace_s: float = 10) -> None:
        import docker

        try:
            self._container.stop(timeout=max(0, math.ceil(grace_s)))
        except docker.errors.NotFound:
            return
        except Exception as exc:  # already stopping, or the engine was slow: force it below
            log.debug("docker stop %s: %s", self.container_id, exc)
        with contextlib.suppress(docker.errors.NotFound):
            self._container.remove(force=True)


def start_docker_server(spec: ModelServerSpec) -> DockerServer:
    """Run spec.image_uri and block until its health route answers 200 on loopback."""
    import docker

    if not spec.image_uri:
        raise ModelServerStartError(f"model server {spec.key!r}: image_uri is empty")
    client = docker_client()
    host_network = _use_host_network(client)
    host_port = free_port(HOST)
    env = container_environment(spec, host_port if host_network else spec.container_port)
    options: dict[str, Any] = {}
    if host_network:
        options["network_mode"] = "host"
        if spec.container != "custom":
            # Sharing the host's network, a bundled server must listen on loopback only
            # (its own knob); a user's image binds what it binds: see docs/emulator.md.
            env["VXSERVE_HTTP_HOST"] = HOST
    else:
        options["ports"] = {f"{spec.container_port}/tcp": (HOST, host_port)}
    # Vertex: `command` replaces the image's ENTRYPOINT, `args` its CMD, both expanded.
    entrypoint = expand_all(spec.command, env)
    if entrypoint is not None:
        options["entrypoint"] = entrypoint
    args = expand_all(spec.args, env)
    if args is not None:
        options["command"] = args
    mounts = _artifact_mounts(env)
    if mounts:
        options["volumes"] = mounts
    private_dir(spec.log_path.parent)
    _ensure_image(client, spec)
    try:
        container = client.containers.run(
            spec.image_uri,
            detach=True,
            name=_container_name(spec.key),
            environment=env,
            labels={**spec.labels, LABEL: "true", KEY_LABEL: spec.key},
            **options,
        )
    except docker.errors.DockerException as exc:
        raise ModelServerStartError(
            f"model server {spec.key!r}: docker run {spec.image_uri!r} failed: {exc}"
        ) from exc
    _stream_logs(container, spec.log_path)
    server = DockerServer(
        key=spec.key,
        base_url=f"http://{HOST}:{host_port}",
        log_path=spec.log_path,
        container=container,
    )

    def exited() -> str | None:
        status = server.status()
        if status in ("exited", "dead", "removed"):
            return f"the container {status}"
        return None

    healthy, reason = wait_healthy(
        HOST, host_port, spec.health_route, deadline_s=spec.ready_timeout_s, exited=exited
    )
    if healthy:
        return server
    log = server.log_tail(50)
    server.stop(grace_s=2)
    raise ModelServerStartError(
        f"model server {spec.key!r} ({spec.image_uri}) did not start: {reason}", log_tail=log
    )


def adopt_docker(info: dict[str, Any]) -> DockerServer:
    import docker

    client = docker_client()
    try:
        container = client.containers.get(info["container_id"])
    except docker.errors.NotFound as exc:
        raise ModelServerStartError(
            f"model server {info['key']!r}: container {info['container_id']} is gone"
        ) from exc
    return DockerServer(
        key=info["key"],
        base_url=info["base_url"],
        log_path=Path(info["log_path"]),
        container=container,
    )
