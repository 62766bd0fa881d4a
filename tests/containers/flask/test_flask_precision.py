"""VXSERVE_AUTOCAST on a CPU, over real HTTP: bf16 really runs and says what it changed.

Runs on any x86 CPU: without AVX512-BF16/AMX torch emulates bf16 (slower, and the server
warns), which changes the speed, not what this test checks.
"""

from __future__ import annotations

import re

from .server import eager_probabilities

LABELS = ["negative", "neutral", "positive"]


def test_bf16_autocast_on_cpu_serves_close_to_fp32_and_logs_its_drift(
    sentiment, instances, start_server
) -> None:
    server = start_server(sentiment / "state_dict", VXSERVE_AUTOCAST="bf16")
    server.wait_ready(timeout_s=120)
    response = server.predict({"instances": instances})
    assert response.status_code == 200, response.text
    got = [[p["probabilities"][label] for label in LABELS] for p in response.json()["predictions"]]
    want = eager_probabilities(instances, "state_dict")
    drift = max(
        abs(g - w) for gs, ws in zip(got, want, strict=True) for g, w in zip(gs, ws, strict=True)
    )
    # bf16 keeps 8 mantissa bits: close to fp32, but not equal (equal = autocast ignored).
    assert 0 < drift < 0.02, drift
    assert all(isinstance(v, float) for row in got for v in row)
    line = re.search(r"VXSERVE_AUTOCAST=bf16 on cpu: .*top-1 agrees on (\d+)/(\d+)", server.log())
    assert line is not None, server.log()
    assert int(line.group(2)) > 0
