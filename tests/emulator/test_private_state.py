"""The state directory is private: 0700 folders and 0600 files, whatever the umask.

state.json keeps each Model's `env`, where people put tokens; the logs hold what model code
printed. Another user of the machine must not read either.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.emulator.conftest import create_endpoint, deploy, echo_model, upload


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_folder_and_files_are_owner_only(tmp_path: Path):
    from tests.emulator.conftest import make_clients
    from vxdeploy.emulator.server import EmulatorServer

    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)  # a folder left world-readable by an older version is tightened
    previous = os.umask(0o022)
    try:
        server = EmulatorServer(state, seed=3, ready_timeout_s=60).start()
        try:
            v1 = make_clients(server.rest_url, "v1")
            model = upload(v1, echo_model(v1.types, extra_env={"API_TOKEN": "s3cret"})).model
            endpoint = create_endpoint(v1, "private")
            deploy(v1, endpoint.name, model)
            v1.predictions.predict(endpoint=endpoint.name, instances=[1])
        finally:
            server.stop()
    finally:
        os.umask(previous)

    assert "s3cret" in (state / "state.json").read_text()  # what is at stake
    folders = [state, *[p for p in state.rglob("*") if p.is_dir()]]
    files = [p for p in state.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"state.json", "servers.json"}
    assert any(p.suffix == ".log" for p in files), sorted(p.name for p in files)
    assert {str(p.relative_to(state)): oct(_mode(p)) for p in folders if _mode(p) != 0o700} == {}
    assert {str(p.relative_to(state)): oct(_mode(p)) for p in files if _mode(p) & 0o077} == {}
