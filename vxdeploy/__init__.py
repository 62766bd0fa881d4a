"""vxdeploy: infrastructure as code for Vertex AI prediction endpoints.

Kept import-free on purpose: `vxdeploy --help` must not pay for the Google SDK, gRPC,
torch or docker, so nothing heavy may be imported at package level.
"""

__version__ = "0.1.0"
