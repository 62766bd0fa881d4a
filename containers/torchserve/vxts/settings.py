"""TorchServe-specific settings, layered on the shared `vxserve` ServeConfig.

The knobs every bundled server shares (batch size, delay, queue, body limit, timeouts)
come from `vxserve.config.ServeConfig`, so one profile tunes Flask, TorchServe and the
ONNX/TensorRT server the same way. Only what has no meaning elsewhere (JVM, worker count,
TorchServe's internal model name) is read here, from `VXSERVE_TS_*`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vxserve.config import ServeConfig, env_int, model_workers
from vxserve.errors import ConfigError

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class TorchServeSettings:
    """What the launcher needs to render config.properties and start the JVM."""

    serve: ServeConfig
    model_name: str = "model"
    workers: int = 1
    work_dir: Path | None = None  # None: a fresh temporary folder per start
    java: str = "java"
    vmargs: str = ""
    ready_timeout_s: float = 300.0
    # TorchServe's maxBatchDelay where TorchServe batches (stock handlers; see from_env).
    batch_delay_ms: int = 1
    #: a stock TorchServe handler or .mar runs (vxts.native): TorchServe's json envelope
    stock: bool = False
    #: VXSERVE_BATCH_SIZE was set; a stock handler otherwise gets TorchServe's default of 1
    batch_size_set: bool = False

    @property
    def batch_size(self) -> int:
        """TorchServe batches requests, not instances; batching off means batches of one.

        A stock handler may assume batches of one (many read only `data[0]`), so it gets
        TorchServe's default of 1 unless VXSERVE_BATCH_SIZE asks for more.
        """
        if self.serve.batching == "off" or (self.stock and not self.batch_size_set):
            return 1
        return self.serve.batch_size

    @property
    def front_batches(self) -> bool:
        """The front bundles requests for TorchServe (vxts.bundling) instead of TorchServe
        batching them: vxserve handlers with batching on. A stock handler keeps TorchServe's
        batching (it may read only `data[0]`, and knows nothing of bundles)."""
        return not self.stock and self.batch_size > 1

    @property
    def request_limit_bytes(self) -> int:
        """TorchServe's max_request_size: above the front's own limit, which is the real one
        (a client's body never reaches TorchServe over it), and the most a bundle may hold."""
        return self.serve.max_body_bytes + 64 * 1024

    @property
    def response_limit_bytes(self) -> int:
        """TorchServe's max_response_size: a bundle's answer carries up to
        VXSERVE_BATCH_SIZE requests' answers (Java's int caps it)."""
        return min(2**31 - 1, self.request_limit_bytes * max(1, self.serve.batch_size))

    @property
    def torchserve_batch_size(self) -> int:
        """TorchServe's batchSize: 1 where the front batches (a bundle is one request)."""
        return 1 if self.front_batches else self.batch_size

    @property
    def max_batch_delay_ms(self) -> int:
        """TorchServe's maxBatchDelay: 0 unless TorchServe itself batches (a stock handler)."""
        if self.serve.batching == "off" or self.front_batches:
            return 0
        return self.batch_delay_ms

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TorchServeSettings:
        """Read and validate; a bad value raises ConfigError naming the variable."""
        env = os.environ if env is None else env
        serve = ServeConfig.from_env(env)
        name = env.get("VXSERVE_TS_MODEL_NAME", "").strip() or "model"
        if not _MODEL_NAME.match(name):
            raise ConfigError(
                f"VXSERVE_TS_MODEL_NAME={name!r} must be 1-64 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        workers = env_int(env, "VXSERVE_TS_WORKERS", 0, minimum=1) or _auto_workers(serve)
        work_dir = env.get("VXSERVE_TS_WORK_DIR", "").strip()
        java = env.get("VXSERVE_TS_JAVA", "").strip() or _default_java(env)
        ready = env.get("VXSERVE_TS_READY_TIMEOUT_S", "").strip()
        try:
            ready_timeout = float(ready) if ready else 300.0
        except ValueError:
            raise ConfigError(f"VXSERVE_TS_READY_TIMEOUT_S={ready!r} is not a number") from None
        return cls(
            serve=serve,
            model_name=name,
            workers=workers,
            work_dir=Path(work_dir) if work_dir else None,
            java=java,
            vmargs=env.get("VXSERVE_TS_VMARGS", "").strip(),
            ready_timeout_s=ready_timeout,
            # TorchServe waits the whole delay after a lone request's job (its batch
            # aggregator cannot tell that nothing else is coming) and takes jobs already
            # queued without waiting: 1 ms costs a lone request least and still batches
            # what piles up under load. 5 ms made c=1 0.5-0.6x of stock TorchServe.
            batch_delay_ms=max(1, round(serve.batch_delay_ms))
            if env.get("VXSERVE_BATCH_DELAY_MS", "").strip()
            else 1,
            batch_size_set=bool(env.get("VXSERVE_BATCH_SIZE", "").strip()),
        )


def _default_java(env: Mapping[str, str]) -> str:
    home = env.get("JAVA_HOME", "").strip()
    if home:
        return str(Path(home) / "bin" / "java")
    return shutil.which("java") or "java"


def _auto_workers(serve: ServeConfig) -> int:
    """TorchServe workers when VXSERVE_TS_WORKERS is not set: vxserve's model workers.

    One worker (one forward pass at a time) left a core idle under load on CPU; as many
    as the cores hold at VXSERVE_TORCH_THREADS each (one with torch's default threads, or
    on a GPU). Each worker is a process with its own copy of the model: see RSS in
    docs/containers.md.
    """
    on_gpu = serve.device.startswith("cuda") or (
        serve.device == "auto" and Path("/dev/nvidiactl").exists()
    )
    return model_workers(serve, "cuda" if on_gpu else "cpu")
