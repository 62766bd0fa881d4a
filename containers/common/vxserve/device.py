"""Choose where the model runs: CUDA when present, CPU otherwise (precision: vxserve.precision).

Kept apart from loading so a backend that is not torch (ONNX Runtime) can reuse the same
choice and so tests can ask "what would this config pick" without a model.
"""

from __future__ import annotations

from typing import Any

from .config import ServeConfig
from .errors import ConfigError


def select_device(config: ServeConfig) -> Any:
    """Return a torch.device for VXSERVE_DEVICE; 'cuda' asked for but absent is an error."""
    import torch

    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"VXSERVE_DEVICE={config.device} but no CUDA device is available")
    return torch.device(config.device)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA (or MPS/XPU) out-of-memory errors, which answer 503 and free the cache."""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_cached_memory() -> None:
    """Hand cached CUDA blocks back after an OOM so the next, smaller batch can succeed."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
