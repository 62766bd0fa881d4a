"""VXSERVE_TRITON_ENSEMBLE (profile: model.triton.ensemble): the handler's preprocess,
the model and its postprocess as three Triton models joined by an ensemble, through the
real tritonserver; and the repository the image generates for Triton's native backends."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers.triton.test_triton_server import ARTIFACTS, PYTRITON, ROOT, _call, serve

sys.path.insert(0, str(ROOT / "containers" / "triton"))
sys.path.insert(0, str(ROOT / "containers" / "common"))

from vxtriton.repository import RepositoryError, generate

INSTANCES = json.loads((ROOT / "examples" / "sentiment" / "instances.json").read_text())


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PYTRITON:
        pytest.skip("needs nvidia-pytriton (vxdeploy's `triton` extra) for tritonserver")
    yield from serve(tmp_path_factory.mktemp("cache"), {"VXSERVE_TRITON_ENSEMBLE": "on",
                                                        "VXSERVE_TRITON_MAX_QUEUE_DELAY_US":
                                                        "20000"})


def _metrics(server: str) -> dict[tuple[str, str], float]:
    status, body = _call(server + "/metrics")
    assert status == 200
    found = {}
    for line in body.decode().splitlines():
        if line.startswith("nv_inference_") and 'model="' in line:
            model = line.split('model="', 1)[1].split('"', 1)[0]
            found[(line.split("{")[0], model)] = float(line.rsplit(" ", 1)[1])
    return found


def test_ensemble_predicts_like_the_single_model(ensemble: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    status, body = _call(ensemble + "/predict", {"instances": INSTANCES["instances"]})
    assert status == 200, body
    predictions = json.loads(body)["predictions"]
    assert len(predictions) == len(INSTANCES["instances"])
    # the same handler and model as flask: the classification handler's answer
    assert set(predictions[0]) == {"label", "confidence", "probabilities"}
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: _call(ensemble + "/predict", {"instances": [[7, 8, 9]]}),
                      range(16)))
    metrics = _metrics(ensemble)
    for step in ("preprocess", "infer", "postprocess", "model"):
        assert metrics[("nv_inference_request_success", step)] >= 17, step
    # the model step is dynamically batched across requests; the Python steps are not
    assert metrics[("nv_inference_exec_count", "infer")] < \
        metrics[("nv_inference_count", "infer")]


def test_ensemble_answers_equal_eager_vxserve(ensemble: str, tmp_path: Path) -> None:
    from vxserve.config import ServeConfig
    from vxserve.service import PredictionService

    instances = INSTANCES["instances"][:2]
    triton = json.loads(_call(ensemble + "/predict", {"instances": instances})[1])["predictions"]
    service = PredictionService(ServeConfig.from_env({
        "AIP_STORAGE_URI": str(ARTIFACTS), "VXSERVE_BATCHING": "off",
        "VXSERVE_CACHE_DIR": str(tmp_path)}))
    service.load()
    assert service.handler is not None
    eager = service.handler.handle(instances, {})
    assert [p["label"] for p in triton] == [p["label"] for p in eager]
    for a, b in zip(triton, eager, strict=True):
        assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-5)


def test_bad_instance_is_400_from_the_preprocess_step(ensemble: str) -> None:
    status, body = _call(ensemble + "/predict", {"instances": [[1, 2, 99999999]]})
    assert status == 400
    assert "values must lie in [0, 19999]" in json.loads(body)["error"]


def test_image_serves_torchscript_on_the_pytorch_backend(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """NVIDIA's image has /opt/tritonserver/backends/{pytorch,onnxruntime,python}: there
    the model step is the artifact itself on its native backend (no Python in between)."""
    backends = tmp_path / "backends"
    for name in ("pytorch", "onnxruntime", "python"):
        (backends / name).mkdir(parents=True)
    monkeypatch.setenv("VXSERVE_TRITON_BACKENDS_DIR", str(backends))
    generate(ARTIFACTS, tmp_path / "models", {})
    infer = (tmp_path / "models" / "infer" / "config.pbtxt").read_text()
    assert 'backend: "pytorch"' in infer
    assert (tmp_path / "models" / "infer" / "1" / "model.pt").read_bytes() == \
        (ARTIFACTS / "model.pt").read_bytes()
    assert not (tmp_path / "models" / "infer" / "1" / "model.py").exists()
    ensemble = (tmp_path / "models" / "model" / "config.pbtxt").read_text()
    assert 'platform: "ensemble"' in ensemble
    assert 'model_name: "infer"' in ensemble


def test_local_tritonserver_serves_it_through_the_python_backend(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    monkeypatch.setenv("VXSERVE_TRITON_BACKENDS_DIR", str(tmp_path / "none"))
    generate(ARTIFACTS, tmp_path / "models", {})
    assert 'backend: "python"' in (tmp_path / "models" / "model" / "config.pbtxt").read_text()
    with pytest.raises(RepositoryError, match="has no pytorch backend"):
        generate(ARTIFACTS, tmp_path / "other", {"VXSERVE_TRITON_BACKEND": "pytorch"})


def test_image_serves_onnx_on_the_onnxruntime_backend_by_its_tensor_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Cast", ["tokens"], ["floats"], to=TensorProto.FLOAT),
         helper.make_node("ReduceSum", ["floats"], ["logits"], keepdims=1)],
        "tiny",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "length"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 1])])
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    onnx.save(helper.make_model(graph), str(artifacts / "model.onnx"))
    (artifacts / "vxserve.json").write_text(json.dumps(
        {"format": "onnx", "input": {"dtype": "int64", "shape": [None]}}))
    backends = tmp_path / "backends"
    (backends / "onnxruntime").mkdir(parents=True)
    monkeypatch.setenv("VXSERVE_TRITON_BACKENDS_DIR", str(backends))
    generate(artifacts, tmp_path / "models", {})
    infer = (tmp_path / "models" / "infer" / "config.pbtxt").read_text()
    assert 'backend: "onnxruntime"' in infer
    assert '{ name: "tokens" data_type: TYPE_INT64 dims: [ -1 ] }' in infer
    assert '{ name: "logits" data_type: TYPE_FP32 dims: [ 1 ] }' in infer
    assert (tmp_path / "models" / "infer" / "1" / "model.onnx").is_file()
    ensemble = (tmp_path / "models" / "model" / "config.pbtxt").read_text()
    assert 'input_map { key: "tokens" value: "preprocessed" }' in ensemble
    assert 'output_map { key: "logits" value: "scores" }' in ensemble
