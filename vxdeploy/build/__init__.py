"""Serving images: build contexts, Docker Engine builds, pushes to Artifact Registry.

`build_image(loaded_profile, push=True)` is what deploy calls: it returns a `BuildResult`
whose `reference` (`image@sha256:...`) is the immutable image a Model version points at.
Importing this package is cheap; the `docker` and `google.auth` libraries load on first use.
"""

from vxdeploy.build.builder import (
    BaseImageUnavailableError,
    BuildFailedError,
    BuildResult,
    PushFailedError,
    build_image,
    prepare_context,
)
from vxdeploy.build.context import BuildContext, UserCode, assemble_context

__all__ = [
    "BaseImageUnavailableError",
    "BuildContext",
    "BuildFailedError",
    "BuildResult",
    "PushFailedError",
    "UserCode",
    "assemble_context",
    "build_image",
    "prepare_context",
]
