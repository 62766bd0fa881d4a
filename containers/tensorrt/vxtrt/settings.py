"""vxtrt's own knobs (`VXSERVE_TRT_*`), on top of the shared vxserve ServeConfig."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vxserve.config import ServeConfig, env_choice, env_int
from vxserve.errors import ConfigError

BACKENDS = ("auto", "tensorrt", "onnxruntime")
PRECISIONS = ("fp16", "fp32", "int8")


@dataclass(frozen=True)
class TrtSettings:
    serve: ServeConfig
    backend: str = "auto"  # auto: TensorRT where it and a GPU exist, else ONNX Runtime
    precision: str = "fp16"
    cache_dir: Path = Path("/tmp/vxserve-cache/vxtrt")  # ONNX exports and engines
    max_batch: int = 32  # TensorRT optimization profile max; bigger batches are chunked
    max_dim: int = 512  # TensorRT profile max for dynamic non-batch dims (e.g. sequence)
    calibration: Path | None = None  # JSON list of instances for int8 calibration

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrtSettings:
        """Read and validate; a bad value raises ConfigError naming the variable."""
        env = os.environ if env is None else env
        serve = ServeConfig.from_env(env)
        if serve.autocast != "off":
            # ONNX Runtime and TensorRT never run under torch.autocast: refuse rather than
            # serve float32 while the setting says bf16.
            raise ConfigError(
                f"VXSERVE_AUTOCAST={serve.autocast!r} does not apply to the tensorrt container; "
                "set VXSERVE_TRT_PRECISION (fp16, fp32, int8) instead"
            )
        backend = env_choice(env, "VXSERVE_TRT_BACKEND", "auto", BACKENDS)
        precision = env_choice(env, "VXSERVE_TRT_PRECISION", "fp16", PRECISIONS)
        cache = env.get("VXSERVE_TRT_CACHE_DIR", "").strip()
        calibration = env.get("VXSERVE_TRT_CALIBRATION", "").strip()
        if calibration and not Path(calibration).is_file():
            raise ConfigError(f"VXSERVE_TRT_CALIBRATION={calibration!r} is not a file")
        return cls(
            serve=serve,
            backend=backend,
            precision=precision,
            cache_dir=Path(cache) if cache else serve.cache_dir / "vxtrt",
            max_batch=env_int(env, "VXSERVE_TRT_MAX_BATCH", max(serve.batch_size, 1), minimum=1),
            max_dim=env_int(env, "VXSERVE_TRT_MAX_DIM", 512, minimum=1),
            calibration=Path(calibration) if calibration else None,
        )
