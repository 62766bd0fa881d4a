"""Shipping local artifacts to Cloud Storage (content-addressed), against the local
Cloud Storage emulator through google-cloud-storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import gcs_client
from vxdeploy.errors import InvalidInputError
from vxdeploy.staging import artifact_uri_for, stage_artifacts


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "artifacts"
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "model.pt").write_bytes(b"weights" * 1000)
    (folder / "sub" / "labels.json").write_text('["neg", "pos"]')
    return folder


def test_uploads_once_to_a_content_addressed_prefix(gcs, tmp_path: Path) -> None:
    gcs_client().create_bucket("stage")
    folder = _folder(tmp_path)
    seen: list[tuple[str, int, int]] = []
    uri = stage_artifacts(str(folder), "gs://stage", "sentiment",
                          progress=lambda *a: seen.append(a))
    from vxdeploy.desired import hash_path

    assert uri == f"gs://stage/vxdeploy/sentiment/{hash_path(folder)}/"
    assert seen == [("model.pt", 1, 2), ("sub/labels.json", 2, 2)]
    prefix = uri.removeprefix("gs://stage/")
    blobs = {b.name: b for b in gcs_client().list_blobs("stage", prefix=prefix)}
    assert set(blobs) == {prefix + "model.pt", prefix + "sub/labels.json"}
    assert blobs[prefix + "model.pt"].download_as_bytes() == b"weights" * 1000

    seen.clear()  # a re-run uploads nothing
    assert stage_artifacts(str(folder), "gs://stage", "sentiment",
                           progress=lambda *a: seen.append(a)) == uri
    assert seen == []

    (folder / "model.pt").write_bytes(b"new weights")  # an edit: a new prefix, one upload each
    again = stage_artifacts(f"file://{folder}", "stage", "sentiment",
                            progress=lambda *a: seen.append(a))
    assert again != uri and len(seen) == 2


def test_gs_uris_pass_through_and_local_folders_are_staged(gcs, tmp_path: Path) -> None:
    assert artifact_uri_for("gs://b/p", staging_bucket="gs://x", model_id="m") == "gs://b/p"
    assert artifact_uri_for(str(tmp_path), staging_bucket="", model_id="m") == str(tmp_path)
    gcs_client().create_bucket("stage2")
    staged = artifact_uri_for(str(_folder(tmp_path)), staging_bucket="gs://stage2",
                              model_id="m")
    assert staged.startswith("gs://stage2/vxdeploy/m/")


def test_bad_input_is_a_clear_error(gcs, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        stage_artifacts(str(tmp_path / "missing"), "gs://stage", "m")
    with pytest.raises(InvalidInputError, match="is not a bucket"):
        stage_artifacts(str(_folder(tmp_path)), "gs://stage/sub/dir", "m")
    from vxdeploy.errors import VxError

    with pytest.raises(VxError, match="uploading artifacts to gs://no-such-bucket/"):
        stage_artifacts(str(_folder(tmp_path)), "gs://no-such-bucket", "m", progress=None)


@pytest.mark.slow
def test_apply_ships_the_local_folder_and_the_version_serves_from_gs(
        gcs, local_vertex) -> None:
    """The hook in apply: with a staging bucket (a Vertex target's), UploadModel records the
    staged gs:// URI; the local emulator then serves that version from Cloud Storage."""
    import dataclasses

    from tests.conftest import PROFILES, SENTIMENT_ARTIFACTS
    from vxdeploy.apply import apply_plan
    from vxdeploy.desired import hash_path
    from vxdeploy.output import Output
    from vxdeploy.plan import compute_plan
    from vxdeploy.profile import load_profile
    from vxdeploy.workflow import prepare

    gcs_client().create_bucket("ship")
    loaded = load_profile("local", PROFILES, cli_overrides=["endpoint.name=staged"])
    prepared = prepare(loaded, Output())
    desired = dataclasses.replace(prepared.desired, staging_bucket="gs://ship")
    apply_plan(prepared.conn, compute_plan(desired, prepared.live))
    folder = SENTIMENT_ARTIFACTS / "torchscript"
    model = prepared.conn.models.get_model(name=prepared.conn.model_name("staged"))
    assert model.artifact_uri == f"gs://ship/vxdeploy/staged/{hash_path(folder)}/"
    response = prepared.conn.prediction.predict(endpoint=prepared.plan.endpoint,
                                                instances=[[1, 2, 3]])
    assert len(response.predictions) == 1
