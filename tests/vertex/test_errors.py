"""API failures against the emulator: retries for transient errors, canonical statuses."""

from __future__ import annotations

import pytest

from tests.conftest import PROFILES
from vxdeploy.emulator.client import EmulatorAdmin
from vxdeploy.errors import ConflictError, InvalidInputError, NotFoundError, VxError
from vxdeploy.live import LiveState
from vxdeploy.profile import load_profile
from vxdeploy.vertex.connection import connect
from vxdeploy.vertex.errors import call_api, with_retries
from vxdeploy.vertex.reader import read_endpoint


@pytest.fixture
def conn(local_vertex):
    return connect(load_profile("local", PROFILES).profile)


def get_endpoint(conn, name: str = "missing"):
    return conn.endpoints.get_endpoint(name=conn.endpoint_name(name), timeout=10)


def test_transient_errors_are_retried(local_vertex, conn) -> None:
    admin = EmulatorAdmin(local_vertex.rest_url)
    admin.fail_rpc("GetEndpoint", count=2, status="UNAVAILABLE")
    seq = admin.last_seq()
    assert read_endpoint(conn, "nothing-here", LiveState()) is None
    statuses = [r["status"] for r in admin.requests(since=seq, rpc="GetEndpoint")]
    assert statuses == [503, 503, 404]


def test_retries_give_up_after_the_last_attempt(local_vertex, conn) -> None:
    admin = EmulatorAdmin(local_vertex.rest_url)
    admin.fail_rpc("GetEndpoint", count=3, status="RESOURCE_EXHAUSTED")
    with pytest.raises(VxError, match="RESOURCE_EXHAUSTED"):
        call_api("get endpoint", lambda: get_endpoint(conn), attempts=3, base_delay=0.01)


@pytest.mark.parametrize(("status", "error"), [
    ("ABORTED", ConflictError),
    ("ALREADY_EXISTS", ConflictError),
    ("FAILED_PRECONDITION", InvalidInputError),
    ("INVALID_ARGUMENT", InvalidInputError),
    ("NOT_FOUND", NotFoundError),
])
def test_canonical_status_picks_the_error(local_vertex, conn, status: str,
                                          error: type[VxError]) -> None:
    admin = EmulatorAdmin(local_vertex.rest_url)
    admin.fail_rpc("GetEndpoint", count=1, status=status, message="injected")
    with pytest.raises(error) as raised:
        call_api("get endpoint", lambda: get_endpoint(conn))
    assert type(raised.value) is error
    assert status in raised.value.message


def test_backoff_grows_and_is_bounded() -> None:
    delays: list[float] = []
    calls = iter([ConnectionError(), ConnectionError(), ConnectionError(), "ok"])

    def flaky() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert with_retries(flaky, base_delay=1, max_delay=3, sleep=delays.append) == "ok"
    assert len(delays) == 3
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 1.5 <= delays[2] <= 3
