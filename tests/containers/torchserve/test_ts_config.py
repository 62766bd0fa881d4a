"""TorchServe settings and config.properties rendering, and the model archive (no JVM)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from vxserve.errors import ConfigError
from vxts.archive import build_archive
from vxts.process import Layout, java_command
from vxts.properties import Ports, free_ports, render_properties
from vxts.settings import TorchServeSettings

from ..serverproc import ensure_example_artifacts

PORTS = Ports(inference=7001, management=7002, metrics=7003, grpc_inference=7004,
              grpc_management=7005, worker=9100)


def props(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")]
    return {k: v for k, v in pairs}


def test_properties_follow_environment() -> None:
    env = {"AIP_HTTP_PORT": "8080", "VXSERVE_BATCH_SIZE": "16", "VXSERVE_BATCH_DELAY_MS": "7.4",
           "VXSERVE_TS_WORKERS": "3", "VXSERVE_MAX_QUEUE": "50", "VXSERVE_PREDICT_TIMEOUT_S": "20",
           "VXSERVE_MAX_BODY_BYTES": "1000000", "VXSERVE_TS_MODEL_NAME": "sentiment"}
    settings = TorchServeSettings.from_env(env)
    p = props(render_properties(settings, PORTS, Path("/srv/store")))
    assert p["inference_address"] == "http://127.0.0.1:7001"
    assert p["management_address"] == "http://127.0.0.1:7002"
    assert p["metrics_address"] == "http://127.0.0.1:7003"
    assert (p["grpc_inference_port"], p["grpc_management_port"]) == ("7004", "7005")
    assert p["grpc_inference_address"] == p["grpc_management_address"] == "127.0.0.1"
    assert p["disable_token_authorization"] == "true"
    assert p["enable_model_api"] == "false"
    assert p["model_store"] == "/srv/store"
    assert p["load_models"] == "sentiment"
    assert p["job_queue_size"] == "50"
    assert int(p["max_request_size"]) >= 1_000_000
    # A bundle's answer holds up to VXSERVE_BATCH_SIZE answers.
    assert int(p["max_response_size"]) >= 16 * int(p["max_request_size"])
    model = json.loads(p["models"])["sentiment"]["1.0"]
    # A vxserve handler: the front batches (vxts.bundling), TorchServe runs batches of one.
    assert settings.front_batches
    assert model["batchSize"] == 1
    assert model["maxBatchDelay"] == 0
    assert model["minWorkers"] == model["maxWorkers"] == 3
    assert model["responseTimeout"] == 20
    # A stock handler: TorchServe batches, as the settings say.
    stock = dataclasses.replace(settings, stock=True)
    model = json.loads(props(render_properties(stock, PORTS, Path("/s")))["models"])
    assert model["sentiment"]["1.0"]["batchSize"] == 16
    assert model["sentiment"]["1.0"]["maxBatchDelay"] == 7


def test_batching_off_means_batches_of_one() -> None:
    settings = TorchServeSettings.from_env({"VXSERVE_BATCHING": "off", "VXSERVE_BATCH_SIZE": "64"})
    model = json.loads(props(render_properties(settings, PORTS, Path("/s")))["models"])
    assert model["model"]["1.0"]["batchSize"] == 1
    assert model["model"]["1.0"]["maxBatchDelay"] == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VXSERVE_TS_WORKERS": "0"}, "VXSERVE_TS_WORKERS=0 must be >= 1"),
        ({"VXSERVE_TS_WORKERS": "two"}, "VXSERVE_TS_WORKERS='two' is not an integer"),
        ({"VXSERVE_TS_MODEL_NAME": "a/b"}, "VXSERVE_TS_MODEL_NAME='a/b' must be"),
        ({"VXSERVE_TS_READY_TIMEOUT_S": "soon"}, "VXSERVE_TS_READY_TIMEOUT_S='soon'"),
        ({"VXSERVE_BATCHING": "maybe"}, "VXSERVE_BATCHING='maybe' is not one of: on, off, auto"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        TorchServeSettings.from_env(env)
    assert message in str(info.value)


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5 and all(p > 0 for p in ports)


def test_java_command_keeps_temp_and_logs_private(tmp_path: Path) -> None:
    env = {"VXSERVE_TS_JAVA": "/opt/java", "VXSERVE_TS_VMARGS": "-Xmx1g"}
    settings = TorchServeSettings.from_env(env)
    layout = Layout(tmp_path)
    cmd = java_command(settings, layout)
    assert cmd[0] == "/opt/java"
    assert f"-Djava.io.tmpdir={tmp_path / 'tmp'}" in cmd
    assert "-Xmx1g" in cmd
    assert cmd[cmd.index("-f") + 1] == str(tmp_path / "config.properties")
    assert cmd[cmd.index("-s") + 1] == str(tmp_path / "model_store")
    assert "-ncs" in cmd  # no config snapshots written into the work dir


def test_archive_holds_entry_and_artifacts(tmp_path: Path) -> None:
    source = ensure_example_artifacts() / "torchscript"
    target = build_archive(source, tmp_path / "store", "sentiment", tmp_path / "scratch")
    manifest = json.loads((target / "MAR-INF" / "MANIFEST.json").read_text())
    assert manifest["model"]["modelName"] == "sentiment"
    assert manifest["model"]["handler"] == "vxts_entry.py"
    for name in ("vxts_entry.py", "model.pt", "vxserve.json", "index_to_name.json"):
        assert (target / name).is_file(), name
    # The archiver stages in the private scratch folder, not in a shared /tmp/<model name>.
    assert (tmp_path / "scratch").is_dir()


def test_workers_default_to_vxserve_model_workers_on_cpu(monkeypatch) -> None:
    """One TorchServe worker left a core idle under load; VXSERVE_TS_WORKERS still wins."""
    from vxserve import config as cfg

    monkeypatch.setattr(cfg, "cpu_count", lambda: 4)
    cpu = {"VXSERVE_DEVICE": "cpu"}
    assert TorchServeSettings.from_env({**cpu, "VXSERVE_TORCH_THREADS": "1"}).workers == 4
    assert TorchServeSettings.from_env({**cpu, "VXSERVE_TORCH_THREADS": "2"}).workers == 2
    assert TorchServeSettings.from_env(cpu).workers == 1  # torch's default threads: all cores
    assert TorchServeSettings.from_env({**cpu, "VXSERVE_TS_WORKERS": "3"}).workers == 3
    gpu = {"VXSERVE_DEVICE": "cuda", "VXSERVE_TORCH_THREADS": "1"}
    assert TorchServeSettings.from_env(gpu).workers == 1


def test_torchserve_never_holds_a_vxserve_request_for_a_batch_window() -> None:
    """TorchServe waits the whole maxBatchDelay after a lone request: 5 ms halved c=1
    throughput, 1 ms still cost a tenth against stock TorchServe. Where the front batches,
    TorchServe gets batches of one and no delay; a stock handler keeps TorchServe's
    batching (1 ms unless VXSERVE_BATCH_DELAY_MS says otherwise)."""
    for env in ({}, {"VXSERVE_BATCH_DELAY_MS": "7"}):
        settings = TorchServeSettings.from_env(env)
        assert settings.front_batches
        assert (settings.torchserve_batch_size, settings.max_batch_delay_ms) == (1, 0)
    def stock(env: dict[str, str]) -> TorchServeSettings:
        return dataclasses.replace(TorchServeSettings.from_env(env), stock=True)

    assert stock({"VXSERVE_BATCH_SIZE": "8"}).max_batch_delay_ms == 1
    assert stock({"VXSERVE_BATCH_SIZE": "8", "VXSERVE_BATCH_DELAY_MS": "7"}).max_batch_delay_ms == 7
    off = TorchServeSettings.from_env({"VXSERVE_BATCHING": "off", "VXSERVE_BATCH_DELAY_MS": "7"})
    assert not off.front_batches
    assert (off.torchserve_batch_size, off.max_batch_delay_ms) == (1, 0)
