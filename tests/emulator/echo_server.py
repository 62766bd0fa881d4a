"""A tiny model server that follows Vertex's container contract, for emulator tests.

It starts in milliseconds (stdlib only), so tests of routing, faults and restarts run
real servers through the real process runtime without paying for torch. It answers each
instance with what it knows about itself, so a test can see which deployed model served a
request and what environment Vertex (the emulator) gave it.

Knobs: ECHO_FAIL_STATUS=503 makes every predict fail with that status; ECHO_EXIT=1 exits
at start (a server that never becomes ready); ECHO_START_DELAY_S=N waits N seconds before
listening (a server still starting); ECHO_HEALTH_FAILED=reason answers health 503 with
{"status": "failed", "error": reason}, as a vxserve server whose model failed to load.
"""

import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if os.environ.get("ECHO_EXIT"):
    print("echo server: exiting on purpose (ECHO_EXIT)", flush=True)
    sys.exit(3)

time.sleep(float(os.environ.get("ECHO_START_DELAY_S") or 0))

HEALTH = os.environ["AIP_HEALTH_ROUTE"]
HEALTH_FAILED = os.environ.get("ECHO_HEALTH_FAILED", "")
if HEALTH_FAILED:
    print(f"echo server: model load failed: {HEALTH_FAILED}", flush=True)
PREDICT = os.environ["AIP_PREDICT_ROUTE"]
FAIL = int(os.environ.get("ECHO_FAIL_STATUS", "0"))
AIP = {k: v for k, v in os.environ.items() if k.startswith("AIP_")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; ECHO_NAGLE=1 keeps Nagle on to measure
    # how the emulator copes with servers that do not disable it.
    disable_nagle_algorithm = not os.environ.get("ECHO_NAGLE")

    def log_message(self, *args):
        pass

    def _send(self, status, document, content_type="application/json"):
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == HEALTH and HEALTH_FAILED:
            self._send(503, {"status": "failed", "error": HEALTH_FAILED})
        elif self.path == HEALTH:
            self._send(200, {"ok": True})
        elif self.path == "/env":
            self._send(200, AIP | {"ECHO_TAG": os.environ.get("ECHO_TAG", ""),
                                   "VXSERVE_CACHE_DIR": os.environ.get("VXSERVE_CACHE_DIR", "")})
        else:
            self._send(404, {"error": "no route"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != PREDICT:
            self._send(404, {"error": f"no route {self.path}"})
            return
        if FAIL:
            self._send(FAIL, {"error": f"echo server configured to fail with {FAIL}"})
            return
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self._send(200, b"raw:" + body, self.headers.get("Content-Type", "text/plain"))
            return
        request = json.loads(body)
        served_by = os.environ["AIP_DEPLOYED_MODEL_ID"]
        self._send(
            200,
            {
                "predictions": [
                    {
                        "instance": inst,
                        "served_by": served_by,
                        "tag": os.environ.get("ECHO_TAG", ""),
                    }
                    for inst in request["instances"]
                ]
            },
        )


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["AIP_HTTP_PORT"])), Handler)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"echo server on {server.server_address}", flush=True)
server.serve_forever(poll_interval=0.05)
