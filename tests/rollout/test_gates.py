"""Table tests for the gate judge, including low traffic and late or missing metrics."""

from __future__ import annotations

import pytest

from vxdeploy.live import Reading
from vxdeploy.profile.model import Gates
from vxdeploy.rollout.gates import Verdict, judge

GATES = Gates(p99_latency_ms=500, max_error_rate=0.05, min_requests=100)
NO_LATENCY_GATE = Gates(p99_latency_ms=0, max_error_rate=0.05, min_requests=100)

# (gates, reading, window_complete, deadline_passed, verdict, code)
CASES = [
    # healthy and enough traffic: passes only once the window is complete
    (GATES, Reading(200, 0, 120.0), True, False, Verdict.PASS, "ok"),
    (GATES, Reading(200, 0, 120.0), False, False, Verdict.WAIT, "baking"),
    (GATES, Reading(200, 5, 499.0), True, False, Verdict.PASS, "ok"),
    # no data at all: waits, then fails; never a pass
    (GATES, None, False, False, Verdict.WAIT, "no-data"),
    (GATES, None, True, False, Verdict.WAIT, "no-data"),
    (GATES, None, True, True, Verdict.FAIL, "no-data"),
    (GATES, Reading(0, 0, None), True, True, Verdict.FAIL, "no-data"),
    (NO_LATENCY_GATE, None, True, True, Verdict.FAIL, "no-data"),
    # low traffic: a healthy-looking trickle is not a pass
    (GATES, Reading(40, 0, 50.0), True, False, Verdict.WAIT, "too-few-requests"),
    (GATES, Reading(40, 0, 50.0), True, True, Verdict.FAIL, "too-few-requests"),
    (GATES, Reading(99, 0, 50.0), True, True, Verdict.FAIL, "too-few-requests"),
    (GATES, Reading(100, 0, 50.0), True, True, Verdict.PASS, "ok"),
    # errors fail fast, counted against at least min_requests
    (GATES, Reading(200, 11, 50.0), False, False, Verdict.FAIL, "error-rate"),
    (GATES, Reading(200, 10, 50.0), True, False, Verdict.PASS, "ok"),
    (GATES, Reading(3, 1, 50.0), False, False, Verdict.WAIT, "baking"),
    (GATES, Reading(10, 6, 50.0), False, False, Verdict.FAIL, "error-rate"),
    (Gates(max_error_rate=0, min_requests=10), Reading(50, 1, 1.0), False, False,
     Verdict.FAIL, "error-rate"),
    # latency fails fast once there are enough requests to trust a p99
    (GATES, Reading(150, 0, 900.0), False, False, Verdict.FAIL, "p99"),
    (GATES, Reading(50, 0, 900.0), False, False, Verdict.WAIT, "baking"),
    (GATES, Reading(50, 0, 900.0), True, True, Verdict.FAIL, "too-few-requests"),
    (NO_LATENCY_GATE, Reading(150, 0, 9000.0), True, False, Verdict.PASS, "ok"),
    # counts arrived but latency points did not: unknown is not fast
    (GATES, Reading(150, 0, None), True, False, Verdict.WAIT, "no-latency"),
    (GATES, Reading(150, 0, None), True, True, Verdict.FAIL, "no-latency"),
    (NO_LATENCY_GATE, Reading(150, 0, None), True, False, Verdict.PASS, "ok"),
    # min_requests 0 still needs one request
    (Gates(min_requests=0, p99_latency_ms=0), Reading(1, 0, None), True, False,
     Verdict.PASS, "ok"),
]


@pytest.mark.parametrize(("gates", "reading", "complete", "deadline", "verdict", "code"), CASES)
def test_judge(gates: Gates, reading: Reading | None, complete: bool, deadline: bool,
               verdict: Verdict, code: str) -> None:
    result = judge(gates, reading, window_complete=complete, deadline_passed=deadline)
    assert (result.verdict, result.code) == (verdict, code), result.reason


def test_fail_reasons_name_the_gate_and_the_numbers() -> None:
    result = judge(GATES, Reading(200, 30, 80.0), window_complete=True, deadline_passed=False)
    assert "max_error_rate" in result.reason and "30/200" in result.reason
    result = judge(GATES, Reading(200, 0, 812.0), window_complete=True, deadline_passed=False)
    assert "812 ms" in result.reason and "p99_latency_ms 500" in result.reason
    result = judge(GATES, Reading(7, 0, 8.0), window_complete=True, deadline_passed=True)
    assert "only 7 requests" in result.reason and "min_requests 100" in result.reason
