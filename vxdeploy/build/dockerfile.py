"""Just enough Dockerfile reading to extend a bundled container without editing it.

vxdeploy appends the profile's own code as a few extra instructions at the end of the
bundled Dockerfile, and checks the base image before a build. Both need a little knowledge
of the file: which user the final stage runs as (pip needs root for a moment, the server
must go back to the container's non-root user) and the default of `ARG BASE_IMAGE`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BASE_IMAGE_ARG = "BASE_IMAGE"
_ARG_DEFAULT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, USER, ARG, ...
    value: str


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined and comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are skipped by docker
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = (pending + stripped).strip()
        pending = ""
        if line:
            keyword, _, value = line.partition(" ")
            found.append(Instruction(keyword.upper(), value.strip()))
    if pending.strip():
        keyword, _, value = pending.strip().partition(" ")
        found.append(Instruction(keyword.upper(), value.strip()))
    return found


def final_stage_user(text: str) -> str | None:
    """The user set by the last USER of the final stage, or None when it sets none."""
    user: str | None = None
    for item in instructions(text):
        if item.keyword == "FROM":
            user = None
        elif item.keyword == "USER":
            user = item.value
    return user


def global_args(text: str) -> dict[str, str | None]:
    """ARGs declared before the first FROM (the ones FROM lines may use), with defaults."""
    args: dict[str, str | None] = {}
    for item in instructions(text):
        if item.keyword == "FROM":
            break
        if item.keyword == "ARG":
            match = _ARG_DEFAULT.match(item.value)
            if match:
                default = match.group(2)
                args[match.group(1)] = default.strip("\"'") if default is not None else None
    return args


def default_base_image(text: str) -> str | None:
    """The default of `ARG BASE_IMAGE=...`, if the Dockerfile declares one."""
    return global_args(text).get(BASE_IMAGE_ARG)


def takes_base_image(text: str) -> bool:
    return BASE_IMAGE_ARG in global_args(text)


def add_user_layer(text: str, lines: list[str]) -> str:
    """The Dockerfile with `lines` appended to its final stage, run as root when needed.

    The final stage's user (if it set one) is restored afterwards, so the image keeps
    running as the container's non-root user.
    """
    user = final_stage_user(text)
    block = ["", "# --- added by `vxdeploy build`: the profile's own code ---"]
    if user is not None and user not in ("root", "0", "0:0"):
        block.append("USER root")
        block.extend(lines)
        block.append(f"USER {user}")
    else:
        block.extend(lines)
    return text.rstrip("\n") + "\n" + "\n".join(block) + "\n"
