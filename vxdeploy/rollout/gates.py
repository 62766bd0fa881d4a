"""Judging one rollout step from its metrics: pass, fail or keep waiting.

Vertex metrics arrive 2-6 minutes late and a quiet endpoint may send almost nothing to a
10% canary, so the rules are built so that missing data can only ever delay or fail a
step, never pass it:
- a step passes only once its bake window is complete (bake time + metrics delay) and it
  shows at least `min_requests` requests and, with a latency gate, a known p99;
- a breach fails the step at once, before the bake ends (errors are counted against at
  least `min_requests`, so one early error in a handful of requests does not trip it);
- when the deadline passes without a pass, the step fails with the reason it could not pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vxdeploy.live import Reading
from vxdeploy.profile.model import Gates


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WAIT = "wait"


@dataclass(frozen=True)
class GateResult:
    verdict: Verdict
    code: str  # label-safe: ok, baking, error-rate, p99, no-data, too-few-requests, no-latency
    reason: str  # for people

    def to_dict(self) -> dict[str, str]:
        return {"verdict": self.verdict.value, "code": self.code, "reason": self.reason}


def judge(gates: Gates, reading: Reading | None, *, window_complete: bool,
          deadline_passed: bool) -> GateResult:
    """Decide a step from `reading` (None: Monitoring returned nothing)."""
    if reading is None or reading.requests == 0:
        if deadline_passed:
            return GateResult(Verdict.FAIL, "no-data",
                              "no requests reached the candidate: no data is not healthy")
        return GateResult(Verdict.WAIT, "no-data", "waiting for the first metrics")

    judged_over = max(reading.requests, gates.min_requests)
    if reading.errors / judged_over > gates.max_error_rate:
        return GateResult(
            Verdict.FAIL, "error-rate",
            f"error rate {reading.errors}/{reading.requests} = {reading.error_rate:.2%} "
            f"exceeds max_error_rate {gates.max_error_rate:.2%}")
    latency_gated = gates.p99_latency_ms > 0
    enough = reading.requests >= gates.min_requests
    if latency_gated and enough and reading.p99_ms is not None \
            and reading.p99_ms > gates.p99_latency_ms:
        return GateResult(Verdict.FAIL, "p99",
                          f"p99 latency {reading.p99_ms:.0f} ms exceeds "
                          f"p99_latency_ms {gates.p99_latency_ms:.0f} ms")

    if not window_complete:
        return GateResult(Verdict.WAIT, "baking", "baking")
    if not enough:
        message = (f"only {reading.requests} requests, fewer than min_requests "
                   f"{gates.min_requests}: too little traffic to judge")
        if deadline_passed:
            return GateResult(Verdict.FAIL, "too-few-requests", message)
        return GateResult(Verdict.WAIT, "too-few-requests", message)
    if latency_gated and reading.p99_ms is None:
        message = "no latency data for the candidate yet"
        if deadline_passed:
            return GateResult(Verdict.FAIL, "no-latency", message)
        return GateResult(Verdict.WAIT, "no-latency", message)
    return GateResult(Verdict.PASS, "ok", "all gates pass")
