"""Server settings, read once from the environment Vertex (or the emulator) provides.

Only `AIP_*` variables that Vertex sets and this runtime's own `VXSERVE_*` knobs are read,
so the same image behaves the same on Vertex, in the emulator and in tests. A bad value
fails at startup with the variable's name and the allowed values, never at first request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

BATCHING_MODES = ("on", "off", "auto")
AUTOCAST_MODES = ("off", "bf16", "fp16")
COMPILE_MODES = ("off", "compile")


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be >= {minimum}")
    return value


def env_float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be >= {minimum}")
    return value


def env_choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of: {', '.join(allowed)}")
    return value


def env_route(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith("/"):
        raise ConfigError(f"{name}={value!r} must be a path starting with '/'")
    return value


@dataclass(frozen=True)
class ServeConfig:
    """Everything a vxserve server needs to know before it loads the model."""

    http_port: int = 8080
    # 0.0.0.0 in a container (traffic comes from outside it); the emulator's process
    # runtime sets VXSERVE_HTTP_HOST=127.0.0.1 so a local server is reachable from here only.
    http_host: str = "0.0.0.0"
    health_route: str = "/health"
    predict_route: str = "/predict"
    storage_uri: str = ""
    # Where gs:// artifacts are downloaded to (one sub-folder per URI).
    cache_dir: Path = field(default_factory=lambda: Path("/tmp/vxserve-cache"))
    # "auto" measures at warm-up whether batching pays for this model on this device.
    batching: str = "auto"
    batch_size: int = 32  # most instances in one forward pass
    batch_delay_ms: float = 5.0  # longest wait for a batch to fill after its first request
    max_queue: int = 1024  # instances waiting; more answer 429
    max_body_bytes: int = 10 * 1024 * 1024  # dedicated endpoints allow 10 MB
    # Threads for requests whose handler may block (custom pre/post-processing, batching
    # off); with batching, at least the expected concurrency, so they can batch together.
    http_threads: int = 64
    predict_timeout_s: float = 60.0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    autocast: str = "off"  # off | bf16 | fp16 (CUDA and CPU; see vxserve.precision)
    torch_threads: int = 0  # intra-op threads; 0 = torch's default
    # Threads that run forward passes side by side; 0 = auto (see model_workers()).
    model_workers: int = 0
    handler: str = (
        ""  # overrides the artifact's handler: "tensor", "classification", "file.py[:Class]"
    )
    warmup: bool = True
    drain_timeout_s: float = 30.0
    # Python's GIL switch interval while batching; 0 leaves Python's 5 ms. Shorter lets
    # the batching thread take the GIL back sooner after a forward pass; on the 2-core
    # bench machine 0.25/1/5 ms measured the same, so it is off unless asked for.
    switch_interval_ms: float = 0.0
    model_name: str = ""  # AIP_DEPLOYED_MODEL_ID or AIP_MODEL_NAME, for logs and metrics
    # torch.compile at start-up (vxserve.compiled); "" leaves it to the manifest's "compile".
    compile: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServeConfig:
        """Read and validate the settings; raises ConfigError naming the bad variable."""
        env = os.environ if env is None else env
        port = env_int(env, "AIP_HTTP_PORT", 8080, minimum=0)
        if port > 65535:
            raise ConfigError(f"AIP_HTTP_PORT={port} must be <= 65535")
        return cls(
            http_port=port,
            http_host=env.get("VXSERVE_HTTP_HOST", "").strip() or "0.0.0.0",
            health_route=env_route(env, "AIP_HEALTH_ROUTE", "/health"),
            predict_route=env_route(env, "AIP_PREDICT_ROUTE", "/predict"),
            storage_uri=env.get("AIP_STORAGE_URI", "").strip(),
            cache_dir=Path(env.get("VXSERVE_CACHE_DIR", "").strip() or "/tmp/vxserve-cache"),
            batching=env_choice(env, "VXSERVE_BATCHING", "auto", BATCHING_MODES),
            batch_size=env_int(env, "VXSERVE_BATCH_SIZE", 32, minimum=1),
            batch_delay_ms=env_float(env, "VXSERVE_BATCH_DELAY_MS", 5.0),
            max_queue=env_int(env, "VXSERVE_MAX_QUEUE", 1024, minimum=1),
            max_body_bytes=env_int(env, "VXSERVE_MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1),
            http_threads=env_int(env, "VXSERVE_HTTP_THREADS", 64, minimum=1),
            predict_timeout_s=env_float(env, "VXSERVE_PREDICT_TIMEOUT_S", 60.0, minimum=0.001),
            device=_device(env.get("VXSERVE_DEVICE", "")),
            autocast=env_choice(env, "VXSERVE_AUTOCAST", "off", AUTOCAST_MODES),
            torch_threads=env_int(env, "VXSERVE_TORCH_THREADS", 0),
            model_workers=env_int(env, "VXSERVE_MODEL_WORKERS", 0),
            handler=env.get("VXSERVE_HANDLER", "").strip(),
            warmup=env_choice(env, "VXSERVE_WARMUP", "on", ("on", "off")) == "on",
            drain_timeout_s=env_float(env, "VXSERVE_DRAIN_TIMEOUT_S", 30.0),
            switch_interval_ms=env_float(env, "VXSERVE_SWITCH_INTERVAL_MS", 0.0),
            model_name=(
                env.get("AIP_DEPLOYED_MODEL_ID") or env.get("AIP_MODEL_NAME") or ""
            ).strip(),
            compile=(
                env_choice(env, "VXSERVE_COMPILE", "off", COMPILE_MODES)
                if env.get("VXSERVE_COMPILE", "").strip() else ""
            ),
        )


def _device(raw: str) -> str:
    value = raw.strip().lower() or "auto"
    if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
        return value
    raise ConfigError(f"VXSERVE_DEVICE={value!r} is not one of: auto, cpu, cuda, cuda:N")


def cpu_count() -> int:
    """CPUs this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def model_workers(config: ServeConfig, device_type: str = "cpu") -> int:
    """How many forward passes may run at once.

    VXSERVE_MODEL_WORKERS when set. Otherwise one on a GPU (its kernels queue on one
    stream anyway), and on a CPU as many as fit the cores with VXSERVE_TORCH_THREADS
    intra-op threads each: 2 on 2 cores with 1 thread, 1 with torch's default (all cores).
    """
    if config.model_workers > 0:
        return config.model_workers
    if device_type != "cpu" or config.torch_threads <= 0:
        return 1
    return max(1, cpu_count() // config.torch_threads)
