"""`unreachable()` recognises a failed connection from each real client the CLI uses."""

from __future__ import annotations

import socket

import pytest

from vxdeploy.errors import ApiUnreachableError, ExitCode, VxError, unreachable


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gapic_rest_client_refused(closed_port: int):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    client = aiplatform_v1.EndpointServiceClient(
        credentials=AnonymousCredentials(), transport="rest",
        client_options={"api_endpoint": f"http://127.0.0.1:{closed_port}"})
    with pytest.raises(Exception) as caught:
        client.get_endpoint(name="projects/p/locations/us-central1/endpoints/1", timeout=5)
    error = unreachable(caught.value)
    assert isinstance(error, ApiUnreachableError) and error.exit_code == ExitCode.ENGINE_UNAVAILABLE
    assert f"127.0.0.1:{closed_port}" in error.message and "?" not in error.message
    assert error.hint and "run the same command again" in error.hint


def test_wrapped_failure_is_found_through_its_cause(closed_port: int):
    import requests

    try:
        try:
            requests.get(f"http://127.0.0.1:{closed_port}/v1/x?%24alt=json", timeout=5)
        except requests.ConnectionError as inner:
            raise VxError("reading the endpoint failed") from inner
    except VxError as outer:
        error = unreachable(outer)
    assert error is not None and "alt=json" not in error.message


def test_monitoring_grpc_channel_that_never_connects(closed_port: int):
    import grpc
    from google.cloud import monitoring_v3
    from google.cloud.monitoring_v3.services.alert_policy_service.transports.grpc import (
        AlertPolicyServiceGrpcTransport,
    )

    channel = grpc.insecure_channel(f"127.0.0.1:{closed_port}")
    client = monitoring_v3.AlertPolicyServiceClient(
        transport=AlertPolicyServiceGrpcTransport(channel=channel))
    with pytest.raises(Exception) as caught:
        list(client.list_alert_policies(name="projects/p", timeout=3, retry=None))
    assert isinstance(unreachable(caught.value), ApiUnreachableError)


def test_an_api_answer_is_not_unreachability():
    assert unreachable(VxError("NOT_FOUND: no such endpoint")) is None
    assert unreachable(ValueError("bad")) is None
