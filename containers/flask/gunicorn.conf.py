"""gunicorn settings for the Flask server, read from the environment Vertex provides.

One worker process holds one model (models are large; Vertex scales with replicas, not
workers). Its gthread pool must be at least the expected concurrency so that concurrent
requests reach the batching queue together. The model loads in a background thread
after the worker starts so the health route answers 503 until it is warmed up; SIGTERM
drains (new predictions 503, in-flight ones finish) before the worker stops.
"""

import os
import signal

from vxserve.config import ServeConfig

_settings = ServeConfig.from_env()  # a bad AIP_*/VXSERVE_* value stops the start here

bind = [f"{_settings.http_host}:{_settings.http_port}"]
wsgi_app = "app:create_app()"
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("VXSERVE_HTTP_THREADS", "64"))
worker_connections = threads + 256  # room for idle kept-alive client connections
keepalive = 75  # longer than common load balancers' idle timeouts
timeout = 0  # the worker heartbeat; 0 because a long model load must not get it killed
graceful_timeout = int(_settings.drain_timeout_s) + 5
accesslog = os.environ.get("VXSERVE_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("VXSERVE_LOG_LEVEL", "info")
forwarded_allow_ips = "127.0.0.1"
control_socket_disable = (
    True  # gunicorn >= 24: one shared ~/.gunicorn socket breaks parallel servers
)


def post_worker_init(worker):
    """Start loading the model, and route SIGTERM through the service's drain."""
    service = worker.wsgi.config["VXSERVE_SERVICE"]
    service.load_in_background()
    stop = worker.handle_exit

    def on_sigterm(sig, frame):
        service.drain_then(lambda: stop(sig, None))

    signal.signal(signal.SIGTERM, on_sigterm)
