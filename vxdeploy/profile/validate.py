"""Turning a merged profile dict into a `Profile`, with every problem reported at once.

pydantic finds the structural problems; `rules` finds what only Vertex knows (machine ×
accelerator, scale-to-zero limits, networking exclusivity). Each problem is attributed to
the file (or environment variable) that set the offending value, or to the profile being
loaded when nobody set it.

A type error must not hide a rule: the broken values are dropped (their defaults stand
in), the profile is validated again, and the rules run on the result. A rule finding about
a field that was broken, or that names one, is left out: it would judge a stand-in value.
"""

from __future__ import annotations

import copy
import difflib
from enum import Enum
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from vxdeploy.profile.fields import field_at, field_root, is_section, model_at, vertex_rule
from vxdeploy.profile.model import Profile
from vxdeploy.profile.problems import Problem, ProfileError

# A bad value per round at least is removed, so this bounds rounds, not problems.
_MAX_ROUNDS = 8
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def source_of(sources: dict[str, str], dotted: str, default: str) -> str:
    """The layer that set `dotted`, or the nearest enclosing value that a layer set as a
    whole (an inline table); sections (`[machine]`) belong to no layer."""
    probe = dotted
    while probe:
        if probe in sources and not is_section(probe):
            return sources[probe]
        probe = probe.rpartition(".")[0]
    return default


def allowed_for(loc: tuple[Any, ...]) -> str:
    """What a field accepts, in words: enum values, the type and its bounds, the Vertex rule."""
    info = field_at(loc)
    if info is None:
        return ""
    annotation = info.annotation
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return ", ".join(str(m.value) for m in candidate)
    rule = vertex_rule(info)
    if rule:
        return rule
    words = _TYPE_NAMES.get(annotation, "") if isinstance(annotation, type) else ""
    bounds = []
    for meta in info.metadata:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{symbol} {value}")
    if words and bounds:
        return f"{words}, {' and '.join(bounds)}"
    return words


def _problem_from_pydantic(error: dict[str, Any], sources: dict[str, str], file: str) -> Problem:
    loc = tuple(p for p in error["loc"] if not isinstance(p, int))
    dotted = ".".join(str(p) for p in error["loc"])
    origin = source_of(sources, dotted, file)
    if error["type"] == "extra_forbidden":
        owner = model_at(loc[:-1])
        known = sorted(owner.model_fields) if owner else []
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        message = "unknown key" + (f"; did you mean {guess[0]!r}?" if guess else "")
        return Problem(origin, dotted, message, ", ".join(known))
    message = error["msg"]
    if error["type"] == "string_pattern_mismatch":
        message = "does not match the allowed form"
    if error["type"] not in ("missing",):
        message = f"{message} (got {error.get('input')!r})"
    return Problem(origin, dotted, message, allowed_for(loc))


def _drop(data: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _mentions(finding: tuple[str, str, str], broken: set[str]) -> bool:
    field, message, _ = finding
    return any(field == b or field.startswith(b + ".") or b.rsplit(".", 1)[-1] in message
               for b in broken)


def validate_merged(merged: dict[str, Any], sources: dict[str, str], path: Path, *,
                    check_rules: bool = True) -> Profile:
    """Build the Profile or raise ProfileError listing every structural and Vertex problem."""
    from vxdeploy.profile.rules import check_profile

    file = str(path)
    data = copy.deepcopy(merged)
    problems: list[Problem] = []
    broken: set[str] = set()
    profile: Profile | None = None
    for _ in range(_MAX_ROUNDS):
        try:
            profile = Profile.model_validate(data)
            break
        except ValidationError as exc:
            for error in exc.errors():
                problems.append(_problem_from_pydantic(dict(error), sources, file))
                root = field_root(error["loc"])
                if root:
                    broken.add(".".join(root))
                    _drop(data, root)
    if check_rules and profile is not None:
        problems.extend(
            Problem(source_of(sources, dotted, file), dotted, message, allowed)
            for dotted, message, allowed in check_profile(profile)
            if not _mentions((dotted, message, allowed), broken))
    if problems or profile is None:
        raise ProfileError(problems)
    return profile
