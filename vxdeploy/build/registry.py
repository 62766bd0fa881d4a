"""Where a profile's image goes, and the credentials to push it there.

Vertex only runs images from an Artifact Registry repository in the Model's own region, so
the repository comes from the profile (`{region}-docker.pkg.dev/{project}/{repository}`)
and a registry host in another region is refused before anything is built. Tests and
private mirrors replace the host with VXDEPLOY_REGISTRY (or --registry), e.g.
`127.0.0.1:5000`, pushed to without auth.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from vxdeploy.errors import InvalidInputError, VxError
from vxdeploy.profile.model import Profile

REGISTRY_ENV = "VXDEPLOY_REGISTRY"
_AR_HOST = re.compile(r"^(?P<region>[a-z]+-[a-z]+\d+)-docker\.pkg\.dev$")
_HOST = re.compile(r"^[a-zA-Z0-9.-]+(:\d+)?$")
_NAME_BAD = re.compile(r"[^a-z0-9]+")
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass(frozen=True)
class ImageTarget:
    """The repository path (no tag) an image is tagged and pushed as."""

    host: str
    repository: str  # host/project/repo/name

    @property
    def artifact_registry(self) -> bool:
        return _AR_HOST.match(self.host) is not None


def image_name(profile: Profile) -> str:
    """`{model display name}-{container}`, lowered to what a registry path accepts."""
    slug = _NAME_BAD.sub("-", profile.model.display_name.lower()).strip("-") or "model"
    return f"{slug}-{profile.model.container.value}"


def image_target(profile: Profile, registry: str | None = None) -> ImageTarget:
    """The image repository for a profile; `registry` (or $VXDEPLOY_REGISTRY) swaps the host."""
    override = (registry if registry is not None else os.environ.get(REGISTRY_ENV, "")).strip()
    override = override.removeprefix("https://").removeprefix("http://").rstrip("/")
    if override:
        if not _HOST.match(override):
            raise InvalidInputError(
                f"registry {override!r} is not a host[:port], e.g. 127.0.0.1:5000 or "
                f"{profile.region}-docker.pkg.dev")
        host = override
        repository = f"{host}/{profile.project}/{profile.artifact_registry}/{image_name(profile)}"
    else:
        host = f"{profile.region}-docker.pkg.dev"
        repository = f"{profile.image_repository}/{image_name(profile)}"
    check_region(host, profile.region)
    return ImageTarget(host, repository)


def check_region(host: str, region: str) -> None:
    """Refuse an Artifact Registry host in another region: Vertex could not pull from it."""
    match = _AR_HOST.match(host)
    if match and match.group("region") != region:
        raise InvalidInputError(
            f"registry {host} is in region {match.group('region')}, but the profile deploys to "
            f"{region}: Vertex pulls images only from Artifact Registry in the Model's region; "
            f"use {region}-docker.pkg.dev or change the profile's region")


def auth_config(target: ImageTarget) -> dict[str, str] | None:
    """Push credentials: an ADC access token for Artifact Registry, none for other hosts."""
    if not target.artifact_registry:
        return None
    import google.auth
    import google.auth.transport.requests
    from google.auth.exceptions import DefaultCredentialsError, RefreshError

    try:
        credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
    except (DefaultCredentialsError, RefreshError) as exc:
        raise VxError(
            f"cannot get credentials to push to {target.host}: {exc}",
            hint="run `gcloud auth application-default login` (or set "
                 "GOOGLE_APPLICATION_CREDENTIALS to a service account key with "
                 "roles/artifactregistry.writer)") from None
    return {"username": "oauth2accesstoken", "password": str(credentials.token)}
