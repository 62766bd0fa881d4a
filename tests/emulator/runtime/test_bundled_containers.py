"""The process runtime running the real bundled servers with the example model."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vxdeploy.emulator.runtime import ModelServerSpec, start_model_server
from vxdeploy.paths import containers_dir

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "examples" / "sentiment" / "artifacts" / "torchscript"
INSTANCES = REPO / "examples" / "sentiment" / "instances.json"

pytestmark = pytest.mark.slow


def _live_processes() -> dict[int, tuple[str, int]]:
    """pid -> (command name, parent pid) of every live (non-zombie) process."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            table[int(stat.parent.name)] = (text.split("(", 1)[1].rsplit(")", 1)[0],
                                            int(fields[1]))
    return table


def _listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp writes them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def _tree(root: int) -> dict[int, str]:
    """The live processes descended from `root` (itself included), by pid.

    Descendants, not the process group: TorchServe's front puts its JVM in a session of its
    own so that a group-wide SIGTERM drains requests instead of killing the JVM mid-batch.
    """
    table = _live_processes()
    members = {root} if root in table else set()
    grew = True
    while grew:
        found = {pid for pid, (_, parent) in table.items() if parent in members} - members
        members |= found
        grew = bool(found)
    return {pid: table[pid][0] for pid in members}


@pytest.mark.parametrize(
    ("container", "tree", "processes"), [("flask", "python", 1), ("torchserve", "java", 2)]
)
def test_bundled_server_serves_the_example_model(
    tmp_path: Path, container: str, tree: str, processes: int
) -> None:
    assert (containers_dir() / container / "container.toml").is_file(), \
        f"containers/{container}/container.toml is missing: the bundled server cannot start"
    if not (ARTIFACTS / "model.pt").is_file():  # make_model.py is idempotent and quick
        subprocess.run([sys.executable, str(REPO / "examples" / "sentiment" / "make_model.py")],
                       check=True, capture_output=True, timeout=300)
    spec = ModelServerSpec(
        key=f"1001/{container}",
        container=container,
        image_uri="",
        env={
            "AIP_STORAGE_URI": str(ARTIFACTS),
            "AIP_HEALTH_ROUTE": "/health",
            "AIP_PREDICT_ROUTE": "/predict",
            "AIP_DEPLOYED_MODEL_ID": "2002",
            "AIP_ENDPOINT_ID": "1001",
            "VXSERVE_TORCH_THREADS": "1",
            "VXSERVE_HTTP_THREADS": "4",
        },
        health_route="/health",
        predict_route="/predict",
        log_path=tmp_path / f"{container}.log",
        ready_timeout_s=120,
    )
    began = time.monotonic()
    server = start_model_server(spec)
    ready_s = time.monotonic() - began
    try:
        assert server.pid is not None
        # The whole tree belongs to the server (TorchServe's front and its JVM).
        members = _tree(server.pid)
        assert len(members) >= processes, members
        assert any(m.startswith(tree) for m in members.values()), members
        # Loopback only: 0100007F is 127.0.0.1; 00000000 (0.0.0.0) would take any address.
        port = int(server.base_url.rsplit(":", 1)[1])
        assert _listening_addresses(port) == {"0100007F"}
        body = INSTANCES.read_bytes()
        request = urllib.request.Request(
            server.base_url + "/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        assert len(answer["predictions"]) == len(json.loads(body)["instances"])
        print(f"{container} server healthy after {ready_s:.1f}s")
    finally:
        began = time.monotonic()
        server.stop(grace_s=15)
        print(f"{container} server stopped in {time.monotonic() - began:.1f}s")
    assert not server.alive()
    deadline = time.monotonic() + 10
    while set(members) & set(_live_processes()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not set(members) & set(_live_processes()), "processes outlived the server"
    # reaped, not a zombie
    assert not Path(f"/proc/{server.pid}").exists()
