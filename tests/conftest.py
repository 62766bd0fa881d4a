"""Suite-wide fixtures: an isolated environment so a developer's VXDEPLOY_* never leaks in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROFILES = REPO / "profiles"
TEST_SERVERS = REPO / "tests" / "emulator" / "servers"
SERVERS_PATH_ENV = "VXDEPLOY_EMULATOR_SERVERS_PATH"  # vxdeploy.emulator.runtime.manifest


@pytest.fixture(autouse=True)
def _clean_vxdeploy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("VXDEPLOY_") and not key.startswith("VXDEPLOY_TEST_") and \
                key not in ("VXDEPLOY_HOME", "VXDEPLOY_EMULATOR_STATE_DIR", SERVERS_PATH_ENV):
            monkeypatch.delenv(key, raising=False)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True, scope="session")
def _test_servers() -> None:
    """Let an emulator run the test echo server (label vxdeploy-container=echo) as a process.

    Session-wide and kept by `_clean_vxdeploy_env`: module-scoped emulators in CLI and rollout
    tests deploy echo models before any function-scoped fixture runs.
    """
    os.environ[SERVERS_PATH_ENV] = str(TEST_SERVERS)


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


SENTIMENT_ARTIFACTS = REPO / "examples" / "sentiment" / "artifacts"


@pytest.fixture(scope="module")
def local_vertex(tmp_path_factory: pytest.TempPathFactory):
    """An in-process local Vertex emulator that `target = "local"` profiles will find.

    Module-scoped because every deployment starts a real model server; tests keep apart by
    using their own endpoint names.
    """
    from vxdeploy.emulator.server import EmulatorServer

    if not (SENTIMENT_ARTIFACTS / "torchscript").is_dir():
        pytest.fail("example model missing: run `make example` (examples/sentiment/make_model.py)")
    state = tmp_path_factory.mktemp("emulator")
    server = EmulatorServer(state, seed=11, ready_timeout_s=120).start()
    previous = os.environ.get("VXDEPLOY_EMULATOR_STATE_DIR")
    os.environ["VXDEPLOY_EMULATOR_STATE_DIR"] = str(state)
    yield server
    server.stop()
    if previous is None:
        os.environ.pop("VXDEPLOY_EMULATOR_STATE_DIR", None)
    else:
        os.environ["VXDEPLOY_EMULATOR_STATE_DIR"] = previous


@pytest.fixture(scope="session")
def compiled_artifacts(tmp_path_factory: pytest.TempPathFactory):
    """The tiny classifier as an AOTInductor package and as torch.compile artifacts (with
    the compile cache packaging filled), made once per session: packaging runs a C++
    compiler for tens of seconds. Session-wide and here, not in tests/containers, because
    the `vxdeploy package` CLI test checks the report of the command that made them.
    Read-only for tests: copy a folder before changing it.
    """
    from tests.containers.compiled_model import build_compiled

    return build_compiled(tmp_path_factory.mktemp("compiled-artifacts"))


@pytest.fixture
def gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A local Cloud Storage emulator (fake-gcs-server on 127.0.0.1), with
    STORAGE_EMULATOR_HOST pointing at it for this test: google-cloud-storage clients,
    the emulator and the model servers it starts all read and write there. Starts in ~20 ms.
    """
    from vxdeploy.emulator.storage import ENV, StorageEmulator

    with StorageEmulator(tmp_path / "gcs-state") as server:
        monkeypatch.setenv(ENV, server.url)
        yield server


def gcs_client():
    """A google-cloud-storage client for the emulator named by STORAGE_EMULATOR_HOST."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="test-project", credentials=AnonymousCredentials())
