"""Ship local artifacts to Cloud Storage, so one profile serves the local target and Vertex.

Vertex reads a model's artifacts from `gs://` only. For a Vertex target, a local
`model.artifact_uri` folder is uploaded to `gs://STAGING_BUCKET/vxdeploy/MODEL/<sha256>/`,
the sha256 being the folder's content hash (the same hash the model fingerprint uses).
The prefix is content-addressed, so a re-run uploads nothing, an edit gets a new prefix,
and a model version never sees its artifacts change under it. Only files not already
there (same name and size, same MD5) are uploaded.

It uses `google-cloud-storage`, so tests (and `vxdeploy local up` users) point it at the
local Cloud Storage emulator with STORAGE_EMULATOR_HOST.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vxdeploy.errors import InvalidInputError, VxError

PREFIX = "vxdeploy"
_TIMEOUT_S = 120.0

Progress = Callable[[str, int, int], None]  # (relative name, files done, files in all)


def is_local(uri: str) -> bool:
    """Whether an artifact_uri names a folder on this machine (a path or file:// URI)."""
    return bool(uri) and ("://" not in uri or uri.startswith("file://"))


def _bucket_name(staging_bucket: str) -> str:
    name = staging_bucket.removeprefix("gs://").strip("/")
    if not name or "/" in name:
        raise InvalidInputError(
            f"staging_bucket {staging_bucket!r} is not a bucket",
            hint="set staging_bucket = \"gs://BUCKET\" in the profile (a bucket, no path)")
    return name


def _files(folder: Path) -> list[tuple[str, Path]]:
    if folder.is_file():
        return [(folder.name, folder)]
    return sorted((str(p.relative_to(folder)), p) for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def _stderr_progress(name: str, done: int, total: int) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"  uploading artifacts {done}/{total}: {name}",
                                                markup=False)


def stage_artifacts(local: str, staging_bucket: str, model_id: str, *, client: Any = None,
                    progress: Progress | None = _stderr_progress) -> str:
    """Upload the folder `local` names; return its `gs://…/<sha256>/` URI.

    Raises InvalidInputError for a missing folder or bad bucket, VxError when Cloud
    Storage refuses (with the bucket and the reason).
    """
    from vxdeploy.desired import hash_path

    folder = Path(local.removeprefix("file://")).expanduser()
    if not folder.exists():
        raise InvalidInputError(f"model.artifact_uri {local!r}: {folder} does not exist")
    if not model_id:
        raise InvalidInputError("a model id is needed to stage artifacts")
    bucket_name = _bucket_name(staging_bucket)
    prefix = f"{PREFIX}/{model_id}/{hash_path(folder)}"
    uri = f"gs://{bucket_name}/{prefix}/"
    from google.api_core import exceptions

    try:
        client = client or _client()
        bucket = client.bucket(bucket_name)
        present = {blob.name: (blob.size, blob.md5_hash)
                   for blob in client.list_blobs(bucket_name, prefix=prefix + "/",
                                                 timeout=_TIMEOUT_S)}
        files = _files(folder)
        missing = [(name, path) for name, path in files
                   if present.get(f"{prefix}/{name}") != (path.stat().st_size, _md5(path))]
        for done, (name, path) in enumerate(missing, start=1):
            if progress is not None:
                progress(name, done, len(missing))
            bucket.blob(f"{prefix}/{name}").upload_from_filename(
                str(path), timeout=_TIMEOUT_S, if_generation_match=None)
    except exceptions.GoogleAPIError as error:
        raise VxError(f"uploading artifacts to {uri} failed: {error}",
                      hint="check that the staging bucket exists and that you may write to it"
                      ) from error
    return uri


def _client() -> Any:
    """A storage client: anonymous against the local emulator, ADC against Google."""
    import os

    import google.cloud.storage as storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="local", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    return storage.Client()


def artifact_uri_for(artifact_uri: str, *, staging_bucket: str, model_id: str) -> str:
    """What a model version records: a local folder staged when a bucket is given."""
    if not staging_bucket or not is_local(artifact_uri):
        return artifact_uri
    return stage_artifacts(artifact_uri, staging_bucket, model_id)
