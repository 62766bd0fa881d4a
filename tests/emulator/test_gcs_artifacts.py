"""gs:// artifacts locally: the local Cloud Storage emulator serves them to the bundled
servers (STORAGE_EMULATOR_HOST, no credentials), as Cloud Storage does on Vertex."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import gcs_client
from tests.emulator.conftest import create_endpoint, deploy, upload

pytestmark = pytest.mark.slow


def _put_folder(bucket_name: str, prefix: str, folder: Path) -> None:
    client = gcs_client()
    bucket = client.lookup_bucket(bucket_name) or client.create_bucket(bucket_name)
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            bucket.blob(f"{prefix}/{path.relative_to(folder)}").upload_from_filename(str(path))


def _flask_model(types, artifact_uri: str):
    return types.Model(display_name="sentiment", artifact_uri=artifact_uri,
                       labels={"vxdeploy-container": "flask"},
                       container_spec=types.ModelContainerSpec(
                           image_uri="us-docker.pkg.dev/test/vxdeploy-flask:1",
                           env=[types.EnvVar(name="VXSERVE_TORCH_THREADS", value="1")]))


def test_bundled_server_downloads_gs_artifacts_from_the_local_storage(
        gcs, v1, sentiment_artifacts, sentiment_instances) -> None:
    _put_folder("models", "sentiment/v1", sentiment_artifacts)
    model = upload(v1, _flask_model(v1.types, "gs://models/sentiment/v1")).model
    endpoint = create_endpoint(v1, "7001").name
    deploy(v1, endpoint, model)
    response = v1.predictions.predict(endpoint=endpoint, instances=sentiment_instances[:2])
    assert len(response.predictions) == 2


def test_sdk_model_upload_stages_a_local_folder_in_the_local_storage(
        gcs, emulator, sentiment_artifacts) -> None:
    """aiplatform.Model.upload(artifact_uri=LOCAL_DIR, staging_bucket=...) copies the folder
    to Cloud Storage first; against the local target that is the local emulator."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    gcs_client().create_bucket("sdk-staging")  # as on Vertex, the bucket must exist
    aiplatform.init(project="sdk-project", location="us-central1",
                    api_endpoint=emulator.rest_url, api_transport="rest",
                    credentials=AnonymousCredentials(), staging_bucket="gs://sdk-staging")
    try:
        model = aiplatform.Model.upload(
            display_name="staged", artifact_uri=str(sentiment_artifacts),
            serving_container_image_uri="us-docker.pkg.dev/test/vxdeploy-flask:1",
            labels={"vxdeploy-container": "flask"}, sync=True)
        uri = model.gca_resource.artifact_uri
        assert uri.startswith("gs://sdk-staging/")
        bucket, _, prefix = uri.removeprefix("gs://").partition("/")
        names = {b.name for b in gcs_client().list_blobs(bucket, prefix=prefix)}
        assert any(name.endswith("model.pt") for name in names), names
    finally:
        aiplatform.initializer.global_config.__init__()


def test_missing_gs_prefix_fails_the_deploy_with_the_cause(gcs, tmp_path: Path) -> None:
    """The download fails at once and says why; the deploy's error carries the server's log
    tail (a short ready timeout here keeps the suite quick; failing as soon as the server
    reports the failed load is the supervision's job)."""
    from tests.emulator.conftest import make_clients
    from vxdeploy.emulator.server import EmulatorServer

    server = EmulatorServer(tmp_path / "state", seed=7, ready_timeout_s=15).start()
    try:
        _deploy_missing(make_clients(server.rest_url))
    finally:
        server.stop()


def _deploy_missing(v1) -> None:
    gcs_client().create_bucket("empty")
    model = upload(v1, _flask_model(v1.types, "gs://empty/nothing/here")).model
    endpoint = create_endpoint(v1, "7002").name
    from google.api_core import exceptions

    with pytest.raises(exceptions.InvalidArgument) as caught:  # the operation's error
        deploy(v1, endpoint, model)
    assert "gs://empty/nothing/here" in str(caught.value)
    assert "no objects under that prefix" in str(caught.value)
