"""The emulator's tunables: read from the environment once, refused clearly when wrong."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vxdeploy.emulator.config import EmulatorConfig


def test_defaults_when_nothing_is_set():
    assert EmulatorConfig.from_env({}) == EmulatorConfig(
        inline_wait_s=2.0, operation_pending_s=0.0, max_replicas=1, ready_timeout_s=180.0)


def test_each_variable_overrides_its_default():
    config = EmulatorConfig.from_env({
        "VXDEPLOY_EMULATOR_INLINE_WAIT_S": "0.5", "VXDEPLOY_EMULATOR_OPERATION_PENDING_S": "1",
        "VXDEPLOY_EMULATOR_MAX_REPLICAS": "3", "VXDEPLOY_EMULATOR_READY_TIMEOUT_S": "30",
        "VXDEPLOY_EMULATOR_UNRELATED": "x"})
    assert config == EmulatorConfig(inline_wait_s=0.5, operation_pending_s=1.0, max_replicas=3,
                                    ready_timeout_s=30.0)


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("VXDEPLOY_EMULATOR_MAX_REPLICAS", "two", "a whole number >= 0"),
    ("VXDEPLOY_EMULATOR_MAX_REPLICAS", "1.5", "a whole number >= 0"),
    ("VXDEPLOY_EMULATOR_READY_TIMEOUT_S", "-1", "a number of seconds >= 0"),
])
def test_a_bad_value_names_the_variable_and_what_is_allowed(name, value, allowed):
    with pytest.raises(ValueError) as caught:
        EmulatorConfig.from_env({name: value})
    assert str(caught.value) == f"{name}={value!r} is not valid; allowed: {allowed}."


def test_the_server_reads_the_environment_and_arguments_win(tmp_path, monkeypatch):
    from vxdeploy.emulator.server import EmulatorServer

    monkeypatch.setenv("VXDEPLOY_EMULATOR_MAX_REPLICAS", "4")
    monkeypatch.setenv("VXDEPLOY_EMULATOR_READY_TIMEOUT_S", "12")
    server = EmulatorServer(tmp_path / "state", monitoring=False, ready_timeout_s=7)
    assert server.emu.config.max_replicas == 4
    assert server.emu.runtime.max_replicas == 4
    assert server.emu.runtime.ready_timeout_s == 7


def test_the_daemon_refuses_a_bad_value_without_a_traceback(tmp_path):
    env = dict(os.environ, VXDEPLOY_EMULATOR_MAX_REPLICAS="lots")
    result = subprocess.run(
        [sys.executable, "-m", "vxdeploy.emulator", "--state-dir", str(tmp_path / "state"),
         "--no-monitoring"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "VXDEPLOY_EMULATOR_MAX_REPLICAS='lots' is not valid; allowed: a whole number" \
        in result.stderr
    assert "Traceback" not in result.stderr
