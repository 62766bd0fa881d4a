"""Run a bundled server as a local process group, the way its container would run it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from vxdeploy.emulator.constants import LOOPBACK_HOST
from vxdeploy.emulator.private_files import open_private_log
from vxdeploy.emulator.runtime.errors import ModelServerStartError
from vxdeploy.emulator.runtime.logs import tail
from vxdeploy.emulator.runtime.manifest import load_manifest
from vxdeploy.emulator.runtime.net import free_port, wait_healthy
from vxdeploy.emulator.runtime.server import RunningServer
from vxdeploy.emulator.runtime.spec import ModelServerSpec

HOST = LOOPBACK_HOST
_PORT_ATTEMPTS = 3  # free_port() races other processes; a lost race is retried


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid`: tells our server from a later one reusing the pid."""
    fields = _stat(pid)
    return fields[19] if fields else None  # field 22 of stat, counted after the name


def _group_exists(pgid: int) -> bool:
    """Whether any live (non-zombie) process is in group `pgid`.

    Zombies count as members for killpg(pgid, 0), and an adopted server's leader may be a
    zombie nobody reaps yet, so /proc is read where it exists.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


class ProcessServer(RunningServer):
    """A server started in its own session, so its tree (gunicorn workers, model workers)
    shares one process group that stop() signals. TorchServe's front keeps its JVM in a
    session of its own and stops it itself after draining (the JVM also dies with it)."""

    runtime = "process"

    def __init__(
        self,
        *,
        key: str,
        base_url: str,
        log_path: Path,
        pid: int,
        popen: subprocess.Popen[bytes] | None = None,
        start_time: str | None = None,
    ):
        super().__init__(key=key, base_url=base_url, log_path=log_path)
        self.pid: int = pid
        self._popen = popen
        self._start_time = start_time if start_time is not None else _start_time(pid)

    def _leader_alive(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        fields = _stat(self.pid)  # adopted: not our child, so check identity instead
        return fields is not None and fields[19] == self._start_time and fields[0] != "Z"

    def _group_is_ours(self) -> bool:
        """Whether group `pid` may still hold our processes.

        The kernel never hands out a pid still in use as a process-group id, so while the
        leader is gone any members left in the group are ours (orphaned workers); a live
        process with that pid but another start time means the group ended and the pid was
        reused: signalling it would hit a stranger.
        """
        if self._popen is not None:
            return True
        current = _start_time(self.pid)
        return current is None or current == self._start_time

    def alive(self) -> bool:
        return self._leader_alive()

    def exit_code(self) -> int | None:
        return self._popen.poll() if self._popen is not None else None

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._group_is_ours():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def _group_gone(self) -> bool:
        if self._popen is not None:
            self._popen.poll()  # reap the leader, or the zombie keeps the group "alive"
        return not _group_exists(self.pid)

    def stop(self, grace_s: float = 10) -> None:
        try:
            self._stop(grace_s)
        finally:
            self._reap()

    def _stop(self, grace_s: float) -> None:
        if not self._group_is_ours() or self._group_gone():
            return
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + max(0.0, grace_s)
        while time.monotonic() < deadline:
            if self._group_gone():
                return
            time.sleep(0.05)
        self._signal_group(signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not self._group_gone():
            time.sleep(0.05)

    def _reap(self) -> None:
        """Collect the leader's exit status so no zombie outlives stop()."""
        if self._popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=2)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "start_time": self._start_time}


# What a model server may take from the emulator's own environment: what the runtime
# itself needs (PATH, HOME, locale, temp dir, thread and BLAS settings, the JVM TorchServe
# starts) and where the local Cloud Storage is. Nothing else: a secret in the shell that
# started the emulator must not reach user model code. A container on Vertex gets no more.
PASSED_THROUGH = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
    "JAVA_HOME", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "STORAGE_EMULATOR_HOST",
)
PASSED_PREFIXES = ("LC_",)


def inherited_environment(source: dict[str, str] | None = None) -> dict[str, str]:
    """The part of `source` (default: os.environ) a model server may see."""
    source = dict(os.environ) if source is None else source
    return {key: value for key, value in source.items()
            if key in PASSED_THROUGH or key.startswith(PASSED_PREFIXES)}


def _environment(spec: ModelServerSpec, folder: Path, common: Path, port: int) -> dict[str, str]:
    env = inherited_environment()
    env.update(spec.env)
    paths = [str(folder), str(common)]
    if spec.env.get("PYTHONPATH"):
        paths.append(spec.env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["AIP_HTTP_PORT"] = str(port)
    if not env.get("AIP_ACCELERATOR_TYPE"):
        env.pop("AIP_ACCELERATOR_TYPE", None)  # Vertex leaves it unset without an accelerator
    env.setdefault("AIP_HEALTH_ROUTE", spec.health_route)
    env.setdefault("AIP_PREDICT_ROUTE", spec.predict_route)
    env["PYTHONUNBUFFERED"] = "1"  # so log_tail shows the last words of a crash
    env["VXSERVE_HTTP_HOST"] = HOST  # loopback only: nothing off this machine reaches it
    return env


def _launch(spec: ModelServerSpec, command: list[str], folder: Path,
            env: dict[str, str]) -> subprocess.Popen[bytes]:
    with os.fdopen(open_private_log(spec.log_path), "ab") as log:
        try:
            return subprocess.Popen(
                command,
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise ModelServerStartError(
                f"model server {spec.key!r}: cannot run {command[0]!r}: {exc}"
            ) from exc


def start_process_server(spec: ModelServerSpec) -> ProcessServer:
    """Start the spec's bundled server and block until its health route answers 200."""
    if spec.container == "custom":
        # A user's image: its command comes from an API call, so it never runs here.
        raise ModelServerStartError(
            f"model server {spec.key!r}: a custom container ({spec.image_uri}) runs only in "
            "Docker; its command is never run as a process on this machine",
            hint="start a Docker engine (`make docker-up`, or set DOCKER_HOST)",
        )
    try:
        manifest = load_manifest(spec.container, root=spec.containers_dir)
    except ValueError as exc:
        raise ModelServerStartError(f"model server {spec.key!r}: {exc}") from exc
    folder = manifest.folder
    if not folder.is_dir():
        raise ModelServerStartError(
            f"model server {spec.key!r}: container folder {folder} does not exist"
        )
    reason = ""
    for _attempt in range(_PORT_ATTEMPTS):
        port = free_port(HOST)
        env = _environment(spec, folder, manifest.common, port)
        log_start = spec.log_path.stat().st_size if spec.log_path.exists() else 0
        popen = _launch(spec, manifest.command, folder, env)
        server = ProcessServer(
            key=spec.key,
            base_url=f"http://{HOST}:{port}",
            log_path=spec.log_path,
            pid=popen.pid,
            popen=popen,
        )

        def exited(popen: subprocess.Popen[bytes] = popen) -> str | None:
            code = popen.poll()
            return None if code is None else f"the server exited with code {code}"

        healthy, reason = wait_healthy(
            HOST, port, spec.health_route, deadline_s=spec.ready_timeout_s, exited=exited
        )
        if healthy:
            return server
        server.stop(grace_s=2)
        if popen.returncode is not None and _lost_port_race(spec.log_path, log_start):
            continue
        break
    raise ModelServerStartError(
        f"model server {spec.key!r} ({spec.container}) did not start: {reason}",
        log_tail=tail(spec.log_path, 50),
    )


def _lost_port_race(log_path: Path, offset: int) -> bool:
    try:
        with open(log_path, "rb") as handle:
            handle.seek(offset)
            return b"Address already in use" in handle.read()
    except OSError:
        return False


def adopt_process(info: dict[str, Any]) -> ProcessServer:
    return ProcessServer(
        key=info["key"],
        base_url=info["base_url"],
        log_path=Path(info["log_path"]),
        pid=int(info["pid"]),
        start_time=info.get("start_time"),
    )
