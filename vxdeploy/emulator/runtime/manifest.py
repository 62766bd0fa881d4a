"""The bundled containers' `container.toml`: how to run a server without Docker."""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from vxdeploy.names import BUNDLED_CONTAINERS
from vxdeploy.paths import CONTAINERS_DIR_ENV
from vxdeploy.paths import containers_dir as bundled_containers_dir

# More folders of `<name>/container.toml` servers the process runtime may run, beside the
# bundled ones (os.pathsep-separated). Like CONTAINERS_DIR_ENV it is read from the
# emulator's own environment, which only the person running it controls: an API caller
# can name a server (label vxdeploy-container) but never supply its command.
SERVERS_PATH_ENV = "VXDEPLOY_EMULATOR_SERVERS_PATH"
BUNDLED = BUNDLED_CONTAINERS


def containers_dir(override: Path | None = None) -> Path:
    """`override`, else `$VXDEPLOY_CONTAINERS_DIR`, else the bundled `containers/`."""
    if override is not None:
        return Path(override)
    configured = os.environ.get(CONTAINERS_DIR_ENV)
    return Path(configured) if configured else bundled_containers_dir()


def _extra_dirs() -> list[Path]:
    return [Path(p) for p in os.environ.get(SERVERS_PATH_ENV, "").split(os.pathsep) if p]


def _manifest_base(container: str, root: Path | None) -> Path:
    """The folder whose `<container>/container.toml` describes `container`."""
    base = containers_dir(root)
    if container in BUNDLED or (base / container / "container.toml").is_file():
        return base
    for extra in _extra_dirs():
        if (extra / container / "container.toml").is_file():
            return extra
    return base


def has_process_manifest(container: str, root: Path | None = None) -> bool:
    """Whether `container` names a server this machine may run as a local process."""
    if container == "custom" or not container or "/" in container or container.startswith("."):
        return False
    return (_manifest_base(container, root) / container / "container.toml").is_file()


@dataclass(frozen=True)
class ProcessManifest:
    name: str
    folder: Path
    common: Path
    command: list[str]  # placeholders already expanded
    ready_timeout_s: float | None


def expand(command: list[str], *, folder: Path, common: Path) -> list[str]:
    values = {"python": sys.executable, "container": str(folder), "common": str(common)}
    try:
        return [part.format(**values) for part in command]
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"bad placeholder in command {command!r}: {exc}; "
            "allowed: {python}, {container}, {common}"
        ) from exc


def load_manifest(container: str, *, root: Path | None = None) -> ProcessManifest:
    """Read `<root>/<container>/container.toml` and expand its `[process] command`.

    Raises ValueError naming the file and field when the manifest is missing or wrong.
    """
    if container == "custom":
        raise ValueError("a custom container has no process manifest: it runs only in Docker")
    base = _manifest_base(container, root)
    folder = base / container
    common = containers_dir(root) / "common"
    path = folder / "container.toml"
    if not path.is_file():
        known = sorted(found.parent.name for found in base.glob("*/container.toml"))
        raise ValueError(
            f"no process manifest for container {container!r}: {path} does not exist "
            f"(containers with a manifest under {base}: {', '.join(known) or 'none'}; "
            f"set ${CONTAINERS_DIR_ENV} to use another folder)"
        )
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    process = data.get("process")
    raw = process.get("command") if isinstance(process, dict) else None
    if not (isinstance(raw, list) and raw and all(isinstance(p, str) for p in raw)):
        raise ValueError(f"{path}: [process] command must be a non-empty list of strings")
    timeout = process.get("ready_timeout_s") if isinstance(process, dict) else None
    if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
        raise ValueError(f"{path}: [process] ready_timeout_s must be a positive number")
    return ProcessManifest(
        name=str(data.get("name", container)),
        folder=folder,
        common=common,
        command=expand(raw, folder=folder, common=common),
        ready_timeout_s=float(timeout) if timeout is not None else None,
    )
