"""Suite-wide fixtures: an isolated environment so a developer's VXDEPLOY_* never leaks in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROFILES = REPO / "profiles"


@pytest.fixture(autouse=True)
def _clean_vxdeploy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("VXDEPLOY_") and key not in ("VXDEPLOY_TEST_DOCKER_HOST",
                                                       "VXDEPLOY_HOME"):
            monkeypatch.delenv(key, raising=False)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    """An empty profiles folder for tests that write their own profiles."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    return folder


@pytest.fixture
def write_profile(profiles_dir: Path):
    def write(name: str, text: str) -> Path:
        path = profiles_dir / f"{name}.toml"
        path.write_text(text)
        return path

    return write
