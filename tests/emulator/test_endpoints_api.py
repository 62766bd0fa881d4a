"""EndpointService through the real GAPIC REST clients: CRUD, etags, splits, errors."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions

from tests.emulator.conftest import PARENT, create_endpoint, error_status


def test_create_get_list_with_chosen_id_and_filters(v1):
    endpoint = create_endpoint(v1, "prod-ep", labels={"managed-by": "vxdeploy"})
    assert endpoint.name == f"{PARENT}/endpoints/prod-ep"
    assert endpoint.etag and endpoint.create_time
    create_endpoint(v1, labels={"managed-by": "other"})
    with pytest.raises(exceptions.Conflict) as caught:
        create_endpoint(v1, "prod-ep")
    assert error_status(caught.value) == "ALREADY_EXISTS"

    assert v1.endpoints.get_endpoint(name=endpoint.name).display_name == "ep"
    ours = list(
        v1.endpoints.list_endpoints(
            request={"parent": PARENT, "filter": 'labels.managed-by="vxdeploy"'}
        )
    )
    assert [e.name for e in ours] == [endpoint.name]
    pages = list(v1.endpoints.list_endpoints(request={"parent": PARENT, "page_size": 1}).pages)
    assert len(pages) == 2 and pages[-1].next_page_token == ""
    with pytest.raises(exceptions.BadRequest, match="endpoint_id"):
        create_endpoint(v1, "Bad_Id")


def test_update_with_etag_and_mask_replaces(v1):
    endpoint = create_endpoint(v1, "e1", labels={"a": "1", "b": "2"})
    update = v1.types.Endpoint(
        name=endpoint.name,
        etag=endpoint.etag,
        labels={"c": "3"},
        display_name="ignored-not-in-mask",
    )
    updated = v1.endpoints.update_endpoint(endpoint=update, update_mask={"paths": ["labels"]})
    assert dict(updated.labels) == {"c": "3"}  # replaced, not merged
    assert updated.display_name == "ep"  # outside the mask: untouched
    assert updated.etag != endpoint.etag

    stale = v1.types.Endpoint(name=endpoint.name, etag=endpoint.etag, display_name="x")
    with pytest.raises(exceptions.Conflict) as caught:
        v1.endpoints.update_endpoint(endpoint=stale, update_mask={"paths": ["display_name"]})
    assert error_status(caught.value) == "ABORTED"

    with pytest.raises(exceptions.BadRequest, match="updatable fields"):
        v1.endpoints.update_endpoint(
            endpoint=v1.types.Endpoint(name=endpoint.name), update_mask={"paths": ["network"]}
        )


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"123": 100}, 'key "123" is not a DeployedModel id'),
        ({"0": 100}, '"0" is only allowed in DeployModel'),
    ],
)
def test_update_split_rules_on_an_empty_endpoint(v1, split, message):
    endpoint = create_endpoint(v1)
    with pytest.raises(exceptions.BadRequest) as caught:
        v1.endpoints.update_endpoint(
            endpoint=v1.types.Endpoint(name=endpoint.name, traffic_split=split),
            update_mask={"paths": ["traffic_split"]},
        )
    assert message in str(caught.value)
    assert error_status(caught.value) == "INVALID_ARGUMENT"
    body = caught.value.response.json()["error"]
    assert body["code"] == 400
    assert body["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"


def test_unknown_resources_and_routes_answer_vertex_errors(v1, emulator):
    with pytest.raises(exceptions.NotFound) as caught:
        v1.endpoints.get_endpoint(name=f"{PARENT}/endpoints/404")
    assert error_status(caught.value) == "NOT_FOUND"
    with pytest.raises(exceptions.NotFound):
        v1.endpoints.delete_endpoint(name=f"{PARENT}/endpoints/404")
    response = requests.get(f"{emulator.rest_url}/v1/projects/p/nothing", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"
    response = requests.put(f"{emulator.rest_url}/v1/{PARENT}/endpoints/x", timeout=5)
    assert response.status_code == 405
    assert "allowed: DELETE, GET, PATCH" in response.json()["error"]["message"]
    response = requests.post(
        f"{emulator.rest_url}/v1/{PARENT}/endpoints",
        data=b"{oops",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_delete_endpoint(v1):
    endpoint = create_endpoint(v1)
    v1.endpoints.delete_endpoint(name=endpoint.name).result(timeout=30)
    assert list(v1.endpoints.list_endpoints(parent=PARENT)) == []


def test_v1beta1_create_and_v1_read(v1, v1beta1):
    endpoint = create_endpoint(v1beta1, "beta")
    assert isinstance(endpoint, v1beta1.types.Endpoint)
    assert v1.endpoints.get_endpoint(name=endpoint.name).name == endpoint.name


def _message(error: exceptions.GoogleAPICallError) -> str:
    """The error body's message (the REST client prefixes its own text with the URL)."""
    return str(error.response.json()["error"]["message"])


@pytest.mark.parametrize(("endpoint_id", "ok"), [
    ("1234567890", False),  # a chosen numeric id has at most 9 digits
    ("123456789", True),
    ("0123", False),
    ("ends-with-", False),
    ("a" * 63, True),
])
def test_chosen_endpoint_ids_follow_the_rest_reference(v1, endpoint_id, ok):
    if ok:
        assert create_endpoint(v1, endpoint_id).name.endswith("/" + endpoint_id)
        return
    with pytest.raises(exceptions.BadRequest) as caught:
        create_endpoint(v1, endpoint_id)
    assert error_status(caught.value) == "INVALID_ARGUMENT"
    assert _message(caught.value).startswith("List of found errors:\t1.Field: endpoint_id;")


@pytest.mark.parametrize(("labels", "ok"), [
    ({"équipe": "données"}, True),  # international lowercase letters are allowed
    ({"k": "v" * 64}, True),
    ({"k": "v" * 65}, False),
    ({"Team": "a"}, False),
    ({"1team": "a"}, False),
    ({f"k{i}": "v" for i in range(65)}, False),
])
def test_label_rules_follow_the_rest_reference(v1, labels, ok):
    if ok:
        assert dict(create_endpoint(v1, labels=labels).labels) == labels
        return
    with pytest.raises(exceptions.BadRequest) as caught:
        create_endpoint(v1, labels=labels)
    assert _message(caught.value).startswith(
        "List of found errors:\t1.Field: endpoint.labels;")


def test_a_location_that_is_no_vertex_region_is_invalid(v1):
    with pytest.raises(exceptions.BadRequest) as caught:
        v1.endpoints.create_endpoint(parent="projects/test-project/locations/mars-north1",
                                     endpoint=v1.types.Endpoint(display_name="x")).result(10)
    assert error_status(caught.value) == "INVALID_ARGUMENT"
    assert "mars-north1" in caught.value.message and "europe-west4" in caught.value.message
    with pytest.raises(exceptions.BadRequest, match="mars-north1"):
        v1.endpoints.get_endpoint(name="projects/test-project/locations/mars-north1/endpoints/1")
