"""Where the bundled files live, in a source checkout and in an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

# A folder of containers/<name> to use instead of the bundled one (build and emulator).
CONTAINERS_DIR_ENV = "VXDEPLOY_CONTAINERS_DIR"

PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = PACKAGE_DIR / "_bundled"
_REPO = PACKAGE_DIR.parent


def _bundled(name: str) -> Path:
    installed = _BUNDLED / name
    return installed if installed.is_dir() else _REPO / name


def containers_dir() -> Path:
    """The bundled serving-container build contexts (`containers/`)."""
    return _bundled("containers")


def example_profiles_dir() -> Path:
    return _bundled("profiles")


def default_profiles_dir() -> Path:
    """`$VXDEPLOY_PROFILES_DIR`, else `./profiles` when it exists, else the bundled examples."""
    configured = os.environ.get("VXDEPLOY_PROFILES_DIR")
    if configured:
        return Path(configured)
    local = Path.cwd() / "profiles"
    return local if local.is_dir() else example_profiles_dir()


def state_home() -> Path:
    """Per-user state (the local emulator's state directory lives below it)."""
    configured = os.environ.get("VXDEPLOY_HOME")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vxdeploy"
