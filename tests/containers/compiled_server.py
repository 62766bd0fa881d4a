"""A bundled container serving the session's compiled artifacts, one server per compile mode.

The flask, torchserve and tensorrt compiled-model tests start the same pair of servers
(AOTInductor package, torch.compile artifacts) and differ only in the container and its
settings, which live here so the three modules hold only their assertions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .compiled_model import CompiledArtifacts
from .serverproc import ServerProc, start

MODES = ("aoti", "compile")
READY_TIMEOUT_S = 240.0  # two servers compiling or loading at once on a 2-core machine


def container_env(container: str, built: CompiledArtifacts, work: Path) -> dict[str, str]:
    """What each container needs besides the artifacts: one torch thread (the packaging's,
    so the torch.compile cache matches), loopback, and where compiled state may be cached."""
    env = {"VXSERVE_CACHE_DIR": str(work / "cache"), "VXSERVE_TORCH_THREADS": "1"}
    if container == "flask":
        env.update(VXSERVE_HTTP_HOST="127.0.0.1", VXSERVE_COMPILE_CACHE_DIR=str(built.cache))
    elif container == "torchserve":
        env.update(VXSERVE_TS_READY_TIMEOUT_S="200",
                   VXSERVE_COMPILE_CACHE_DIR=str(built.cache))
    elif container == "tensorrt":
        # ONNX Runtime: the CPU backend, exported from the program packaged beside the AOTI.
        env.update(VXSERVE_TRT_CACHE_DIR=str(work / "trt-cache"),
                   VXSERVE_TRT_BACKEND="onnxruntime")
    else:
        raise ValueError(f"no compiled-model settings for container {container!r}")
    return env


@contextmanager
def compiled_servers(container: str, built: CompiledArtifacts,
                     work: Path) -> Iterator[dict[str, ServerProc]]:
    """`containers/<container>` on each compile mode's artifacts, both started at once and
    healthy on entry, stopped (whole process group) on exit; logs are `work/<mode>.log`."""
    env = container_env(container, built, work)
    running: dict[str, ServerProc] = {}
    try:
        for mode in MODES:
            running[mode] = start(container, {**env, "AIP_STORAGE_URI": str(built.form(mode))},
                                  work / f"{mode}.log")
        for server in running.values():
            server.wait_ready(timeout_s=READY_TIMEOUT_S)
        yield running
    finally:
        for server in running.values():
            server.terminate(group=True)
