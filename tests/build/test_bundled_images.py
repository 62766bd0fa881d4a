"""The real serving containers, built by `build_image`, run like Vertex runs them.

Each image is built FROM the local test base (Debian 12 + CPU torch + JDK), started with the
AIP_* environment on the host network, checked for health and for predictions equal to eager
PyTorch, pushed to the local registry (digest round trip) and rebuilt to show reuse.
The first build of an image takes about a minute (pip installs its requirements); later
runs reuse the tag, or the engine's layer cache when only code changed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import time
from pathlib import Path

import pytest

from vxdeploy.build import build_image
from vxdeploy.paths import containers_dir
from vxdeploy.profile import load_profile

# A clean machine builds the image (about a minute) and pushes the 1.5 GB base layers to
# the empty registry once (about two minutes on a loaded 2-core machine).
pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SENTIMENT = REPO / "examples" / "sentiment"
READY_TIMEOUT_S = {"flask": 120.0, "torchserve": 240.0}


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """The example model's artifacts (make_model.py is idempotent: instant when up to date)."""
    import subprocess
    import sys

    script = SENTIMENT / "make_model.py"
    assert script.is_file(), f"the example model script {script} is missing"
    subprocess.run([sys.executable, str(script), "--version", "1"], check=True,
                   capture_output=True, timeout=300)
    return SENTIMENT / "artifacts"


def eager_probabilities(artifacts: Path, instances: list[list[int]]) -> list[list[float]]:
    """Softmax of the eager nn.Module (model.py + the state dict of the same weights)."""
    import torch

    spec = importlib.util.spec_from_file_location("vx_sentiment_ref",
                                                  artifacts / "state_dict" / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.SentimentClassifier().eval()
    model.load_state_dict(torch.load(artifacts / "state_dict" / "weights.pt", weights_only=True))
    with torch.inference_mode():
        return torch.softmax(model(torch.tensor(instances)), dim=1).tolist()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(container, url: str, timeout_s: float) -> float:
    import httpx

    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        container.reload()
        if container.status not in ("created", "running"):
            logs = container.logs(tail=40).decode(errors="replace")
            pytest.fail(f"container exited ({container.status}):\n{logs}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    logs = container.logs(tail=40).decode(errors="replace")
    pytest.fail(f"{url} not healthy within {timeout_s}s:\n{logs}")


@pytest.mark.parametrize("kind", ["flask", "torchserve"])
def test_bundled_image_builds_serves_pushes_and_is_reused(kind, docker_env, client, base_image,
                                                         registry, artifacts, record_property,
                                                         tmp_path):
    import httpx

    assert (containers_dir() / kind / "Dockerfile").is_file(), f"containers/{kind}: no Dockerfile"
    # A snapshot, so that edits to containers/ while the test runs cannot change the tag.
    snapshot = tmp_path / "containers"
    shutil.copytree(containers_dir(), snapshot,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    loaded = load_profile("local", REPO / "profiles", cli_overrides=[f"model.container={kind}"])
    options = {"base_image": base_image, "registry": registry, "containers_root": snapshot}
    lines: list[str] = []
    result = build_image(loaded, push=False, progress=lambda line, step: lines.append(line),
                         **options)
    record_property(f"{kind}_build_s", round(result.timings["total"], 1))
    assert result.repository == f"{registry}/local-project/vxdeploy/sentiment-{kind}"
    assert result.reused or any(line.startswith("Step ") for line in lines)

    port = free_port()
    env = {"AIP_HTTP_PORT": str(port), "AIP_HEALTH_ROUTE": "/health",
           "AIP_PREDICT_ROUTE": "/predict", "AIP_STORAGE_URI": "/artifacts",
           "AIP_DEPLOYED_MODEL_ID": "1", "AIP_MODE": "PREDICTION",
           "AIP_FRAMEWORK": "CUSTOM_CONTAINER", "VXSERVE_TORCH_THREADS": "1"}
    container = client.containers.run(
        result.reference, detach=True, network_mode="host", environment=env,
        volumes={str(artifacts / "torchscript"): {"bind": "/artifacts", "mode": "ro"}},
        labels={"ai.vxdeploy.test": "build"})
    try:
        base = f"http://127.0.0.1:{port}"
        ready_s = wait_healthy(container, base + "/health", READY_TIMEOUT_S[kind])
        record_property(f"{kind}_ready_s", round(ready_s, 1))
        instances = json.loads((SENTIMENT / "instances.json").read_text())["instances"]
        answer = httpx.post(base + "/predict", json={"instances": instances}, timeout=60)
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        expected = eager_probabilities(artifacts, instances)
        labels = json.loads((artifacts / "torchscript" / "index_to_name.json").read_text())
        names = [labels[str(i)] for i in range(len(labels))] if isinstance(labels, dict) \
            else labels
        assert len(predictions) == len(instances)
        for got, want in zip(predictions, expected, strict=True):
            assert [got["probabilities"][n] for n in names] == pytest.approx(want, abs=1e-4)
            assert got["label"] == names[max(range(len(want)), key=want.__getitem__)]
        bad = httpx.post(base + "/predict", content=b"not json", timeout=30)
        assert bad.status_code == 400
    finally:
        container.remove(force=True)

    pushed = build_image(loaded, push=True, **options)
    record_property(f"{kind}_push_s", round(pushed.timings.get("push", 0.0), 1))
    assert pushed.reused and pushed.tag == result.tag and pushed.digest.startswith("sha256:")
    found = client.api.inspect_distribution(f"{pushed.repository}:{pushed.tag}")
    assert found["Descriptor"]["digest"] == pushed.digest
    repo_digests = client.images.get(pushed.image).attrs["RepoDigests"]
    assert f"{pushed.repository}@{pushed.digest}" in repo_digests

    again = build_image(loaded, push=False, **options)
    assert again.reused and again.tag == result.tag and "build" not in again.timings

    # Keep this build (the emulator's docker tests run it), not the ones before code changes.
    for image in client.images.list(name=result.repository):
        for stale in image.tags:
            if stale.rsplit(":", 1)[0] == result.repository and stale != result.image:
                client.images.remove(stale)
