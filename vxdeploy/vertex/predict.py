"""Online prediction through the PredictionService (predict and rawPredict).

`predict` speaks the PredictionService's REST method itself (`POST
/v1/{endpoint}:predict`, the request and response the GAPIC REST transport sends and
parses, errors mapped by the same `google.api_core.exceptions.from_http_response`): the
GAPIC package costs about 1.5 s to import, which was most of a `vxdeploy predict` call.
For the local emulator (anonymous, loopback) the call uses the standard library's HTTP
client, and the SDK's error types are imported only when the call fails.

A deployed model that is not serving yet answers UNAVAILABLE (a replica still starting)
or RESOURCE_EXHAUSTED (scaling up from zero); like Google's clients, predict retries those
with exponential backoff for a short while before giving up.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vxdeploy.vertex.connection import Connection
from vxdeploy.vertex.errors import canonical_status, translate

RETRY_STATUSES = ("UNAVAILABLE", "RESOURCE_EXHAUSTED")
RETRY_BUDGET_S = 30.0  # total time spent retrying a model that is not serving yet
RETRY_FIRST_S = 0.25
RETRY_MAX_S = 4.0


def _not_serving(error: BaseException) -> bool:
    from google.api_core import exceptions as gexc

    return (isinstance(error, gexc.GoogleAPICallError)
            and canonical_status(error) in RETRY_STATUSES)


def retry_not_serving(call: Callable[[], Any], *, budget_s: float = RETRY_BUDGET_S,
                      sleep: Callable[[float], None] = time.sleep) -> Any:
    """Run `call`, retrying UNAVAILABLE / RESOURCE_EXHAUSTED with jittered backoff.

    Other errors (a model's 500, a bad request) are not retried: repeating them only
    delays the answer. The SDK's error module is loaded only once a call failed.
    """
    from vxdeploy.waiting import waiting

    deadline = time.monotonic() + budget_s
    delay = RETRY_FIRST_S
    try:
        return call()
    except Exception as error:
        if not _not_serving(error):
            raise
        last: BaseException = error
    with waiting("predict", f"the deployed model is not serving yet; retrying for up to "
                 f"{budget_s:g} s") as update:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise last
            update(f"{canonical_status(last)}: {getattr(last, 'message', last)}")
            sleep(min(delay * (0.5 + random.random() / 2), remaining))
            delay = min(delay * 2, RETRY_MAX_S)
            try:
                return call()
            except Exception as error:
                if not _not_serving(error):
                    raise
                last = error


def _api_call(what: str, call: Callable[[], Any]) -> Any:
    """`call` with retries; an API error becomes a VxError naming `what` (as call_api)."""
    try:
        return retry_not_serving(call)
    except Exception as error:
        from google.api_core import exceptions as gexc

        if isinstance(error, gexc.GoogleAPICallError):
            raise translate(error, what) from error
        raise


@dataclass
class _Request:
    method: str
    url: str


@dataclass
class _Response:
    """The parts of a requests.Response that `from_http_response` and `canonical_status`
    read, for an answer fetched with the standard library."""

    status_code: int
    text: str
    request: _Request

    def json(self) -> Any:
        return json.loads(self.text)


def _post_local(url: str, payload: bytes, timeout: float) -> tuple[int, bytes]:
    """POST without a proxy (the emulator is on loopback); (status, body)."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=payload, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def _poster(conn: Connection) -> tuple[Callable[[str, bytes], tuple[int, bytes]],
                                       Callable[[], None]]:
    """A POST function for the connection's target and a function that closes it."""
    if conn.local:
        return (lambda url, payload: _post_local(url, payload, conn.timeout)), lambda: None
    from google.auth.transport.requests import AuthorizedSession

    session = AuthorizedSession(conn.credentials)  # type: ignore[no-untyped-call]

    def post(url: str, payload: bytes) -> tuple[int, bytes]:
        response = session.post(url, data=payload, timeout=conn.timeout,
                                headers={"Content-Type": "application/json"})
        return response.status_code, response.content

    return post, session.close


def predict(conn: Connection, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    version = "v1beta1" if conn.beta else "v1"
    url = f"{conn.api_endpoint.rstrip('/')}/{version}/{endpoint}:predict"
    request: dict[str, Any] = {"instances": body["instances"]}
    if body.get("parameters") is not None:
        request["parameters"] = body["parameters"]
    payload = json.dumps(request).encode()
    post, close = _poster(conn)

    def once() -> Any:
        status, answer = post(url, payload)
        if status >= 400:
            from google.api_core import exceptions as gexc

            raise gexc.from_http_response(_Response(  # type: ignore[no-untyped-call]
                status, answer.decode(errors="replace"), _Request("POST", url)))
        return json.loads(answer)

    try:
        data = _api_call("predict", once)
    finally:
        close()
    return {"predictions": data.get("predictions", []),
            "deployed_model_id": data.get("deployedModelId", ""),
            "model": data.get("model", ""),
            "model_version_id": data.get("modelVersionId", "")}


def raw_predict(conn: Connection, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    from google.api import httpbody_pb2

    http_body = httpbody_pb2.HttpBody(data=json.dumps(body).encode(),
                                      content_type="application/json")
    response = _api_call("raw predict", lambda: conn.prediction.raw_predict(
        endpoint=endpoint, http_body=http_body, timeout=conn.timeout))
    try:
        data = json.loads(response.data or b"{}")
    except json.JSONDecodeError:
        data = {"raw": response.data.decode(errors="replace")}
    return {"predictions": data.get("predictions", data), "deployed_model_id": "",
            "raw": True}
