"""What the emulator asks a runtime to start: one model server replica."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vxdeploy.emulator.runtime.manifest import has_process_manifest

RUNTIMES = ("process", "docker")
CONTAINERS = ("flask", "torchserve", "tensorrt", "triton", "custom")


@dataclass
class ModelServerSpec:
    """One replica of a deployed model, described independently of how it is run.

    The same spec starts a bundled server as a local process or an image as a container,
    so the emulator's deploy code never branches on the runtime.
    """

    key: str  # unique: f"{endpoint_id}/{deployed_model_id}" (a replica suffix is fine)
    container: str  # "flask" | "torchserve" | "tensorrt" | "triton" | "custom"
    image_uri: str  # what the docker runtime runs (and the only way to run "custom")
    env: dict[str, str]  # full env incl. AIP_*; AIP_HTTP_PORT is filled by the runtime
    health_route: str
    predict_route: str
    log_path: Path  # where the server's stdout and stderr go
    container_port: int = 8080  # the port inside a docker container (bridge networking)
    runtime: str = "process"  # "process" | "docker"
    ready_timeout_s: float = 180
    # Where the bundled `containers/` live; None: $VXDEPLOY_CONTAINERS_DIR, else the bundled.
    containers_dir: Path | None = None
    # The Model's containerSpec.command and .args: the container's ENTRYPOINT and CMD when
    # run in Docker (with Vertex's $(VAR) expansion). Never run on the host: a bundled
    # server runs its manifest's command, and a "custom" container only ever runs in Docker.
    command: list[str] | None = None
    args: list[str] | None = None
    labels: dict[str, str] = field(default_factory=dict)  # extra docker labels

    def __post_init__(self) -> None:
        self.log_path = Path(self.log_path)
        if self.containers_dir is not None:
            self.containers_dir = Path(self.containers_dir)
        problems = []
        if self.runtime not in RUNTIMES:
            problems.append(f"runtime {self.runtime!r} is not one of {', '.join(RUNTIMES)}")
        if self.container not in CONTAINERS and not has_process_manifest(
            self.container, self.containers_dir
        ):
            problems.append(f"container {self.container!r} is not one of {', '.join(CONTAINERS)}")
        if self.container == "custom" and self.runtime != "docker":
            problems.append("a custom container runs only in Docker (runtime 'docker'): its "
                            "command is never run on the host")
        for name in ("health_route", "predict_route"):
            route = getattr(self, name)
            if not route.startswith("/"):
                problems.append(f"{name} {route!r} must start with '/'")
        if not self.key:
            problems.append("key must not be empty")
        if self.ready_timeout_s <= 0:
            problems.append(f"ready_timeout_s must be > 0, got {self.ready_timeout_s}")
        if problems:
            raise ValueError(f"invalid ModelServerSpec {self.key!r}: " + "; ".join(problems))
