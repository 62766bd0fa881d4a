"""`python -m vxserve.check`: load artifacts the way a container will, in seconds, before a deploy.

    PYTHONPATH=containers/<kind>:containers/common \\
        python -m vxserve.check --container flask|torchserve|tensorrt ARTIFACT_DIR [--instances F]

Runs the chosen container's own loader on this machine (vxserve's handler and model
loading for flask; for torchserve also TorchServe's own loader and json envelope for a
stock handler or `.mar`; the ONNX Runtime backend for tensorrt), sends the manifest's
`example_instances` (or `--instances`) through it, and prints one JSON document:

    {"ok": bool, "container", "mode", "format", "handler", "load_s", "predict_s",
     "predictions": [...], "problems": [{"file", "field", "message", "allowed", "severity"}]}

Exit 0 when it loads and answers, 2 when something is missing or wrong (each problem names
the file and the manifest field), so a CLI (`vxdeploy model check`) or a CI step can stop
before a deploy that would otherwise fail minutes later in a health check. It runs the
user's code (handler.py, model.py): the same code the server would run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .artifacts import (
    HANDLER_FILE,
    LABELS_NAME,
    MANIFEST_NAME,
    MODEL_CODE_FILE,
    Manifest,
    imports_torchserve,
)
from .errors import ConfigError, InvalidInput

CONTAINERS = ("flask", "torchserve", "tensorrt")
ERROR, WARNING = "error", "warning"
_SCRATCH: list[Path] = []  # temporary folders (archives, ONNX exports), removed at exit


def _scratch() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="vxserve-check-"))
    _SCRATCH.append(folder)
    return folder


@dataclass
class Problem:
    file: str
    field: str
    message: str
    allowed: str = ""
    severity: str = ERROR


@dataclass
class Report:
    container: str
    directory: str
    mode: str = "vxserve"  # vxserve | torchserve-handler | torchserve-mar
    format: str = ""
    handler: str = ""
    load_s: float = 0.0
    predict_s: float = 0.0
    instances: int = 0
    predictions: list[Any] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)

    def add(self, file: Path | str, field_: str, message: str, allowed: str = "",
            severity: str = ERROR) -> None:
        self.problems.append(Problem(str(file), field_, message, allowed, severity))

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["ok"] = self.ok
        return body


def check(directory: Path, container: str, instances: list[Any] | None = None) -> Report:
    """Load `directory` with `container`'s loader and predict `instances` (else the examples)."""
    report = Report(container=container, directory=str(directory))
    if not directory.is_dir():
        report.add(directory, "model.artifact_uri", "is not a folder",
                   "a local folder with the model's files")
        return report
    if container == "torchserve":
        from vxts.native import detect  # the torchserve container's folder is on the path

        try:
            stock = detect(directory)
        except ConfigError as exc:
            report.add(directory, "handler", str(exc))
            return report
        if stock is not None:
            _check_stock(stock, report, instances)
            return report
    _check_vxserve(directory, container, report, instances)
    return report


def _check_vxserve(directory: Path, container: str, report: Report,
                   instances: list[Any] | None) -> None:
    from .artifacts import read_manifest
    from .config import ServeConfig
    from .handler import ModelContext, load_handler

    manifest_file = directory / MANIFEST_NAME
    try:
        manifest = read_manifest(directory)
    except ConfigError as exc:
        report.add(*_locate(str(exc), directory), str(exc))
        return
    report.format, report.handler = manifest.format, manifest.handler
    if not _static_handler_checks(manifest, container, report):
        return
    examples = instances if instances is not None else manifest.example_instances
    if not examples:
        report.add(manifest_file, "example_instances",
                   "no example instances: the server cannot warm up before health turns "
                   "green, and this check could only load the model", "a JSON list of "
                   "instances like a client sends them", severity=WARNING)
    started = time.perf_counter()
    try:
        handler = load_handler(manifest.handler, directory)
        if container == "tensorrt":
            from vxtrt.handler import backend_handler  # the tensorrt container's folder
            from vxtrt.settings import TrtSettings

            # The CPU backend: what the container runs without a GPU (and a GPU's TensorRT
            # engine builds from the same ONNX export).
            settings = dataclasses.replace(TrtSettings.from_env(), backend="onnxruntime",
                                           cache_dir=_scratch())
            handler = backend_handler(type(handler), settings)
        import torch

        config = ServeConfig.from_env({"AIP_STORAGE_URI": str(directory)})
        handler.initialize(ModelContext(config, manifest, torch.device("cpu")))
    except ConfigError as exc:
        report.add(*_locate(str(exc), directory), str(exc))
        return
    except Exception as exc:
        report.add(_user_file(exc, directory) or manifest.model_file, "model_class"
                   if manifest.format == "state_dict" else "model_file",
                   f"loading failed: {_describe(exc)}")
        return
    report.load_s = time.perf_counter() - started
    if not examples:
        return
    report.instances = len(examples)
    started = time.perf_counter()
    try:
        report.predictions = handler.handle(list(examples), {})
    except (InvalidInput, ConfigError) as exc:
        report.add(manifest_file, "example_instances",
                   f"the server would refuse them: {exc}", _input_spec(manifest))
        return
    except Exception as exc:
        report.add(_user_file(exc, directory) or directory / HANDLER_FILE, "handler",
                   f"predicting the example instances raised {_describe(exc)}")
        return
    report.predict_s = time.perf_counter() - started


def _static_handler_checks(manifest: Manifest, container: str, report: Report) -> bool:
    """What is missing around the handler, said before anything is imported."""
    directory = manifest.directory
    spec = manifest.handler
    if spec == "classification" and not manifest.labels:
        report.add(directory / LABELS_NAME, "handler",
                   "the classification handler needs the labels file",
                   '{"0": "negative", "1": "positive", ...}')
        return False
    target = spec.partition(":")[0]
    if target.endswith(".py"):
        path = directory / target
        if not path.is_file():
            report.add(path, "handler", f"handler {spec!r} names a file that does not exist",
                       "tensor, classification, handler.py[:Class], package.module:Class")
            return False
        if container != "torchserve" and imports_torchserve(path):
            report.add(path, "model.container",
                       f"{target} is a TorchServe handler (it imports ts); it runs in the "
                       f"torchserve container, not {container}", "torchserve")
            return False
    if manifest.format == "state_dict" and not (directory / MODEL_CODE_FILE).exists() and \
            manifest.model_class.partition(":")[0] == "model":
        report.add(directory / MODEL_CODE_FILE, "model_class", "the state dict's model code "
                   "is missing", "model.py defining the nn.Module")
        return False
    return True


def _check_stock(stock: Any, report: Report, instances: list[Any] | None) -> None:
    """A stock TorchServe handler or .mar: TorchServe's own loader and json envelope."""
    from ts.model_loader import TsModelLoader
    from vxts.native import ENVELOPE, build_stock_archive

    report.mode = "torchserve-mar" if stock.mar is not None else "torchserve-handler"
    where = stock.mar or stock.directory / (stock.handler.partition(":")[0] or HANDLER_FILE)
    examples = instances if instances is not None else _stock_examples(stock.directory)
    if not examples:
        report.add(stock.directory / MANIFEST_NAME, "example_instances",
                   "no example instances: only loading is checked", "a JSON list of "
                   "instances like a client sends them", severity=WARNING)
    work = _scratch()
    started = time.perf_counter()
    try:
        archive = build_stock_archive(stock, work / "store", "model", work / "scratch")
        manifest = json.loads((archive / "MAR-INF" / "MANIFEST.json").read_text())
        report.handler = manifest["model"].get("handler", "")
        sys.path.insert(0, str(archive))  # TorchServe's worker imports from model_dir
        service = TsModelLoader().load("model", str(archive), report.handler, None, 1,
                                       envelope=ENVELOPE, metrics_cache=_ts_metrics())
    except ConfigError as exc:
        report.add(where, "handler", str(exc))
        return
    except Exception as exc:
        report.add(where, "handler", f"TorchServe could not load it: {_describe(exc)}")
        return
    report.load_s = time.perf_counter() - started
    if not examples:
        return
    report.instances = len(examples)
    started = time.perf_counter()
    try:
        # What Service.predict does around the handler, minus its socket: the request's
        # headers and ids on the context, then the (envelope-wrapped) entry point.
        request = {"requestId": b"check", "headers": [], "parameters": [{
            "name": "body", "contentType": "application/json",
            "value": {"instances": list(examples)}}]}
        headers, batch, ids = service.retrieve_data_for_inference([request])
        service.context.request_ids = ids
        service.context.request_processor = headers
        service.context.metrics.request_ids = ids
        answers = service._entry_point(batch, service.context)
        body = answers[0]
        predictions = json.loads(body)["predictions"] if isinstance(body, (str, bytes)) \
            else body["predictions"]
    except Exception as exc:
        report.add(where, "handler", f"predicting the example instances raised "
                   f"{_describe(exc)}")
        return
    if not isinstance(predictions, list) or len(predictions) != len(examples):
        count = len(predictions) if isinstance(predictions, list) else "not a list"
        report.add(where, "handler", f"postprocess returned {count} answers for "
                   f"{len(examples)} instances; TorchServe needs one per instance")
        return
    report.predictions = predictions
    report.predict_s = time.perf_counter() - started


def _ts_metrics() -> Any:
    """The metrics cache TorchServe's worker hands handlers (context.metrics)."""
    import ts
    from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl

    cache = MetricsCacheYamlImpl(config_file_path=str(
        Path(ts.__file__).parent / "configs" / "metrics.yaml"))
    cache.initialize_cache()
    cache.model_name = "model"
    return cache


def _stock_examples(directory: Path) -> list[Any] | None:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        return None
    with contextlib.suppress(ValueError, AttributeError):
        examples = json.loads(path.read_text()).get("example_instances")
        return examples if isinstance(examples, list) else None
    return None


_FIELDS = (
    ("model_class", "model_class"), ("build_model", "model_class"),
    ("nn.Module", "model_class"), ("model_kwargs", "model_kwargs"),
    ("do not fit", "model_class"), ("model_file", "model_file"),
    ("no model file", "model_file"), ("several model files", "model_file"),
    ("format", "format"), ("index_to_name", "labels"), ("class indices", "labels"),
    ("handler", "handler"), ("input dtype", "input.dtype"),
)


def _locate(message: str, directory: Path) -> tuple[str, str]:
    """(file, manifest field) a loader message is about: the first path it names."""
    fld = next((f for key, f in _FIELDS if key in message), "")
    if "needs the model code" in message:
        return str(directory / MODEL_CODE_FILE), "model_class"
    for word in message.replace("(", " ").replace(",", " ").split():
        word = word.rstrip(":;.")
        if word.startswith(str(directory)):
            return word, fld
    return str(directory / MANIFEST_NAME), fld


def _user_file(exc: BaseException, directory: Path) -> str:
    """The innermost frame of the traceback that lies in the artifact folder."""
    found = ""
    root = str(directory.resolve())
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(root):
            found = f"{frame.filename}:{frame.lineno}"
    return found


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


def _input_spec(manifest: Manifest) -> str:
    shape = "any" if manifest.input_shape is None else list(manifest.input_shape)
    return f"instances of shape {shape}, dtype {manifest.input_dtype or 'any'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vxserve.check", description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--container", choices=CONTAINERS, default="flask")
    parser.add_argument("--instances", type=Path, help='JSON {"instances": [...]} or a list')
    args = parser.parse_args(argv)
    instances = None
    if args.instances is not None:
        raw = json.loads(args.instances.read_text())
        instances = raw["instances"] if isinstance(raw, dict) else raw
    # The user's code may print; stdout carries exactly one JSON document.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    try:
        report = check(args.directory.resolve(), args.container, instances)
    finally:
        sys.stdout = real_stdout
        for folder in _SCRATCH:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(report.to_dict(), default=str))
    return 0 if report.ok else 2


if __name__ == "__main__":
    sys.exit(main())
