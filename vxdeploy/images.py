"""Which image a deployment runs: always immutable, for Vertex always pinned by digest."""

from __future__ import annotations

from typing import Any

from vxdeploy.desired import local_image_for
from vxdeploy.errors import InvalidInputError
from vxdeploy.profile import LoadedProfile
from vxdeploy.profile.model import ContainerKind, LocalRuntime, Target


def resolve_image(loaded: LoadedProfile, image: str | None, *, build: bool,
                  output: Any = None) -> str:
    """The image reference the model version records.

    Local process deployments run the bundled folder, so they record a fixed local name.
    Otherwise the image is `--image`, else `model.image`, else built from the bundled
    container (`--build`); on Vertex it must be `...@sha256:` so a moved tag can never
    change what a model version serves.
    """
    profile = loaded.profile
    chosen = image or profile.model.image
    local = profile.target is Target.LOCAL
    if local and profile.local.runtime is LocalRuntime.PROCESS and not chosen:
        return local_image_for(profile)
    if not chosen:
        if profile.model.container is ContainerKind.CUSTOM:
            raise InvalidInputError("model.image: a custom container needs an image")
        if not build and not local:
            raise InvalidInputError(
                f"no image for profile {profile.name}: Vertex deploys images by digest",
                hint=f"run `vxdeploy build --profile {profile.name} --push` and pass "
                "--image REF@sha256:..., or add --build to build and push now")
        from vxdeploy.build import build_image

        result = build_image(loaded, push=not local, output=output)
        return result.digest_ref if not local else result.image
    if not local and "@sha256:" not in chosen:
        raise InvalidInputError(
            f"image {chosen!r} is a mutable tag; Vertex deployments are pinned by digest",
            hint="pass the digest printed by `vxdeploy build --push` (IMAGE@sha256:...)")
    return chosen
