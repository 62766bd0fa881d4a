"""In what precision the forward pass runs: VXSERVE_AUTOCAST, and what it changes.

Apart from `device` (where the model runs) because precision is a trade a user makes
knowingly: the server applies it the same way on CUDA and on the CPU, warns when the CPU
only emulates the dtype, and at warm-up measures how far it moves the model's outputs on
the example instances, so the log says what the speed cost in accuracy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

# Set by full_precision(): inference_context then ignores VXSERVE_AUTOCAST, so warm-up can
# measure what autocast changes by running the same handler both ways.
_FULL_PRECISION: ContextVar[bool] = ContextVar("vxserve_full_precision", default=False)

_AUTOCAST_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


@contextlib.contextmanager
def inference_context(device: Any, autocast: str) -> Iterator[None]:
    """inference_mode plus optional autocast to bf16/fp16 (VXSERVE_AUTOCAST).

    On CUDA and on the CPU alike: a CPU with AMX (Vertex's c3 machines) runs the tutorial's
    LSTM about 3.5x faster in bf16, and a setting the server took but ignored on a CPU
    would only mislead.
    """
    import torch

    with torch.inference_mode():
        if autocast == "off" or _FULL_PRECISION.get():
            yield
            return
        device_type = getattr(device, "type", "cpu")
        dtype = getattr(torch, _AUTOCAST_DTYPES[autocast])
        with torch.autocast(device_type, dtype=dtype):
            yield


@contextlib.contextmanager
def full_precision() -> Iterator[None]:
    """Inside: forward passes ignore VXSERVE_AUTOCAST (the reference for measuring drift)."""
    token = _FULL_PRECISION.set(True)
    try:
        yield
    finally:
        _FULL_PRECISION.reset(token)


def to_full_precision(out: Any) -> Any:
    """bf16/fp16 tensors in a model's outputs as float32; everything else as it is.

    Autocast leaves the last layer's outputs in the reduced dtype: softmax and JSON then
    work on float32, as they do without autocast.
    """
    if isinstance(out, dict):
        return {k: to_full_precision(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return type(out)(to_full_precision(v) for v in out)
    dtype = getattr(out, "dtype", None)
    if dtype is not None and str(dtype) in ("torch.bfloat16", "torch.float16"):
        return out.float()
    return out


def autocast_warning(
    autocast: str, device_type: str, *, native_bf16: bool, native_fp16: bool
) -> str | None:
    """A start-up warning when VXSERVE_AUTOCAST asks this CPU for a dtype it only emulates.

    Emulated bf16/fp16 is slower than float32 (fp16 on a Sapphire Rapids CPU without
    AMX-FP16: 1.39 against 1.0 ms per instance on the tutorial's LSTM), so the setting
    would cost speed and accuracy both.
    """
    if autocast == "off" or device_type != "cpu":
        return None
    if autocast == "bf16" and not native_bf16:
        return (
            "VXSERVE_AUTOCAST=bf16: this CPU has no native bf16 instructions (AVX512-BF16 or "
            "AMX, as on Vertex's c3 machines), so bf16 is emulated and likely slower than fp32"
        )
    if autocast == "fp16" and not native_fp16:
        hint = "; bf16 is native here, use VXSERVE_AUTOCAST=bf16" if native_bf16 else ""
        return (
            "VXSERVE_AUTOCAST=fp16: this CPU has no AMX-FP16, so fp16 is emulated and slower "
            "than fp32" + hint
        )
    return None


def cpu_autocast_warning(autocast: str, device: Any) -> str | None:
    """autocast_warning for this machine's CPU (torch's own feature checks)."""
    import torch

    cpu = torch.cpu
    return autocast_warning(
        autocast,
        getattr(device, "type", "cpu"),
        native_bf16=bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported()),
        native_fp16=bool(cpu._is_amx_fp16_supported()),
    )


@dataclass(frozen=True)
class Drift:
    """How far autocast moved a model's outputs from float32 on the same batch."""

    autocast: str
    device_type: str
    instances: int
    max_abs: float  # the largest change of any output value
    largest: float  # the largest |output| in float32, to read max_abs against
    top1_agree: int | None  # rows whose argmax is unchanged (2-D outputs only)
    rows: int

    def describe(self) -> str:
        text = (
            f"VXSERVE_AUTOCAST={self.autocast} on {self.device_type}: on {self.instances} "
            f"warm-up instance(s) the outputs moved from float32 by at most {self.max_abs:.3g} "
            f"(largest |output| {self.largest:.3g})"
        )
        if self.top1_agree is not None:
            text += f"; top-1 agrees on {self.top1_agree}/{self.rows}"
        return text


def measure_drift(handler: Any, batch: Any, autocast: str, device: Any) -> Drift | None:
    """Run `batch` through the handler with and without autocast and compare the outputs.

    None when autocast is off or the outputs hold no floating tensors to compare (a
    backend that is not torch, or a model that answers with ids only).
    """
    if autocast == "off":
        return None
    reduced = _float_tensors(to_full_precision(handler.inference(batch)))
    with full_precision():
        exact = _float_tensors(handler.inference(batch))
    if not exact or len(exact) != len(reduced):
        return None
    max_abs = largest = 0.0
    agree = rows = 0
    has_rows = False
    for got, want in zip(reduced, exact, strict=True):
        want = want.float()
        max_abs = max(max_abs, float((got.float() - want).abs().max()))
        largest = max(largest, float(want.abs().max()))
        if want.dim() == 2 and want.shape[1] > 1:
            has_rows = True
            agree += int((got.argmax(dim=1) == want.argmax(dim=1)).sum())
            rows += want.shape[0]
    return Drift(
        autocast=autocast,
        device_type=getattr(device, "type", "cpu"),
        instances=len(batch) if hasattr(batch, "__len__") else 0,
        max_abs=max_abs,
        largest=largest,
        top1_agree=agree if has_rows else None,
        rows=rows,
    )


def _float_tensors(out: Any) -> list[Any]:
    if isinstance(out, dict):
        return [t for v in out.values() for t in _float_tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _float_tensors(v)]
    if hasattr(out, "is_floating_point") and out.is_floating_point() and out.numel():
        return [out]
    return []
