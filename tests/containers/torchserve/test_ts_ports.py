"""A port picked as free can be taken before the JVM binds it: the front starts again."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
import vxts.front as front_module
from vxts.front import Front
from vxts.properties import Ports, free_ports, pick_ports, taken_ports
from vxts.settings import TorchServeSettings

from ..serverproc import ensure_example_artifacts


def test_taken_ports_names_only_the_ports_someone_holds() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        a, b, c, d = free_ports(4)
        ports = Ports(inference=a, management=b, metrics=c, grpc_inference=held,
                      grpc_management=d)
        assert taken_ports(ports) == [held]
    assert taken_ports(ports) == []


@pytest.mark.slow
def test_jvm_that_lost_a_port_is_started_again_on_new_ports(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    artifacts = ensure_example_artifacts() / "torchscript"
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    stolen = holder.getsockname()[1]
    picks: list[Ports] = []

    def pick_with_a_stolen_port() -> Ports:
        ports = pick_ports()
        if not picks:  # the first JVM gets a gRPC port another process already holds
            ports = Ports(ports.inference, ports.management, ports.metrics, stolen,
                          ports.grpc_management)
        picks.append(ports)
        return ports

    monkeypatch.setattr(front_module, "pick_ports", pick_with_a_stolen_port)
    settings = TorchServeSettings.from_env({
        "AIP_STORAGE_URI": str(artifacts), "AIP_HTTP_PORT": "0",
        "VXSERVE_TS_WORK_DIR": str(tmp_path / "work"), "VXSERVE_TORCH_THREADS": "1",
        "VXSERVE_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})
    front = Front(settings)

    async def start_and_stop() -> str:
        await front.start()
        await front._start_task
        phase = front.phase
        await front.stop()
        return phase

    try:
        phase = asyncio.run(start_and_stop())
    finally:
        holder.close()
    assert phase == "ready", front.error
    assert len(picks) == 2
    assert picks[1].grpc_inference != stolen
