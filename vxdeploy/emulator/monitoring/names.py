"""Resource names the Monitoring services accept, checked before anything is looked up."""

from __future__ import annotations

import re

from vxdeploy.emulator.monitoring.errors import invalid

_PROJECT = re.compile(r"^projects/([^/]+)$")


def project_of(parent: str, *, field: str = "name") -> str:
    """The project id in `projects/P`, or INVALID_ARGUMENT naming the field."""
    match = _PROJECT.match(parent or "")
    if not match:
        raise invalid(f"{field} {parent!r} must look like projects/PROJECT_ID_OR_NUMBER")
    return match.group(1)


def child_of(name: str, collection: str, *, field: str = "name") -> tuple[str, str]:
    """(project, id) of `projects/P/<collection>/ID`."""
    match = re.match(rf"^projects/([^/]+)/{collection}/([^/]+)$", name or "")
    if not match:
        raise invalid(f"{field} {name!r} must look like projects/PROJECT/{collection}/ID")
    return match.group(1), match.group(2)
