"""vxts: TorchServe behind a thin Vertex-shaped front.

TorchServe only answers its own routes (/ping, /predictions/<model>), while Vertex sends
health checks and predictions to whatever $AIP_HEALTH_ROUTE and $AIP_PREDICT_ROUTE say. So
this package runs TorchServe on loopback ports and puts a small ASGI front on
$AIP_HTTP_PORT that validates the request envelope, forwards it, and answers health from
TorchServe's worker status rather than from /ping (which says "Healthy" before any worker
has loaded the model).
"""
