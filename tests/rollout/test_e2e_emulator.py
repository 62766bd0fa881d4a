"""Rollouts end to end against the local emulator: real model servers, real clients.

One emulator and one endpoint for the module (starting model servers is the slow part);
every test deploys its own candidate version on top of whatever is stable, so the tests do
not depend on each other's order. Traffic comes from real predict calls on worker
threads; faults come from the emulator's admin surface.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import PROFILES, REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ENDPOINT = "ro-e2e"
ARTIFACTS = REPO / "examples" / "sentiment" / "artifacts"
# The emulator delivers metrics late, as Vertex does (minutes there, 1.5 s here), and the
# profile says so (metrics_delay_s); every gate below has to wait for its data.
INGESTION_DELAY_S = "1.5"
# Short bakes for tests; gates loose enough for a busy 2-core machine (latency spikes of
# seconds happen there), tight where a test injects a fault.
BASE = [f"endpoint.name={ENDPOINT}", "rollout.strategy=linear", "rollout.steps=[10,50,100]",
        "rollout.bake_time_s=3", "rollout.final_bake_s=1", "rollout.metrics_delay_s=2",
        "rollout.termination_wait_s=0", "rollout.gates.min_requests=3",
        "rollout.gates.p99_latency_ms=20000", "rollout.gates.max_error_rate=0.05",
        "alerts.enabled=false"]
FAULT = ["rollout.strategy=canary", "rollout.steps=[50,100]"]  # half the traffic: enough to judge


class Lab:
    """The emulator, the profile overrides and helpers every test uses."""

    def __init__(self, home: Path, rest_url: str):
        self.home = home
        self.rest_url = rest_url
        self.versions = 0
        self.last: list[str] = []  # the model overrides of the last deploy

    def env(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("VXDEPLOY_")}
        environ.update(VXDEPLOY_HOME=str(self.home), COLUMNS="200",
                       NO_PROXY="127.0.0.1,localhost")
        return environ

    def vx(self, *args: str, overrides: list[str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
        sets = [part for item in [*BASE, *(overrides or [])] for part in ("--set", item)]
        return subprocess.run([sys.executable, "-m", "vxdeploy", *args, "-p", "local",
                               "--profiles-dir", str(PROFILES), *sets],
                              capture_output=True, text=True, env=self.env(), timeout=timeout)

    def spawn(self, *args: str, overrides: list[str] | None = None) -> subprocess.Popen[str]:
        sets = [part for item in [*BASE, *(overrides or [])] for part in ("--set", item)]
        return subprocess.Popen([sys.executable, "-m", "vxdeploy", *args, "-p", "local",
                                 "--profiles-dir", str(PROFILES), *sets],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env())

    def deploy(self, artifact: str) -> None:
        """Deploy a new model version: a fresh env value gives it a new fingerprint."""
        self.versions += 1
        self.last = [f"model.artifact_uri={ARTIFACTS / artifact}",
                     f"model.env.VX_ROLLOUT_TEST=v{self.versions}"]
        result = self.vx("deploy", "--yes", overrides=self.last)
        assert result.returncode == 0, result.stderr[-3000:]

    def rollout(self, *extra: str, poll_s: float | None = 0.25):
        from vxdeploy.profile import load_profile
        from vxdeploy.rollout.session import open_rollout

        profile = load_profile("local", PROFILES, cli_overrides=[*BASE, *extra]).profile
        return open_rollout(profile, poll_s=poll_s)

    def admin(self):
        from vxdeploy.emulator.client import EmulatorAdmin

        return EmulatorAdmin(self.rest_url)

    @contextmanager
    def traffic(self, threads: int = 6) -> Iterator[Counter]:
        """Send predictions on `threads` workers until the block ends; yields status counts."""
        import requests

        body = json.loads((REPO / "examples" / "sentiment" / "instances.json").read_text())
        payload = {"instances": body["instances"][:1]}
        url = (f"{self.rest_url}/v1/projects/local-project/locations/us-central1/endpoints/"
               f"{ENDPOINT}:predict")
        codes: Counter = Counter()
        lock, stop = threading.Lock(), threading.Event()

        def work() -> None:
            session = requests.Session()
            session.trust_env = False
            while not stop.is_set():
                try:
                    status = session.post(url, json=payload, timeout=30).status_code
                except requests.RequestException:
                    status = -1
                with lock:
                    codes[status] += 1

        workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
        for worker in workers:
            worker.start()
        try:
            yield codes
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=35)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    from vxdeploy.emulator import control
    from vxdeploy.emulator.monitoring import DELAY_ENV

    # The emulator as its own daemon process, as `vxdeploy` runs it: predictions, the
    # rollout and the traffic threads do not share one interpreter.
    home = tmp_path_factory.mktemp("rollout-e2e") / "home"
    saved = os.environ.get("VXDEPLOY_HOME")
    os.environ["VXDEPLOY_HOME"] = str(home)
    os.environ[DELAY_ENV] = INGESTION_DELAY_S  # read by the daemon at start
    try:
        info = control.ensure_running(home / "emulator")
    finally:
        os.environ.pop(DELAY_ENV, None)
    try:
        lab = Lab(home, info.rest_url)
        lab.deploy("torchscript")  # the first version: stable, 100%
        yield lab
    finally:
        control.stop(home / "emulator")
        if saved is None:
            os.environ.pop("VXDEPLOY_HOME", None)
        else:
            os.environ["VXDEPLOY_HOME"] = saved


@pytest.fixture(autouse=True)
def _home(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VXDEPLOY_HOME", str(lab.home))
    lab.admin().clear_faults()


def fresh_candidate(lab: Lab) -> tuple[str, str]:
    """Deploy a new version beside stable, warm it up; (stable id, candidate id)."""
    lab.deploy("torchscript-v2")
    status = lab.rollout().status()
    assert status.candidate is not None, status.to_dict()
    # the first predictions of a fresh model server are slow; keep them out of the gates
    with lab.traffic():
        time.sleep(2)
    return status.stable.id, status.candidate.id


def status_deployed(lab: Lab):
    return lab.rollout().endpoint.read().deployed_models


def test_linear_rollout_under_traffic_promotes(lab: Lab) -> None:
    stable_id, candidate_id = fresh_candidate(lab)
    with lab.traffic() as codes:
        result = lab.vx("rollout", "run", "-o", "json")
    assert result.returncode == 0, (result.stdout, result.stderr[-3000:], codes)
    report = json.loads(result.stdout)
    assert report["outcome"] == "promoted"
    assert [h["percent"] for h in report["history"]] == [10, 50, 100]
    assert all(h["verdict"] == "pass" for h in report["history"])
    assert all(h["reading"]["requests"] >= 5 for h in report["history"])
    assert report["traffic"] == {candidate_id: 100}
    assert report["retired"] == [stable_id]
    # the report says what is live: the promoted version is stable, the old one previous
    assert report["stable"]["deployed_model_id"] == candidate_id and report["candidate"] is None
    assert report["previous"]["deployed_model_id"] == stable_id
    assert set(codes) == {200}, codes  # no request failed while traffic moved

    after = lab.rollout().status()
    assert after.stable.id == candidate_id and after.candidate is None
    assert "stable" in after.stable.aliases and "candidate" not in after.stable.aliases
    assert "default" in after.stable.aliases  # `default` moved with `stable`
    assert after.state.phase.value == "promoted"


def test_failing_candidate_rolls_back_by_itself(lab: Lab) -> None:
    stable_id, candidate_id = fresh_candidate(lab)
    lab.admin().fault_deployed_model(candidate_id, http_status=500)
    with lab.traffic():
        result = lab.vx("rollout", "run", "-o", "json", overrides=FAULT)
    assert result.returncode == 6, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["outcome"] == "rolled-back"
    assert report["history"][-1]["code"] == "error-rate"
    assert report["traffic"] == {stable_id: 100}
    assert report["retired"] == [candidate_id]
    status = lab.rollout().status()
    assert status.state.phase.value == "rolled-back" and status.state.reason == "error-rate"
    assert status.candidate is None and status.stable.id == stable_id
    # a CI re-run does not propose the rejected version again, and says why
    replan = lab.vx("plan", "--detailed-exitcode", "-o", "json", overrides=[*lab.last, *FAULT])
    assert replan.returncode == 6, (replan.stdout, replan.stderr[-3000:])
    refusal = json.loads(replan.stdout)
    assert "rolled back" in refusal["message"] and "--retry-rejected" in refusal["hint"]
    retry = lab.vx("plan", "--detailed-exitcode", "--retry-rejected",
                   overrides=[*lab.last, *FAULT])
    assert retry.returncode == 2, retry.stderr[-3000:]


def test_slow_candidate_rolls_back_on_p99(lab: Lab) -> None:
    stable_id, candidate_id = fresh_candidate(lab)
    lab.admin().fault_deployed_model(candidate_id, latency_ms=2500)
    with lab.traffic(threads=8):
        report = lab.rollout(*FAULT, "rollout.gates.p99_latency_ms=1000").run()
    assert report.outcome == "rolled-back", report.to_dict()
    assert report.history[-1]["code"] == "p99", report.history
    assert report.history[-1]["reading"]["p99_ms"] > 2000
    assert report.traffic == {stable_id: 100}


def test_manual_split_then_promote(lab: Lab) -> None:
    stable_id, candidate_id = fresh_candidate(lab)
    result = lab.vx("rollout", "75/25", "-o", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["traffic"] == {stable_id: 75, candidate_id: 25}
    result = lab.vx("rollout", "--to", "40", "-o", "json")
    assert json.loads(result.stdout)["traffic"] == {stable_id: 60, candidate_id: 40}
    status = lab.rollout().status()
    assert status.state.phase.value == "manual"
    declined = lab.vx("rollout", "promote", "-o", "json")  # no --yes, no terminal
    assert declined.returncode == 7, declined.stderr[-3000:]
    assert "--yes" in json.loads(declined.stdout)["hint"]
    assert lab.rollout().status().traffic == {stable_id: 60, candidate_id: 40}
    result = lab.vx("rollout", "promote", "--yes", "-o", "json",
                    overrides=["rollout.old_version=keep"])
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["outcome"] == "promoted"
    assert report["traffic"] == {candidate_id: 100, stable_id: 0}
    assert "retired" not in report
    # the old version stays deployed at 0% and is not taken for a candidate
    status = lab.rollout().status()
    assert status.stable.id == candidate_id and status.candidate is None
    assert {d.id for d in status_deployed(lab)} == {stable_id, candidate_id}
    # a completed rollout re-plans empty: CI re-running `plan --detailed-exitcode` sees 0
    replan = lab.vx("plan", "--detailed-exitcode",
                    overrides=[*lab.last, "rollout.old_version=keep"])
    assert replan.returncode == 0, (replan.stdout, replan.stderr[-3000:])
    lab.rollout().endpoint.undeploy(stable_id)


def test_interrupted_rollout_resumes_from_another_process(lab: Lab) -> None:
    _, candidate_id = fresh_candidate(lab)
    slow = ["rollout.bake_time_s=4"]
    with lab.traffic():
        process = lab.spawn("rollout", "run", overrides=slow)
        try:
            deadline = time.monotonic() + 60
            state = None
            while time.monotonic() < deadline:
                state = lab.rollout().status().state
                if state.phase.value == "running" and state.step == 1:
                    break
                time.sleep(0.2)
            assert state is not None and state.step == 1, state
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        report = lab.rollout(*slow).run()
    assert report.resumed_from_step == 1
    assert [h["percent"] for h in report.history] == [50, 100]
    assert report.outcome == "promoted" and report.traffic == {candidate_id: 100}


def test_concurrent_traffic_change_is_detected_not_overwritten(lab: Lab) -> None:
    from vxdeploy.errors import ConflictError

    stable_id, candidate_id = fresh_candidate(lab)
    rollout = lab.rollout("rollout.bake_time_s=20")
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["report"] = rollout.run()
        except ConflictError as error:
            outcome["error"] = error

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and lab.rollout().status().state.phase.value != "running":
        time.sleep(0.1)
    result = lab.vx("rollout", "50/50", "-o", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert isinstance(outcome.get("error"), ConflictError), outcome
    assert outcome["error"].exit_code == 4
    status = lab.rollout().status()
    assert status.traffic == {stable_id: 50, candidate_id: 50}  # the other writer's split
    assert status.state.phase.value == "manual"

    # a record of a running rollout that the live split contradicts is not trusted either
    from vxdeploy.rollout_state import Phase, RolloutState, merge_labels

    view = rollout.endpoint.read()
    record = RolloutState(Phase.RUNNING, stable_id, candidate_id, 0, int(time.time()))
    rollout.endpoint.write(view.etag, view.traffic_written, merge_labels(view.labels, record))
    with pytest.raises(ConflictError, match="record says step 0"):
        lab.rollout().run()
    assert lab.rollout().status().traffic == {stable_id: 50, candidate_id: 50}

    aborted = lab.vx("rollout", "abort", "--yes", "-o", "json")
    assert aborted.returncode == 0, aborted.stderr[-3000:]
    assert json.loads(aborted.stdout)["traffic"] == {stable_id: 100}


def test_no_data_and_too_little_traffic_are_not_healthy(lab: Lab) -> None:
    stable_id, candidate_id = fresh_candidate(lab)
    keep = ["rollout.old_version=keep"]
    quiet = lab.rollout(*keep).run()  # nobody sends a request
    assert quiet.outcome == "rolled-back", quiet.to_dict()
    assert quiet.history[-1]["code"] == "no-data", quiet.history
    assert quiet.traffic == {stable_id: 100, candidate_id: 0}

    with lab.traffic():
        trickle = lab.rollout(*keep, "rollout.gates.min_requests=100000").run()
    assert trickle.outcome == "rolled-back"
    assert trickle.history[-1]["code"] == "too-few-requests"
    assert 0 < trickle.history[-1]["reading"]["requests"] < 100000
    lab.rollout().endpoint.undeploy(candidate_id)


def test_stale_etag_write_is_refused(lab: Lab) -> None:
    from vxdeploy.errors import ConflictError

    endpoint = lab.rollout().endpoint
    view = endpoint.read()
    fresh = endpoint.write(view.etag, view.traffic_written, {**view.labels, "touched": "yes"})
    assert fresh.etag != view.etag and fresh.labels["touched"] == "yes"
    with pytest.raises(ConflictError, match="stale etag"):
        endpoint.write(view.etag, view.traffic_written, {**view.labels, "touched": "again"})
    assert endpoint.read().labels["touched"] == "yes"


def test_no_traffic_reads_as_no_data(lab: Lab) -> None:
    rollout = lab.rollout()
    stable_id = rollout.status().stable.id
    now = time.time()
    assert rollout.metrics.read(stable_id, now + 3600, now + 3700) is None
    assert rollout.metrics.read("424242", now - 600, now) is None


def test_missing_endpoint_is_not_found(lab: Lab) -> None:
    result = lab.vx("rollout", "status", "-o", "json", overrides=["endpoint.name=nowhere"])
    assert result.returncode == 3, result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert "endpoints/nowhere does not exist" in document["message"]
    assert "vxdeploy deploy" in document["hint"]
