"""The flask build context: Dockerfile, requirements, manifest and gunicorn settings."""

from __future__ import annotations

import importlib.util
import re
import tomllib

import pytest

from .server import CONTAINER


def _dockerfile() -> str:
    return (CONTAINER / "Dockerfile").read_text()


def test_dockerfile_takes_a_pinned_base_and_runs_unprivileged() -> None:
    text = _dockerfile()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    arg = next(line for line in lines if line.startswith("ARG BASE_IMAGE="))
    assert re.fullmatch(r"ARG BASE_IMAGE=[\w./-]+:[\w.-]+", arg)  # a tag, not "latest"
    assert not arg.endswith(":latest")
    assert "FROM ${BASE_IMAGE}" in lines
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] != "USER root"
    assert "EXPOSE 8080" in lines


def test_dockerfile_layers_dependencies_before_code_and_copies_vxserve() -> None:
    text = _dockerfile()
    install = text.index("pip install -r /app/requirements.txt")
    assert text.index("COPY requirements.txt") < install < text.index("COPY vxserve/")
    assert install < text.index("COPY app.py")


def test_dockerfile_labels_say_what_vxdeploy_reads() -> None:
    text = _dockerfile()
    for label in (
        'ai.vxdeploy.container="flask"',
        'ai.vxdeploy.predict-route="/predict"',
        'ai.vxdeploy.health-route="/health"',
    ):
        assert label in text


def test_requirements_leave_torch_to_the_base_image() -> None:
    names = [
        re.split(r"[=<>\[ ]", line.strip())[0].lower()
        for line in (CONTAINER / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "torch" not in names
    assert {"flask", "gunicorn", "prometheus-client", "google-cloud-storage"} <= set(names)
    assert (CONTAINER / ".dockerignore").is_file()


def test_manifest_runs_gunicorn_with_this_folders_config() -> None:
    spec = tomllib.loads((CONTAINER / "container.toml").read_text())
    assert spec["name"] == "flask"
    assert spec["process"]["command"][:3] == ["{python}", "-m", "gunicorn"]
    assert "{container}/gunicorn.conf.py" in spec["process"]["command"]
    assert spec["process"]["ready_timeout_s"] > 0


def _gunicorn_conf(monkeypatch: pytest.MonkeyPatch, **env: str):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location(
        "flask_gunicorn_conf", CONTAINER / "gunicorn.conf.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gunicorn_settings_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = _gunicorn_conf(
        monkeypatch, AIP_HTTP_PORT="7001", VXSERVE_HTTP_THREADS="12", VXSERVE_DRAIN_TIMEOUT_S="9"
    )
    assert conf.bind == ["0.0.0.0:7001"]
    assert (conf.workers, conf.worker_class, conf.threads) == (1, "gthread", 12)
    assert conf.graceful_timeout == 14  # the drain plus a margin
    assert conf.wsgi_app == "app:create_app()"


def test_gunicorn_refuses_a_bad_setting_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from vxserve.errors import ConfigError

    with pytest.raises(ConfigError, match="AIP_HTTP_PORT"):
        _gunicorn_conf(monkeypatch, AIP_HTTP_PORT="eighty")
