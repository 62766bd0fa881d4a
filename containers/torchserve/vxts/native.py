"""Serve what TorchServe users already have: a `.mar` archive, or a stock TorchServe handler.

A TorchServe user arrives with a handler written against
`ts.torch_handler.base_handler.BaseHandler` (initialize / preprocess / inference /
postprocess with a context, or a module-level `handle(data, context)`) and often a `.mar`
made by `torch-model-archiver`. Those run here unchanged, with stock TorchServe
semantics: TorchServe's own loader imports the handler, and TorchServe's `json` request
envelope (the one Vertex AI's prebuilt PyTorch images configure) turns a Vertex body
`{"instances": [...]}` into one `data` item per instance and the handler's list of answers
into `{"predictions": [...]}`. The vxts front still keeps the Vertex contract around it
(routes, body limit, envelope check, health after the worker loaded, JSON errors).

Which mode an artifact folder gets is decided statically (no import of the user's code in
the front): a `*.mar` file, or a handler file that imports from `ts`.
"""

from __future__ import annotations

import ast
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vxserve.artifacts import HANDLER_FILE, MANIFEST_NAME, MODEL_CODE_FILE, imports_torchserve
from vxserve.errors import ConfigError

ENVELOPE = "json"  # TorchServe's ts.torch_handler.request_envelope.json
SHIM_MODULE = "vxts_stock_entry"
_WEIGHTS = (".pt", ".pth", ".bin", ".pt2", ".onnx", ".safetensors")


@dataclass(frozen=True)
class StockModel:
    """A TorchServe-native model: a .mar file, or a folder with a ts handler."""

    directory: Path
    mar: Path | None  # the archive, when there is one
    handler: str  # "" (the .mar's own), "file.py", "file.py:Name" or a built-in handler


def detect(directory: Path, handler_override: str = "") -> StockModel | None:
    """The stock TorchServe model in `directory`, or None when it is a vxserve artifact."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    mars = sorted(directory.glob("*.mar"))
    if len(mars) > 1:
        names = ", ".join(m.name for m in mars)
        raise ConfigError(f"{directory}: several model archives ({names}); keep one .mar")
    if mars:
        return StockModel(directory, mars[0], handler_override)
    spec = handler_override or _manifest_handler(directory) or (
        HANDLER_FILE if (directory / HANDLER_FILE).exists() else "")
    target = spec.partition(":")[0]
    if target.endswith(".py") and (directory / target).is_file() and imports_torchserve(
            directory / target):
        return StockModel(directory, None, spec)
    return None


def build_stock_archive(model: StockModel, model_store: Path, model_name: str,
                        scratch: Path) -> Path:
    """Write `model_store/<model_name>/` in TorchServe's no-archive layout and return it.

    A `.mar` is unpacked as TorchServe itself would (it is a zip), and only its model name
    is changed to the one the front routes to. A folder is archived with
    torch-model-archiver, its weight file as `serializedFile` and `model.py` as `modelFile`
    so `BaseHandler.initialize` finds them as in any archive.
    """
    target = model_store / model_name
    if target.exists():
        shutil.rmtree(target)
    model_store.mkdir(parents=True, exist_ok=True)
    if model.mar is not None:
        _unpack(model.mar, target)
        manifest_path = target / "MAR-INF" / "MANIFEST.json"
        manifest = json.loads(manifest_path.read_text())
        manifest.setdefault("model", {})["modelName"] = model_name
        if model.handler:
            manifest["model"]["handler"] = model.handler
    else:
        _archive_folder(model, model_store, model_name, scratch)
        manifest_path = target / "MAR-INF" / "MANIFEST.json"
        manifest = json.loads(manifest_path.read_text())
    manifest["model"]["handler"] = _entry(target, manifest["model"].get("handler", ""))
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return target


def _archive_folder(model: StockModel, model_store: Path, model_name: str,
                    scratch: Path) -> None:
    from model_archiver.model_archiver_config import ModelArchiverConfig
    from model_archiver.model_packaging import generate_model_archive

    folder = model.directory
    handler_file = folder / model.handler.partition(":")[0]
    weights = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _WEIGHTS)
    code = folder / MODEL_CODE_FILE
    scratch.mkdir(parents=True, exist_ok=True)
    config = ModelArchiverConfig(
        model_name=model_name,
        handler=str(handler_file),
        version="1.0",
        serialized_file=str(weights[0]) if len(weights) == 1 else None,
        model_file=str(code) if code.is_file() else None,
        extra_files=str(folder),
        export_path=str(model_store),
        archive_format="no-archive",
        force=True,
    )
    previous = tempfile.tempdir
    tempfile.tempdir = str(scratch)  # the archiver stages in gettempdir()/<model_name>
    try:
        generate_model_archive(config)
    finally:
        tempfile.tempdir = previous
    # Keep the user's handler spec (a ":Class" or ":function" part) for _entry.
    manifest_path = model_store / model_name / "MAR-INF" / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model"]["handler"] = model.handler
    manifest_path.write_text(json.dumps(manifest))


def _entry(archive: Path, handler: str) -> str:
    """The handler string TorchServe gets.

    TorchServe reads "file.py:name" as a *function* entry point; vxserve manifests (and
    people) also write "handler.py:ClassName". A class named that way gets a small entry
    module that instantiates it, with the same initialize-then-handle calls TorchServe
    makes on a class it found itself.
    """
    module, _, attr = handler.partition(":")
    path = archive / module
    if not attr or not module.endswith(".py") or not path.is_file():
        return handler
    tree = ast.parse(path.read_text(), filename=str(path))
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    if attr not in classes:
        return handler  # a function entry point: stock TorchServe already handles it
    (archive / f"{SHIM_MODULE}.py").write_text(
        '"""Written by vxts: TorchServe entry point for the handler class named in the '
        'model\'s manifest."""\n'
        "import importlib\n\n"
        f"_service = getattr(importlib.import_module({module[:-3]!r}), {attr!r})()\n\n\n"
        "def handle(data, context):\n"
        "    if data is None:  # TorchServe's load call\n"
        "        _service.initialize(context)\n"
        "        return None\n"
        "    return _service.handle(data, context)\n"
    )
    return f"{SHIM_MODULE}.py:handle"


def _unpack(mar: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(mar) as archive:
            root = target.resolve()
            for name in archive.namelist():
                dest = (target / name).resolve()
                if dest != root and root not in dest.parents:
                    raise ConfigError(f"{mar}: entry {name!r} would escape the model store")
            archive.extractall(target)
    except zipfile.BadZipFile:
        raise ConfigError(
            f"{mar}: not a zip model archive (tgz and no-archive .mar formats are not "
            "supported; make it with torch-model-archiver --archive-format default)"
        ) from None
    if not (target / "MAR-INF" / "MANIFEST.json").is_file():
        raise ConfigError(f"{mar}: no MAR-INF/MANIFEST.json inside; not a TorchServe archive")


def _manifest_handler(directory: Path) -> str:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        return ""
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    handler = raw.get("handler", "") if isinstance(raw, dict) else ""
    return handler if isinstance(handler, str) else ""
