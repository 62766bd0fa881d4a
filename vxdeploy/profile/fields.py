"""Looking up profile fields by their dotted path, for errors, overrides, provenance and docs.

The pydantic models are the single description of a profile; everything that needs to
know "what is `machine.spot`?" (its type, whether it is a section, its Vertex rule) asks
here instead of keeping a second list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from vxdeploy.profile.model import RULE_KEY, Profile


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def model_at(loc: Sequence[Any]) -> type[BaseModel] | None:
    """The pydantic model class at `loc` (a path of field names), or None if not a section."""
    model: type[BaseModel] = Profile
    for part in loc:
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        nested = _nested_model(info.annotation)
        if nested is None:
            return None
        model = nested
    return model


def field_at(loc: Sequence[Any]) -> FieldInfo | None:
    """The FieldInfo of the leaf field at `loc`, or None for sections and unknown paths."""
    if not loc:
        return None
    owner = model_at(loc[:-1])
    if owner is None:
        return None
    info = owner.model_fields.get(str(loc[-1]))
    if info is None or _nested_model(info.annotation) is not None:
        return None
    return info


def is_section(dotted: str) -> bool:
    """True for `machine`, `machine.autoscaling`…: tables, not values a layer can own."""
    return bool(dotted) and model_at(dotted.split(".")) is not None


def field_root(loc: Sequence[Any]) -> tuple[str, ...]:
    """The part of an error location that names a field (drops list indexes, dict keys)."""
    parts: list[str] = []
    model: type[BaseModel] | None = Profile
    for part in loc:
        if model is None or isinstance(part, int):
            break
        info = model.model_fields.get(str(part))
        parts.append(str(part))
        if info is None:
            break
        model = _nested_model(info.annotation)
    return tuple(parts)


def vertex_rule(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, dict):
        value = extra.get(RULE_KEY)
        return value if isinstance(value, str) else ""
    return ""
