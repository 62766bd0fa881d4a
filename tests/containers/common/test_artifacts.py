"""Fetching artifacts (local, file://, gs://) and reading what an artifact folder holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from vxserve.artifacts import fetch_artifacts, read_manifest
from vxserve.errors import ConfigError


def test_local_path_and_file_uri_resolve_to_the_folder(tmp_path: Path) -> None:
    assert fetch_artifacts(str(tmp_path), tmp_path / "cache") == tmp_path
    assert fetch_artifacts(tmp_path.as_uri(), tmp_path / "cache") == tmp_path


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("", "AIP_STORAGE_URI is empty"),
        ("/does/not/exist", "does not exist"),
        ("s3://bucket/model", "scheme 's3' is not supported"),
    ],
)
def test_unusable_uris_say_why(tmp_path: Path, uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fetch_artifacts(uri, tmp_path)


@pytest.fixture
def fake_gcs(gcs):
    """The local Cloud Storage emulator (tests/conftest.py `gcs`) holding two models that
    share a string prefix, and a console-made folder placeholder."""
    from tests.conftest import gcs_client

    bucket = gcs_client().create_bucket("bucket")
    for name, data in {
        "models/v1/": b"",
        "models/v1/model.pt": b"weights",
        "models/v1/extra/index_to_name.json": b"{}",
        "models/v10/model.pt": b"another model sharing the string prefix",
    }.items():
        bucket.blob(name).upload_from_string(data)
    return bucket


def test_gs_prefix_is_downloaded_whole_once_and_reused(tmp_path: Path, fake_gcs) -> None:
    local = fetch_artifacts("gs://bucket/models/v1", tmp_path)
    files = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert files == [".vxserve-complete", "extra/index_to_name.json", "model.pt"]
    assert (local / "model.pt").read_bytes() == b"weights"  # and nothing of models/v10
    fake_gcs.blob("models/v1/model.pt").upload_from_string(b"changed")
    assert fetch_artifacts("gs://bucket/models/v1", tmp_path) == local
    assert (local / "model.pt").read_bytes() == b"weights"  # the completed download reused


def test_gs_prefix_without_objects_is_an_error(tmp_path: Path, fake_gcs) -> None:
    with pytest.raises(ConfigError, match="no objects under that prefix"):
        fetch_artifacts("gs://bucket/nothing/here", tmp_path)


def test_gs_object_names_cannot_escape_the_cache(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Cloud Storage allows `..` in object names; the local emulator normalises them away,
    so this hostile bucket is the one place a stand-in client is still needed."""
    from google.cloud import storage

    class Blob:
        name = "m/../../evil.py"

        def download_to_filename(self, filename: str, **_options: object) -> None:
            Path(filename).write_bytes(b"x")

    class Client:
        def list_blobs(self, bucket: str, prefix: str = "", **_options: object) -> list[Blob]:
            return [Blob()]

    monkeypatch.setattr(storage, "Client", Client)
    with pytest.raises(ConfigError, match="escape"):
        fetch_artifacts("gs://bucket/m", tmp_path / "cache")
    assert not (tmp_path / "evil.py").exists()


def test_unreachable_storage_fails_fast_naming_the_uri(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("VXSERVE_GCS_TIMEOUT_S", "1")  # the default is 20 s
    with pytest.raises(ConfigError, match=r"gs://bucket/m.*cannot read it from http://127"):
        fetch_artifacts("gs://bucket/m", tmp_path)


def test_formats_are_detected_without_a_manifest(tiny_artifacts: dict[str, Path]) -> None:
    ts = read_manifest(tiny_artifacts["torchscript"])
    assert (ts.format, ts.model_file.name, ts.handler) == (
        "torchscript",
        "model.pt",
        "classification",
    )
    assert ts.labels == ["a", "b", "c"]
    ex = read_manifest(tiny_artifacts["export"])
    assert (ex.format, ex.handler, ex.labels) == ("export", "tensor", None)
    sd = read_manifest(tiny_artifacts["state_dict"])
    assert (sd.format, sd.model_class) == ("state_dict", "model:build_model")


def test_manifest_overrides_detection(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"x")
    (tmp_path / "other.pt").write_bytes(b"x")
    (tmp_path / "vxserve.json").write_text(
        json.dumps(
            {
                "format": "state_dict",
                "model_file": "w.bin",
                "model_class": "net:Net",
                "model_kwargs": {"width": 3},
                "handler": "handler.py:Mine",
                "input": {"dtype": "int64", "shape": [None, 2], "min": 0, "max": 9},
                "pad_value": 0,
                "example_instances": [[[1, 2]]],
            }
        )
    )
    m = read_manifest(tmp_path)
    assert m.model_file == tmp_path / "w.bin" and m.model_class == "net:Net"
    assert m.model_kwargs == {"width": 3} and m.handler == "handler.py:Mine"
    assert m.input_dtype == "int64" and m.input_shape == (None, 2)
    assert m.input_range == (0.0, 9.0) and m.pad_value == 0
    assert m.example_instances == [[[1, 2]]]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no model file found"),
        ({"a.pt": b"x", "b.pt": b"y"}, "several model files"),
        ({"w.pt": b"not a zip"}, "needs the model code"),
        ({"m.pt2": b"x", "vxserve.json": b"{not json"}, "not valid JSON"),
        ({"m.pt2": b"x", "vxserve.json": b'{"format": "pickle"}'}, "is not one of"),
        ({"m.pt2": b"x", "index_to_name.json": b'{"0": "a", "2": "c"}'}, "without gaps"),
        ({"m.pt2": b"x", "index_to_name.json": b'{"first": "a"}'}, "class indices"),
    ],
)
def test_broken_artifact_folders_say_what_is_wrong(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(ConfigError, match=message):
        read_manifest(tmp_path)
