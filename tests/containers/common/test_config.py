"""ServeConfig: AIP_* and VXSERVE_* in, validated settings out, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest
from vxserve.config import ServeConfig
from vxserve.errors import ConfigError


def test_defaults_match_the_vertex_contract_when_nothing_is_set() -> None:
    config = ServeConfig.from_env({})
    assert (config.http_port, config.health_route, config.predict_route) == (
        8080,
        "/health",
        "/predict",
    )
    assert config.batching == "auto" and config.device == "auto" and config.warmup


def test_reads_what_vertex_sets_and_the_vxserve_knobs() -> None:
    config = ServeConfig.from_env(
        {
            "AIP_HTTP_PORT": "7080",
            "AIP_HEALTH_ROUTE": "/v1/health",
            "AIP_PREDICT_ROUTE": "/v1/models/m:predict",
            "AIP_STORAGE_URI": "gs://bucket/model",
            "AIP_DEPLOYED_MODEL_ID": "123",
            "VXSERVE_BATCHING": "OFF",
            "VXSERVE_BATCH_SIZE": "16",
            "VXSERVE_BATCH_DELAY_MS": "2.5",
            "VXSERVE_MAX_QUEUE": "9",
            "VXSERVE_MAX_BODY_BYTES": "1000",
            "VXSERVE_DEVICE": "cuda:1",
            "VXSERVE_AUTOCAST": "bf16",
            "VXSERVE_CACHE_DIR": "/var/cache/x",
            "VXSERVE_WARMUP": "off",
        }
    )
    assert config.http_port == 7080
    assert config.predict_route == "/v1/models/m:predict"
    assert config.storage_uri == "gs://bucket/model"
    assert config.model_name == "123"
    assert config.batching == "off" and config.batch_size == 16 and config.batch_delay_ms == 2.5
    assert config.max_queue == 9 and config.max_body_bytes == 1000
    assert config.device == "cuda:1" and config.autocast == "bf16"
    assert config.cache_dir == Path("/var/cache/x") and not config.warmup


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("VXSERVE_BATCHING", "maybe", "on, off, auto"),
        ("VXSERVE_AUTOCAST", "fp8", "off, bf16, fp16"),
        ("VXSERVE_DEVICE", "tpu", "auto, cpu, cuda, cuda:N"),
        ("AIP_HTTP_PORT", "http", "not an integer"),
        ("AIP_HTTP_PORT", "70000", "<= 65535"),
        ("VXSERVE_BATCH_SIZE", "0", ">= 1"),
        ("VXSERVE_BATCH_DELAY_MS", "-1", ">= 0"),
        ("VXSERVE_MAX_BODY_BYTES", "1e6", "not an integer"),
        ("AIP_PREDICT_ROUTE", "predict", "starting with '/'"),
        ("VXSERVE_WARMUP", "yes", "on, off"),
    ],
)
def test_bad_values_name_the_variable_and_what_is_allowed(
    name: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        ServeConfig.from_env({name: value})
    assert name in str(err.value) and expected in str(err.value)


def test_model_workers_fill_the_cores_with_the_torch_threads(monkeypatch) -> None:
    from vxserve import config as cfg

    monkeypatch.setattr(cfg, "cpu_count", lambda: 4)
    assert cfg.model_workers(ServeConfig.from_env({"VXSERVE_TORCH_THREADS": "1"})) == 4
    assert cfg.model_workers(ServeConfig.from_env({"VXSERVE_TORCH_THREADS": "2"})) == 2
    assert cfg.model_workers(ServeConfig.from_env({"VXSERVE_TORCH_THREADS": "8"})) == 1
    assert cfg.model_workers(ServeConfig.from_env({})) == 1  # torch's default: every core
    one_thread = ServeConfig.from_env({"VXSERVE_TORCH_THREADS": "1"})
    assert cfg.model_workers(one_thread, "cuda") == 1
    assert cfg.model_workers(ServeConfig.from_env({"VXSERVE_MODEL_WORKERS": "3"}), "cuda") == 3
