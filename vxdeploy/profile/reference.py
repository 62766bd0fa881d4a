"""The profile reference, generated from the pydantic models: a JSON Schema for editors and
docs/profiles.md for people.

Both come from the same declarations the loader validates with, so they cannot drift from
the code; tests/profile/test_reference.py fails when the committed docs/profiles.md is stale
(regenerate with `vxdeploy profiles docs --write docs/profiles.md` or
`python scripts/gen_profile_docs.py`).
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from vxdeploy.profile.model import RULE_KEY, Profile

# Set by the loader from the file name; a file cannot set it, so editors should not offer it.
_HIDDEN = {"name"}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a profile file, as editors with TOML support use it."""
    schema = Profile.model_json_schema(mode="validation")
    for key in _HIDDEN:
        schema["properties"].pop(key, None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "vxdeploy profile", **{k: v for k, v in schema.items() if k != "title"}}


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Union or str(origin) == "types.UnionType":
        return " or ".join(_type_name(a) for a in get_args(annotation) if a is not type(None))
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        return f"list of {_type_name(item)}"
    if origin is dict:
        key, value = get_args(annotation) or (Any, Any)
        return f"table of {_type_name(key)} → {_type_name(value)}"
    if str(origin) == "typing.Annotated" or hasattr(annotation, "__metadata__"):
        return _type_name(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "string"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if isinstance(annotation, type) and annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation))


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _toml(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | list | dict | type(None)):
        return json.dumps(value) if value is not None else "(none)"
    return str(value)


def _allowed(info: FieldInfo) -> str:
    annotation = info.annotation
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return ", ".join(f"`{m.value}`" for m in candidate)
    parts = []
    for meta in info.metadata:
        for attr, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
        for attr, word in (("min_length", "length ≥"), ("max_length", "length ≤")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{word} {value}")
        pattern = getattr(meta, "pattern", None)
        if pattern:
            parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _sections(model: type[BaseModel], prefix: str = "") -> list[tuple[str, type[BaseModel]]]:
    found = [(prefix, model)]
    for name, info in model.model_fields.items():
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            found.extend(_sections(nested, f"{prefix}{name}."))
    return found


def render_markdown() -> str:
    """docs/profiles.md: every field with its type, default, allowed values and Vertex rule."""
    lines = [
        "# Profile reference",
        "",
        "<!-- Generated from vxdeploy/profile/model.py by `vxdeploy profiles docs --write "
        "docs/profiles.md`; do not edit by hand. -->",
        "",
        "A profile is a TOML file describing one deployment. Values merge in this order, later "
        "wins: defaults < `extends` (left to right) < the file < `VXDEPLOY_SECTION__FIELD` "
        "environment variables < `--set section.field=value`. `vxdeploy profiles show NAME` "
        "prints the result and where each value came from (`default` for defaults).",
        "",
        "- `extends = \"base\"` builds on `base.toml` next to the file (or in the profiles "
        "folder); `extends = \"bundled:base\"` on the example profiles shipped with vxdeploy "
        "(its `profiles/` folder), from any folder. A name that is not found is refused with "
        "the list of what exists.",
        "- Types are strict: `max_replicas = \"2\"`, `max_replicas = true` and `spot = \"yes\"` "
        "are errors, not coerced. Unknown keys are errors.",
        "- `name` is the file name and `extends` describes the file: neither can be set with "
        "`--set` or the environment.",
        "- `vxdeploy profiles validate` reports every problem at once with exit code 2: the "
        "file that set the value, the field and what is allowed.",
        "",
        "## Editor support: JSON Schema",
        "",
        "`vxdeploy profiles schema > profile.schema.json` writes a JSON Schema of this "
        "reference. Editors with TOML schema support (Taplo, and VS Code's *Even Better TOML* "
        "extension which uses it) then complete field names, show these descriptions and flag "
        "wrong types and unknown keys as you type. Either put a directive on the profile's "
        "first line:",
        "",
        "```toml",
        "#:schema ./profile.schema.json",
        "extends = \"bundled:base\"",
        "```",
        "",
        "or map every profile in the project once, in `.taplo.toml`:",
        "",
        "```toml",
        "[[rule]]",
        "include = [\"profiles/*.toml\"]",
        "[rule.schema]",
        "path = \"./profile.schema.json\"",
        "```",
        "",
        "(in VS Code the same mapping can go in `settings.json` as "
        "`\"evenBetterToml.schema.associations\": {\"profiles/.*\\\\.toml\": "
        "\"./profile.schema.json\"}`). The schema checks types and shapes; the Vertex rules "
        "that span fields (machine × accelerator, networking) are checked by "
        "`vxdeploy profiles validate`.",
        "",
    ]
    for prefix, model in _sections(Profile):
        title = f"`[{prefix.rstrip('.')}]`" if prefix else "Top level"
        lines += [f"## {title}", "", (model.__doc__ or "").strip().splitlines()[0], "",
                  "| field | type | default | allowed | description and Vertex rule |",
                  "|---|---|---|---|---|"]
        for name, info in model.model_fields.items():
            if not prefix and name in _HIDDEN:
                continue
            nested = info.annotation
            if isinstance(nested, type) and issubclass(nested, BaseModel):
                continue
            default = info.get_default(call_default_factory=True)
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            rule = extra.get(RULE_KEY, "")
            text = info.description or ""
            if rule:
                text = f"{text} **Rule:** {rule}." if text else f"**Rule:** {rule}."
            lines.append("| " + " | ".join(_cell(c) for c in (
                f"`{prefix}{name}`", _type_name(info.annotation), f"`{_toml(default)}`",
                _allowed(info), text)) + " |")
        lines.append("")
    return "\n".join(lines)
