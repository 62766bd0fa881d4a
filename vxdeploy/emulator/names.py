"""Resource names: `projects/P/locations/L/{models|endpoints}/ID[@VERSION]`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from vxdeploy import catalog
from vxdeploy.emulator.errors import bad_field, invalid

_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/(models|endpoints)/([^/@]+)(?:@(.+))?$")


@dataclass(frozen=True)
class ResourceName:
    project: str
    location: str
    collection: str  # "models" | "endpoints"
    id: str
    version: str | None = None  # a version id or an alias ("@2", "@default")

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @property
    def base(self) -> str:
        """The name without `@version`."""
        return f"{self.parent}/{self.collection}/{self.id}"


def parse(name: str, collection: str, field: str = "name") -> ResourceName:
    match = _NAME.match(name or "")
    if not match or match.group(3) != collection:
        raise invalid(f"Invalid resource name {name!r}; expected "
                      f"projects/PROJECT/locations/LOCATION/{collection}/ID.", field)
    project, location, coll, rid, version = match.groups()
    check_location(location, field)
    if version is not None and collection != "models":
        raise invalid(f"Invalid resource name {name!r}: only models take @VERSION.", field)
    return ResourceName(project, location, coll, rid, version)


def parse_parent(parent: str, field: str = "parent") -> tuple[str, str]:
    match = re.match(r"^projects/([^/]+)/locations/([^/]+)$", parent or "")
    if not match:
        raise invalid(f"Invalid parent {parent!r}; expected projects/PROJECT/locations/LOCATION.",
                      field)
    check_location(match.group(2), field)
    return match.group(1), match.group(2)


def check_location(location: str, field: str) -> None:
    """A location must be a region where Vertex serves online prediction (the local
    emulator stands for every one of them on one URL)."""
    if location not in catalog.REGIONS:
        raise bad_field(field, f"Location \"{location}\" is not a Vertex AI region for "
                        f"online prediction; allowed: {', '.join(catalog.REGIONS)}.")


def project_number(project: str) -> str:
    """A stable 12-digit number for a project id (Vertex sets AIP_PROJECT_NUMBER)."""
    if project.isdigit():
        return project
    digest = int(hashlib.sha256(project.encode()).hexdigest(), 16)
    return str(100_000_000_000 + digest % 900_000_000_000)
