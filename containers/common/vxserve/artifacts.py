"""Find the model's files: fetch $AIP_STORAGE_URI to a local folder and read what is in it.

Vertex hands the container a `gs://` copy of the Model's artifacts; the emulator hands it a
local folder or `file://` URI. Both end as a local directory, so everything after this
module (format detection, loading, handlers) only ever sees a `Path`.

An artifact directory may carry a `vxserve.json` manifest that says exactly what it holds;
without one the layout is detected (see `read_manifest`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .errors import ConfigError

MANIFEST_NAME = "vxserve.json"
LABELS_NAME = "index_to_name.json"
HANDLER_FILE = "handler.py"
MODEL_CODE_FILE = "model.py"
FORMATS = ("torchscript", "export", "aoti", "state_dict", "onnx")
# Inside every AOTInductor package (a .pt2 like a torch.export program, told apart by this).
_AOTI_DIR = "/data/aotinductor/"
_WEIGHT_SUFFIXES = (".pt", ".pth", ".bin")
_GCS_TIMEOUT_ENV = "VXSERVE_GCS_TIMEOUT_S"  # retry deadline of each Cloud Storage call


def fetch_artifacts(uri: str, cache_dir: Path) -> Path:
    """Return a local directory holding the artifacts at `uri` (gs://, file:// or a path).

    gs:// prefixes are downloaded whole into `cache_dir/<hash of uri>` with Application
    Default Credentials; a completed download is marked and reused on restart.
    """
    if not uri:
        raise ConfigError("AIP_STORAGE_URI is empty: this server needs the model's artifacts")
    parsed = urlparse(uri)
    if parsed.scheme == "gs":
        return _download_gcs(parsed.netloc, parsed.path.lstrip("/"), cache_dir, uri)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme in ("",) or (len(parsed.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        path = Path(uri)
    else:
        raise ConfigError(
            f"AIP_STORAGE_URI={uri!r}: scheme {parsed.scheme!r} is not supported "
            "(allowed: gs://bucket/prefix, file:///path, /local/path)"
        )
    if not path.exists():
        raise ConfigError(f"AIP_STORAGE_URI={uri!r}: {path} does not exist")
    return path


def _download_gcs(bucket_name: str, prefix: str, cache_dir: Path, uri: str) -> Path:
    from google.api_core import exceptions, retry
    from google.auth import exceptions as auth_exceptions
    from google.cloud import storage  # heavy; only gs:// deployments need it

    target = cache_dir / hashlib.sha256(uri.encode()).hexdigest()[:16]
    done_marker = target / ".vxserve-complete"
    if done_marker.exists():
        return target
    if target.exists():
        shutil.rmtree(target)  # a half-finished download from a killed start
    target.mkdir(parents=True)
    # Bounded retries: an unreachable Cloud Storage (or local emulator at
    # $STORAGE_EMULATOR_HOST) fails the load in seconds, not after the default 120 s.
    deadline = _gcs_timeout()
    bounded = retry.Retry(initial=0.2, maximum=2.0, timeout=deadline)
    where = os.environ.get("STORAGE_EMULATOR_HOST") or "Cloud Storage"
    try:
        client = storage.Client()
        count = _download_all(client, bucket_name, prefix, target, uri, bounded, deadline)
    except (exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError, OSError) as exc:
        raise ConfigError(f"AIP_STORAGE_URI={uri!r}: cannot read it from {where}: {exc}") from exc
    if count == 0:
        raise ConfigError(f"AIP_STORAGE_URI={uri!r}: no objects under that prefix")
    done_marker.touch()
    return target


def _gcs_timeout() -> float:
    raw = os.environ.get(_GCS_TIMEOUT_ENV, "").strip() or "20"
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"{_GCS_TIMEOUT_ENV}={raw!r} must be a positive number of seconds")
    return value


def _download_all(client: Any, bucket_name: str, prefix: str, target: Path, uri: str,
                  bounded: Any, deadline: float) -> int:
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    count = 0
    for blob in client.list_blobs(bucket_name, prefix=prefix, retry=bounded, timeout=deadline):
        if blob.name.endswith("/"):
            continue  # folder placeholder objects
        relative = blob.name[len(prefix) :]
        dest = (target / relative).resolve()
        if target.resolve() not in dest.parents:
            raise ConfigError(f"{uri}: object {blob.name!r} would escape the cache directory")
        dest.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(dest), retry=bounded, timeout=deadline)
        count += 1
    return count


@dataclass
class Manifest:
    """What an artifact directory holds and how to serve it.

    `vxserve.json` keys (all optional): format, model_file, model_class ("module:Class",
    module relative to the artifact dir), model_kwargs, handler ("tensor",
    "classification", "handler.py" or "handler.py:Class"), input {dtype, shape} where shape
    is per instance and null means any length, plus optional min/max (inclusive value
    range, e.g. token ids below the vocabulary size), pad_value, example_instances, labels,
    compile ("off" or "compile": torch.compile at start-up, see vxserve.compiled) and
    export_file (for an AOTInductor package: the torch.export program it was compiled
    from, which the ONNX export of the tensorrt container reads instead).
    """

    directory: Path
    format: str
    model_file: Path
    model_class: str = ""
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    handler: str = "tensor"
    input_dtype: str | None = None
    input_shape: tuple[int | None, ...] | None = None
    input_range: tuple[float, float] | None = None
    pad_value: float | int | None = None
    example_instances: list[Any] | None = None
    labels: list[str] | None = None
    compile: str = ""
    export_file: Path | None = None


def read_manifest(directory: Path) -> Manifest:
    """Read `vxserve.json` if present, filling gaps by detection.

    Detection: a `.pt2` file is an AOTInductor package when the archive holds
    `data/aotinductor/`, else a torch.export program; a `.onnx` file an ONNX model, a
    `.pt`/`.pth` zip holding TorchScript code is TorchScript, other weight files are a
    state dict (which needs `model_class`, or a `model.py` defining `build_model()` or one
    top-level nn.Module class, see `find_model_class`).
    Handler: `handler.py` if present, else "classification" when `index_to_name.json`
    exists, else "tensor".
    """
    directory = Path(directory)
    if directory.is_file():
        directory, only = directory.parent, directory
    else:
        only = None
    raw: dict[str, Any] = {}
    manifest_path = directory / MANIFEST_NAME
    if manifest_path.exists():
        try:
            raw = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{manifest_path}: not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{manifest_path}: must be a JSON object")

    model_file = _model_file(directory, raw, only)
    fmt = raw.get("format") or _detect_format(model_file)
    if fmt not in FORMATS:
        raise ConfigError(f"{manifest_path}: format {fmt!r} is not one of: {', '.join(FORMATS)}")
    if fmt in ("export", "aoti") and model_file.suffix == ".pt2":
        actual = _detect_format(model_file)
        if actual != fmt:
            kinds = {"aoti": "an AOTInductor package", "export": "a torch.export program"}
            raise ConfigError(
                f"{manifest_path}: format is {fmt!r} but {model_file.name} is {kinds[actual]}; "
                f"set format to {actual!r} (or leave format out to detect it)"
            )
    model_class = raw.get("model_class", "")
    if fmt == "state_dict" and not model_class:
        code = directory / MODEL_CODE_FILE
        if not code.exists():
            raise ConfigError(
                f"{model_file} is a state dict: the artifact directory needs the model code "
                f"({MODEL_CODE_FILE} defining the nn.Module, or model_class in {MANIFEST_NAME})"
            )
        model_class = f"model:{find_model_class(code)}"

    labels = None
    labels_path = directory / raw.get("labels", LABELS_NAME)
    if labels_path.exists():
        labels = _read_labels(labels_path)

    handler = raw.get("handler") or (
        HANDLER_FILE
        if (directory / HANDLER_FILE).exists()
        else "classification"
        if labels is not None
        else "tensor"
    )
    spec = raw.get("input", {}) or {}
    shape = spec.get("shape")
    value_range = None
    if "min" in spec or "max" in spec:
        value_range = (float(spec.get("min", float("-inf"))), float(spec.get("max", float("inf"))))
    return Manifest(
        directory=directory,
        format=fmt,
        model_file=model_file,
        model_class=model_class,
        model_kwargs=dict(raw.get("model_kwargs", {}) or {}),
        handler=handler,
        input_dtype=spec.get("dtype"),
        input_shape=tuple(shape) if shape is not None else None,
        input_range=value_range,
        pad_value=raw.get("pad_value"),
        example_instances=raw.get("example_instances"),
        labels=labels,
        compile=str(raw.get("compile") or ""),
        export_file=_export_file(directory, raw),
    )


def _export_file(directory: Path, raw: dict[str, Any]) -> Path | None:
    name = raw.get("export_file")
    if not name:
        return None
    path = directory / str(name)
    if not path.exists():
        raise ConfigError(f"{directory / MANIFEST_NAME}: export_file {path} does not exist")
    return path


def is_aoti_package(path: Path) -> bool:
    """True for an AOTInductor package: a zip with entries under `data/aotinductor/`."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(_AOTI_DIR in "/" + name for name in archive.namelist())


def _model_file(directory: Path, raw: dict[str, Any], only: Path | None) -> Path:
    if only is not None:
        return only
    if raw.get("model_file"):
        path = directory / raw["model_file"]
        if not path.exists():
            raise ConfigError(f"{directory / MANIFEST_NAME}: model_file {path} does not exist")
        return path
    candidates = sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix in (*_WEIGHT_SUFFIXES, ".pt2", ".onnx")
    )
    if not candidates:
        raise ConfigError(
            f"{directory}: no model file found (expected *.pt, *.pth, *.pt2 or *.onnx, "
            f"or model_file in {MANIFEST_NAME})"
        )
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise ConfigError(
            f"{directory}: several model files ({names}); name one as model_file in {MANIFEST_NAME}"
        )
    return candidates[0]


def _detect_format(path: Path) -> str:
    if path.suffix == ".pt2":
        return "aoti" if is_aoti_package(path) else "export"
    if path.suffix == ".onnx":
        return "onnx"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        # TorchScript archives carry the compiled code and constants; torch.save ones do not.
        if any("/code/" in n for n in names) or any(n.endswith("constants.pkl") for n in names):
            return "torchscript"
    return "state_dict"


def _read_labels(path: Path) -> list[str]:
    try:
        mapping = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(mapping, list):
        return [str(x) for x in mapping]
    if not isinstance(mapping, dict):
        raise ConfigError(f'{path}: must map class index to name, e.g. {{"0": "negative"}}')
    try:
        indices = sorted(int(k) for k in mapping)
    except ValueError:
        raise ConfigError(f'{path}: keys must be class indices ("0", "1", ...)') from None
    if indices != list(range(len(indices))):
        raise ConfigError(f"{path}: class indices must be 0..{len(indices) - 1} without gaps")
    return [str(mapping[str(i)]) for i in indices]


def find_model_class(code: Path) -> str:
    """The name in `model.py` to build a state dict's module from, found without importing it.

    `build_model` when the file defines one (the factory can take `model_kwargs`); else the
    one nn.Module subclass that no other module class in the file uses (the top of the
    model: a class with default constructor arguments needs no factory). Read statically,
    so `model check` and the TorchServe front name a missing or ambiguous class in
    milliseconds, without torch.
    """
    try:
        tree = ast.parse(code.read_text(), filename=str(code))
    except SyntaxError as exc:
        raise ConfigError(f"{code}:{exc.lineno}: not valid Python ({exc.msg})") from None
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    if "build_model" in functions:
        return "build_model"
    modules = {
        n.name: n
        for n in tree.body
        if isinstance(n, ast.ClassDef) and any(_base_name(b) == "Module" for b in n.bases)
    }
    used = {
        name.id
        for cls in modules.values()
        for name in ast.walk(cls)
        if isinstance(name, ast.Name) and name.id in modules and name.id != cls.name
    }
    top = [name for name in modules if name not in used]
    if len(top) == 1:
        return top[0]
    found = ", ".join(top) or "none"
    raise ConfigError(
        f"{code}: cannot tell which class to build the state dict into (top-level nn.Module "
        f"classes: {found}); define build_model() there, or set model_class "
        f'("model:ClassName") in {MANIFEST_NAME}'
    )


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def imports_torchserve(path: Path) -> bool:
    """True when a handler file imports TorchServe (`ts` or `ts.*`): a stock TorchServe
    handler, which only the torchserve container runs (vxts.native)."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid Python ({exc.msg})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (
                node.module == "ts" or node.module.startswith("ts.")):
            return True
        if isinstance(node, ast.Import) and any(
                a.name == "ts" or a.name.startswith("ts.") for a in node.names):
            return True
    return False
