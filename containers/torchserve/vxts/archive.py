"""Make the TorchServe model archive from the artifact folder at start.

The archive is written in TorchServe's `no-archive` layout (a folder with MAR-INF/) rather
than a zipped .mar: zipping and unzipping large weights only costs start-up time, and the
folder lives in this server's own model store anyway. The artifacts are copied in whole,
so the handler finds them in TorchServe's `model_dir` like any other archive.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from vxserve.artifacts import read_manifest

from .native import build_stock_archive, detect
from .settings import TorchServeSettings

ENTRY_FILE = Path(__file__).with_name("vxts_entry.py")


def build_archive(artifact_dir: Path, model_store: Path, model_name: str, scratch: Path) -> Path:
    """Write `model_store/<model_name>/` and return it.

    `scratch` must be private to this server: the archiver stages files in
    `tempfile.gettempdir()/<model_name>`, which two servers in a shared /tmp would race on.
    """
    from model_archiver.model_archiver_config import ModelArchiverConfig
    from model_archiver.model_packaging import generate_model_archive

    artifact_dir = Path(artifact_dir)
    target = model_store / model_name
    if target.exists():
        shutil.rmtree(target)
    scratch.mkdir(parents=True, exist_ok=True)
    model_store.mkdir(parents=True, exist_ok=True)
    config = ModelArchiverConfig(
        model_name=model_name,
        handler=str(ENTRY_FILE),
        version="1.0",
        extra_files=str(artifact_dir),  # a folder's contents, or one file
        export_path=str(model_store),
        archive_format="no-archive",
        force=True,
    )
    previous = tempfile.tempdir
    tempfile.tempdir = str(scratch)
    try:
        generate_model_archive(config)
    finally:
        tempfile.tempdir = previous
    return target


def prepare_archive(settings: TorchServeSettings, artifact_dir: Path, model_store: Path,
                    scratch: Path) -> TorchServeSettings:
    """Archive the artifacts for TorchServe; returns the settings to start it with.

    A `.mar` or a stock TorchServe handler (vxts.native) runs as TorchServe would run it;
    anything else is a vxserve artifact, checked here so a bad one fails with its own
    message before the JVM starts, and served through `vxts_entry.py`.
    """
    stock = detect(artifact_dir, settings.serve.handler)
    if stock is not None:
        build_stock_archive(stock, model_store, settings.model_name, scratch)
        return dataclasses.replace(settings, stock=True)
    read_manifest(artifact_dir)
    build_archive(artifact_dir, model_store, settings.model_name, scratch)
    return settings
