"""Issue 12: API errors name the method and the resource, not the client's transport URL."""

from __future__ import annotations

import pytest

from tests.conftest import PROFILES
from vxdeploy.errors import NotFoundError
from vxdeploy.profile import load_profile
from vxdeploy.vertex.connection import connect
from vxdeploy.vertex.errors import call_api, without_transport_url


def test_not_found_names_method_and_resource_without_query_string(local_vertex) -> None:
    conn = connect(load_profile("local", PROFILES).profile)
    name = conn.endpoint_name("no-such-endpoint")
    with pytest.raises(NotFoundError) as err:
        call_api("get endpoint", lambda: conn.endpoints.get_endpoint(name=name, timeout=10),
                 attempts=1)
    message = err.value.message
    assert f"get endpoint: NOT_FOUND: GET {name}: " in message
    assert "?" not in message and "%24alt" not in message and "http" not in message


def test_custom_verbs_are_kept_and_other_messages_untouched() -> None:
    raw = ("POST https://us-central1-aiplatform.googleapis.com/v1beta1/projects/p/locations/"
           "us-central1/endpoints/e:deployModel?%24alt=json%3Benum-encoding%3Dint: quota: 0")
    assert without_transport_url(raw) == \
        "POST projects/p/locations/us-central1/endpoints/e:deployModel: quota: 0"
    assert without_transport_url("deadline exceeded: 30s") == "deadline exceeded: 30s"
