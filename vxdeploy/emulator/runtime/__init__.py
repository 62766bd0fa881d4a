"""Model-server runtimes of the local emulator: start one replica as a process or container.

The emulator core calls `start_model_server(spec)` and routes predictions to the returned
handle's `base_url`; it never needs to know which runtime ran the server.
"""

from __future__ import annotations

from typing import Any

from vxdeploy.emulator.runtime.errors import DockerEngineUnavailableError, ModelServerStartError
from vxdeploy.emulator.runtime.server import RunningServer
from vxdeploy.emulator.runtime.spec import ModelServerSpec

__all__ = [
    "DockerEngineUnavailableError",
    "ModelServerSpec",
    "ModelServerStartError",
    "RunningServer",
    "adopt",
    "engine_problem",
    "start_model_server",
]


def engine_problem() -> str | None:
    """Why no Docker engine can run a model's container now; None when one answers."""
    from vxdeploy.emulator.runtime.docker_engine import engine_problem as problem

    return problem()


def start_model_server(spec: ModelServerSpec) -> RunningServer:
    """Start one model server and return once GET spec.health_route answers 200.

    Raises ModelServerStartError (with the server's log tail) when it exits or is not
    healthy within spec.ready_timeout_s; DockerEngineUnavailableError (a subclass) when
    the docker runtime finds no engine.
    """
    if spec.runtime == "docker":
        from vxdeploy.emulator.runtime.docker_engine import start_docker_server

        return start_docker_server(spec)
    from vxdeploy.emulator.runtime.process import start_process_server

    return start_process_server(spec)


def adopt(info: dict[str, Any]) -> RunningServer:
    """Rebuild a handle from `RunningServer.info()` saved by an earlier emulator process.

    Check `.alive()` on the result: the server may have died meanwhile.
    """
    runtime = info.get("runtime")
    if runtime == "process":
        from vxdeploy.emulator.runtime.process import adopt_process

        return adopt_process(info)
    if runtime == "docker":
        from vxdeploy.emulator.runtime.docker_engine import adopt_docker

        return adopt_docker(info)
    raise ValueError(f"cannot adopt a server with runtime {runtime!r}; allowed: process, docker")
