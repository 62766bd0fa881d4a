"""Turning a merged profile dict into a `Profile`, with every problem reported at once.

pydantic finds the structural problems; `rules` finds what only Vertex knows (machine ×
accelerator, scale-to-zero limits, networking exclusivity). Each problem is attributed to
the file (or environment variable) that set the offending value.
"""

from __future__ import annotations

import difflib
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from vxdeploy.profile.model import Profile
from vxdeploy.profile.problems import Problem, ProfileError


def _source(sources: dict[str, str], dotted: str, default: str) -> str:
    probe = dotted
    while probe:
        if probe in sources:
            return sources[probe]
        probe = probe.rpartition(".")[0]
    return default


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the field at `loc` (a path of field names)."""
    model: type[BaseModel] = Profile
    for part in loc:
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        annotation = info.annotation
        candidates = [annotation, *get_args(annotation)]
        nested = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)),
                      None)
        if nested is None:
            return None
        model = nested
    return model


def _allowed_for(loc: tuple[Any, ...]) -> str:
    owner = _model_at(loc[:-1])
    if owner is None:
        return ""
    info = owner.model_fields.get(str(loc[-1]))
    if info is None:
        return ""
    annotation = info.annotation
    for candidate in [annotation, *get_args(annotation)]:
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return ", ".join(str(m.value) for m in candidate)
        if get_origin(candidate) is None and candidate is bool:
            return "true, false"
    return ""


def _problem_from_pydantic(error: dict[str, Any], sources: dict[str, str], file: str) -> Problem:
    loc = tuple(p for p in error["loc"] if not isinstance(p, int))
    dotted = ".".join(str(p) for p in error["loc"])
    origin = _source(sources, dotted, file)
    if error["type"] == "extra_forbidden":
        owner = _model_at(loc[:-1])
        known = sorted(owner.model_fields) if owner else []
        guess = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        message = "unknown key" + (f"; did you mean {guess[0]!r}?" if guess else "")
        return Problem(origin, dotted, message, ", ".join(known))
    message = error["msg"]
    if error["type"] not in ("missing",):
        message = f"{message} (got {error.get('input')!r})"
    return Problem(origin, dotted, message, _allowed_for(loc))


def validate_merged(merged: dict[str, Any], sources: dict[str, str], path: Path, *,
                    check_rules: bool = True) -> Profile:
    """Build the Profile or raise ProfileError listing every structural and Vertex problem."""
    from vxdeploy.profile.rules import check_profile

    file = str(path)
    try:
        profile = Profile.model_validate(merged)
    except ValidationError as exc:
        problems = [_problem_from_pydantic(e, sources, file) for e in exc.errors()]
        raise ProfileError(problems) from None
    if check_rules:
        problems = [
            Problem(_source(sources, dotted, file), dotted, message, allowed)
            for dotted, message, allowed in check_profile(profile)
        ]
        if problems:
            raise ProfileError(problems)
    return profile
