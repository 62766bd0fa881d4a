"""The emulator is not reachable from a web page: foreign Host/Origin, simple bodies, CORS.

Each case is the raw HTTP a browser would send (a "simple" cross-site POST needs no
preflight; DNS rebinding brings a foreign Host to 127.0.0.1). The attack from the issue —
upload a model whose command is a shell, create an endpoint, deploy — must change nothing.
"""

from __future__ import annotations

import http.client
import json

import pytest

from tests.emulator.conftest import PARENT
from vxdeploy.emulator.errors import ApiError
from vxdeploy.emulator.prediction import _check_predict_body

SHELL_MODEL = {"displayName": "evil", "containerSpec": {
    "imageUri": "evil", "command": ["/bin/sh", "-c", "touch /tmp/pwned"]}}


def _raw(emulator, method: str, path: str, body: bytes = b"", **headers: str):
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name.replace("_", "-"), value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _local(emulator) -> str:
    return f"127.0.0.1:{emulator.port}"


def _upload_body() -> bytes:
    return json.dumps({"model": SHELL_MODEL}).encode()


@pytest.mark.parametrize("headers", [
    {"Host": "evil.example:80", "Content_Type": "text/plain"},            # DNS rebinding
    {"Host": "evil.example", "Content_Type": "application/json"},
    {"Host": "LOCAL", "Origin": "http://evil.example", "Content_Type": "text/plain"},
    {"Host": "LOCAL", "Origin": "http://evil.example", "Content_Type": "application/json"},
    {"Host": "LOCAL", "Origin": "null", "Content_Type": "application/json"},
    {"Host": "LOCAL", "Content_Type": "text/plain"},                      # simple request
    {"Host": "LOCAL", "Content_Type": "application/x-www-form-urlencoded"},
    {"Host": "LOCAL"},                                                    # body, no type
    {"Host": "LOCAL", "Sec_Fetch_Site": "cross-site", "Content_Type": "application/json"},
], ids=["rebind-text", "rebind-json", "origin-text", "origin-json", "origin-null",
        "text-plain", "form", "no-type", "sec-fetch-cross-site"])
def test_cross_site_upload_is_refused_and_changes_nothing(emulator, admin, headers):
    headers = {k: (_local(emulator) if v == "LOCAL" else v) for k, v in headers.items()}
    status, _, out = _raw(emulator, "POST", f"/v1/{PARENT}/models:upload", _upload_body(),
                          **headers)
    assert status in (403, 415), out
    error = json.loads(out)["error"]
    assert error["status"] in ("PERMISSION_DENIED", "INVALID_ARGUMENT")
    assert not [e for e in admin.requests(mutating=True) if e["status"] == 200]
    status, _, out = _raw(emulator, "GET", f"/v1/{PARENT}/models", Host=_local(emulator))
    assert status == 200 and json.loads(out).get("models", []) == []


def test_preflight_gets_no_cors(emulator):
    status, headers, out = _raw(emulator, "OPTIONS", f"/v1/{PARENT}/endpoints",
                                Host=_local(emulator), Origin="http://evil.example",
                                Access_Control_Request_Method="POST")
    assert status == 403
    assert not [name for name in headers if name.lower().startswith("access-control-")]
    assert json.loads(out)["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}",
                                  "localhost"])
def test_local_json_requests_are_served(emulator, host):
    body = json.dumps({"displayName": "ok"}).encode()
    status, _, out = _raw(emulator, "POST", f"/v1/{PARENT}/endpoints", body,
                          Host=host.format(port=emulator.port),
                          Origin=f"http://localhost:{emulator.port}",
                          Content_Type="application/json; charset=utf-8")
    assert status == 200, out


def test_foreign_port_in_host_is_refused(emulator):
    status, _, _ = _raw(emulator, "GET", f"/v1/{PARENT}/endpoints",
                        Host=f"127.0.0.1:{emulator.port + 1}")
    assert status == 403


def test_deeply_nested_body_is_a_400_not_a_500(emulator):
    _raw(emulator, "POST", f"/v1/{PARENT}/endpoints?endpointId=7", b'{"displayName": "deep"}',
         Host=_local(emulator), Content_Type="application/json")
    body = b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for path in (f"/v1/{PARENT}/endpoints", f"/v1/{PARENT}/endpoints/7:deployModel"):
        status, _, out = _raw(emulator, "POST", path, body, Host=_local(emulator),
                              Content_Type="application/json")
        assert status == 400, (path, out[:200])
        assert "nested too deeply" in json.loads(out)["error"]["message"]
    # Predict parses its body on its own fast path (no deployed model is needed to see it).
    with pytest.raises(ApiError, match="nested too deeply") as caught:
        _check_predict_body(body)
    assert caught.value.http_status == 400
