"""In what precision the forward pass runs, and what autocast changes (vxserve.precision)."""

from __future__ import annotations

import pytest
import torch
from vxserve.precision import (
    autocast_warning,
    full_precision,
    inference_context,
    to_full_precision,
)

CPU = torch.device("cpu")


def _linear_output_dtype(autocast: str) -> torch.dtype:
    layer = torch.nn.Linear(4, 2)
    with inference_context(CPU, autocast):
        return layer(torch.ones(1, 4)).dtype


def test_bf16_autocast_runs_on_the_cpu_too_not_only_on_cuda() -> None:
    # VXSERVE_AUTOCAST=bf16 on a CPU used to be accepted and silently ignored.
    assert _linear_output_dtype("bf16") == torch.bfloat16


def test_off_keeps_float32_and_inference_mode() -> None:
    with inference_context(CPU, "off"):
        assert torch.is_inference_mode_enabled()
    assert _linear_output_dtype("off") == torch.float32


def test_full_precision_turns_autocast_off_inside_it() -> None:
    with full_precision():
        assert _linear_output_dtype("bf16") == torch.float32
    assert _linear_output_dtype("bf16") == torch.bfloat16


def test_reduced_precision_outputs_come_back_as_float32_integers_untouched() -> None:
    out = {
        "logits": torch.ones(2, 3, dtype=torch.bfloat16),
        "ids": torch.ones(2, dtype=torch.int64),
        "pair": (torch.zeros(1, dtype=torch.float16), torch.zeros(1, dtype=torch.float64)),
    }
    got = to_full_precision(out)
    assert got["logits"].dtype == torch.float32 and got["ids"].dtype == torch.int64
    assert got["pair"][0].dtype == torch.float32 and got["pair"][1].dtype == torch.float64


@pytest.mark.parametrize(
    ("autocast", "device", "bf16", "fp16", "warns"),
    [
        ("off", "cpu", False, False, None),
        ("bf16", "cpu", True, False, None),
        ("bf16", "cpu", False, False, "no native bf16"),
        ("fp16", "cpu", True, False, "slower than fp32"),
        ("fp16", "cpu", True, True, None),
        ("fp16", "cuda", False, False, None),
    ],
)
def test_a_precision_the_cpu_cannot_speed_up_is_named_at_start_up(
    autocast: str, device: str, bf16: bool, fp16: bool, warns: str | None
) -> None:
    message = autocast_warning(autocast, device, native_bf16=bf16, native_fp16=fp16)
    if warns is None:
        assert message is None
    else:
        assert message is not None and warns in message
        assert f"VXSERVE_AUTOCAST={autocast}" in message
