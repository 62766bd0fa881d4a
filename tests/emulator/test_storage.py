"""The local Cloud Storage emulator: real google-cloud-storage clients against it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, gcs_client
from vxdeploy.emulator.storage import INFO_FILE, StorageEmulator, ready, running_url


def test_client_round_trip_with_resumable_upload(gcs: StorageEmulator, tmp_path: Path) -> None:
    client = gcs_client()
    bucket = client.create_bucket("artifacts")
    payload = os.urandom(9 * 1024 * 1024)  # over 8 MiB: the client uses a resumable upload
    source = tmp_path / "weights.bin"
    source.write_bytes(payload)
    bucket.blob("m/weights.bin").upload_from_filename(str(source))
    bucket.blob("m/labels.json").upload_from_string(b'["a"]')
    names = sorted(blob.name for blob in client.list_blobs("artifacts", prefix="m/"))
    assert names == ["m/labels.json", "m/weights.bin"]
    assert bucket.blob("m/weights.bin").download_as_bytes() == payload
    assert gcs.url.startswith("http://127.0.0.1:")


def test_objects_survive_a_restart_and_info_file_follows_the_server(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with StorageEmulator(state) as server:
        os.environ["STORAGE_EMULATOR_HOST"] = server.url
        try:
            gcs_client().create_bucket("keep").blob("x").upload_from_string(b"1")
        finally:
            del os.environ["STORAGE_EMULATOR_HOST"]
        assert running_url(state) == server.url
    assert not (state / INFO_FILE).exists()
    assert not ready(server.url)
    with StorageEmulator(state) as again:
        os.environ["STORAGE_EMULATOR_HOST"] = again.url
        try:
            assert gcs_client().bucket("keep").blob("x").download_as_bytes() == b"1"
        finally:
            del os.environ["STORAGE_EMULATOR_HOST"]


def test_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """SIGKILL of the starter (the emulator daemon) must not orphan the storage server."""
    script = (
        "import sys, time; from pathlib import Path\n"
        "from vxdeploy.emulator.storage import StorageEmulator\n"
        f"s = StorageEmulator(Path({str(tmp_path)!r})).start()\n"
        "print(s.pid, s.url, flush=True); time.sleep(60)\n"
    )
    starter = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert starter.stdout is not None
    pid_text, url = starter.stdout.readline().decode().split()
    assert ready(url)
    starter.send_signal(signal.SIGKILL)
    starter.wait()

    def running() -> bool:
        try:
            stat = Path(f"/proc/{pid_text}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and running():
        time.sleep(0.05)
    assert not running()
    assert not ready(url)


def test_local_up_runs_storage_beside_the_emulator_and_status_shows_it(tmp_path: Path) -> None:
    import json

    state = tmp_path / "state"
    env = dict(os.environ, VXDEPLOY_EMULATOR_STATE_DIR=str(state), PYTHONPATH=str(REPO))

    def cli(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "vxdeploy", *args, "-o", "json"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    up = cli("local", "up")
    try:
        url = up["storage_url"]
        assert url.startswith("http://127.0.0.1:") and ready(url)
        status = cli("local", "status")
        assert status["storage_url"] == url
        # A model server the daemon starts reads that storage with no credentials.
        from tests.emulator.conftest import create_endpoint, deploy, echo_model, make_clients
        from tests.emulator.conftest import upload as upload_model

        v1 = make_clients(up["rest_url"])
        model = upload_model(v1, echo_model(v1.types)).model
        deploy(v1, create_endpoint(v1, "gcsenv").name, model)
        (server,) = cli("local", "status")["servers"]
        pid = server["replicas"][0]["pid"]
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        assert f"STORAGE_EMULATOR_HOST={url}".encode() in environ
    finally:
        cli("local", "down")
    assert not ready(url)
    assert cli("local", "status")["storage_url"] is None
