"""The high-level google.cloud.aiplatform SDK (api_transport="rest") against the emulator.

vxdeploy itself uses the GAPIC clients, but people script Vertex with this SDK too; it
reads output-only fields (deployed_model.id, model_version_id, etag, create_time) and
refuses to deploy a Model without supported_deployment_resources_types, so it is a
strict check that the emulator fills what Vertex fills.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def sdk(emulator):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    aiplatform.init(project="sdk-project", location="us-central1",
                    api_endpoint=emulator.rest_url, api_transport="rest",
                    credentials=AnonymousCredentials())
    yield aiplatform
    aiplatform.initializer.global_config.__init__()  # forget the global configuration


def test_sdk_upload_deploy_predict_split_undeploy_delete(sdk, emulator):
    model = sdk.Model.upload(
        display_name="sdk-echo",
        serving_container_image_uri="us-docker.pkg.dev/test/echo:1",
        serving_container_predict_route="/predict",
        serving_container_health_route="/health",
        labels={"vxdeploy-container": "echo"},
        sync=True,
    )
    assert model.version_id == "1"
    v2 = sdk.Model.upload(
        display_name="sdk-echo", parent_model=model.resource_name, is_default_version=False,
        serving_container_image_uri="us-docker.pkg.dev/test/echo:1",
        serving_container_predict_route="/predict", serving_container_health_route="/health",
        serving_container_environment_variables={"ECHO_TAG": "v2"},
        labels={"vxdeploy-container": "echo"}, sync=True)
    assert v2.version_id == "2"

    endpoint = sdk.Endpoint.create(display_name="sdk-endpoint", sync=True)
    model.deploy(endpoint=endpoint, machine_type="n1-standard-2", min_replica_count=1,
                 max_replica_count=1, traffic_percentage=100, sync=True)
    v2.deploy(endpoint=endpoint, machine_type="n1-standard-2", min_replica_count=1,
              max_replica_count=1, traffic_percentage=25, sync=True)
    endpoint = sdk.Endpoint(endpoint.resource_name)  # read it back
    split = endpoint.traffic_split
    assert sorted(split.values()) == [25, 75]
    deployed = {d.model_version_id: d.id for d in endpoint.list_models()}
    assert split[deployed["2"]] == 25

    tags = {endpoint.predict(instances=[[1]]).predictions[0]["tag"] for _ in range(30)}
    assert tags == {"", "v2"}
    prediction = endpoint.predict(instances=[[1]])
    assert prediction.deployed_model_id in deployed.values()
    from google.api_core import exceptions

    # As Vertex: a deployed model without an explanation spec cannot explain.
    # (over REST the client picks its class from the HTTP status: 400 is BadRequest)
    with pytest.raises(exceptions.BadRequest, match="does not support explanation") as caught:
        endpoint.explain(instances=[[1]])
    assert caught.value.response.json()["error"]["status"] == "FAILED_PRECONDITION"

    endpoint.undeploy_all(sync=True)
    endpoint = sdk.Endpoint(endpoint.resource_name)
    assert endpoint.list_models() == [] and emulator.emu.servers.describe() == []
    endpoint.delete(sync=True)
    model.delete(sync=True)
    assert sdk.Model.list() == []


def test_sdk_model_update_changes_labels_description_and_display_name(sdk):
    """UpdateModel (PATCH) used to answer 405."""
    model = sdk.Model.upload(
        display_name="before", serving_container_image_uri="us-docker.pkg.dev/test/echo:1",
        labels={"vxdeploy-container": "echo"}, sync=True)
    model.update(display_name="after", description="tuned",
                 labels={"vxdeploy-container": "echo", "stage": "prod"})
    again = sdk.Model(model.resource_name)
    assert again.display_name == "after" and again.description == "tuned"
    assert again.labels == {"vxdeploy-container": "echo", "stage": "prod"}
    from google.api_core import exceptions

    with pytest.raises(exceptions.BadRequest, match="Label key"):
        model.update(labels={"Bad Key": "x"})


def test_sdk_lazy_endpoint_that_does_not_exist_raises_not_found_on_every_read(sdk):
    """`Endpoint(name)` does not fetch at once; any read of a missing one is NotFound."""
    from google.api_core import exceptions

    endpoint = sdk.Endpoint("projects/sdk-project/locations/us-central1/endpoints/424242")
    for attr in ("display_name", "traffic_split", "create_time", "labels", "gca_resource"):
        with pytest.raises(exceptions.NotFound):
            getattr(endpoint, attr)
    with pytest.raises(exceptions.NotFound):
        endpoint.list_models()
    with pytest.raises(exceptions.NotFound):
        endpoint.predict(instances=[[1]])
