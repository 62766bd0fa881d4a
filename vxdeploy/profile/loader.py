"""Loading profiles: TOML files, `extends` chains, environment and CLI overrides.

Layers merge in a fixed order — defaults < extended profiles < the profile < `VXDEPLOY_*`
environment < CLI `--set` — and every leaf remembers which layer set it, so errors can
name the file that holds the bad value and `profiles show` can say where each value came
from.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vxdeploy.errors import InvalidInputError
from vxdeploy.profile.model import Profile
from vxdeploy.profile.problems import Problem, ProfileError

DEFAULT_SOURCE = "default"
# `extends = "bundled:base"` names an example profile shipped with vxdeploy, so a user's own
# profiles folder can build on them without copying.
BUNDLED_PREFIX = "bundled:"
ENV_PREFIX = "VXDEPLOY_"
# Keys that describe the file itself rather than the deployment: never overridable.
_NOT_OVERRIDABLE = ("name", "extends")
# Fields holding local paths: relative ones are relative to the file that set them.
_PATH_FIELDS = ("model.artifact_uri", "model.handler", "model.model_code", "model.requirements")


@dataclass
class LoadedProfile:
    """A validated profile with the provenance of every value that was set explicitly."""

    profile: Profile
    path: Path
    chain: list[Path]
    sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, dotted: str) -> str:
        """The layer that set `dotted` (or an inline table holding it), else "default".

        A `[machine]` table in base.toml does not make base.toml the source of every
        machine field: only values a layer wrote count.
        """
        from vxdeploy.profile.validate import source_of

        return source_of(self.sources, dotted, DEFAULT_SOURCE)


def resolve_profile_path(name_or_path: str, profiles_dir: Path) -> Path:
    """A profile is named by file stem (`prod-a100`) or given as a path to a TOML file."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or os.sep in name_or_path:
        if candidate.is_file():
            return candidate
        raise InvalidInputError(f"{candidate}: profile file not found")
    path = profiles_dir / f"{name_or_path}.toml"
    if path.is_file():
        return path
    known = sorted(p.stem for p in profiles_dir.glob("*.toml")) if profiles_dir.is_dir() else []
    hint = difflib.get_close_matches(name_or_path, known, n=1)
    message = f"profile {name_or_path!r} not found in {profiles_dir}"
    if hint:
        message += f"; did you mean {hint[0]!r}?"
    elif known:
        message += f"; available: {', '.join(known)}"
    raise InvalidInputError(message)


def list_profiles(profiles_dir: Path) -> list[Path]:
    return sorted(profiles_dir.glob("*.toml")) if profiles_dir.is_dir() else []


_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def describe_toml_error(text: str, error: tomllib.TOMLDecodeError) -> tuple[str, str]:
    """(dotted key, message) for a TOML syntax error: the table and key being parsed and the
    offending line itself, since "line 7, column 12" alone sends people counting."""
    match = _TOML_POSITION.search(str(error))
    reason = _TOML_POSITION.sub("", str(error)).strip()
    if not match:
        return "", f"not valid TOML: {reason}"
    lineno = int(match.group(1))
    lines = text.splitlines()
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    table = ""
    for previous in reversed(lines[:lineno - 1]):
        header = _TOML_HEADER.match(previous)
        if header:
            table = header.group(1).replace(" ", "")
            break
    key = line.split("=", 1)[0].strip() if "=" in line else ""
    key = key if re.fullmatch(r"[A-Za-z0-9_.\-\"' ]+", key or "-") else ""
    dotted = ".".join(p for p in (table, key.replace(" ", "")) if p)
    return dotted, (f"not valid TOML at line {lineno}: {reason}\n"
                    f"      {lineno} | {line.rstrip()}")


def _read_toml(path: Path) -> dict[str, Any]:
    from vxdeploy.textfile import read_text

    text = read_text(path, what="profile")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        dotted, message = describe_toml_error(text, exc)
        raise ProfileError([Problem(str(path), dotted, message)]) from exc


def _extends_list(raw: Mapping[str, Any], path: Path) -> list[str]:
    value = raw.get("extends")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ProfileError([Problem(str(path), "extends",
                                "must be a profile name or a list of names")])


def _merge(base: dict[str, Any], overlay: Mapping[str, Any], source: str,
           sources: dict[str, str], prefix: str = "") -> None:
    """Deep-merge `overlay` into `base`; tables merge, everything else is replaced."""
    for key, value in overlay.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            sources.setdefault(dotted, source)
            _merge(base[key], value, source, sources, dotted + ".")
        else:
            base[key] = _copy(value)
            sources[dotted] = source
            for stale in [k for k in sources if k.startswith(dotted + ".")]:
                del sources[stale]
            if isinstance(value, Mapping):
                _record_leaves(value, source, sources, dotted + ".")


def _record_leaves(value: Mapping[str, Any], source: str, sources: dict[str, str],
                   prefix: str) -> None:
    for key, item in value.items():
        sources[f"{prefix}{key}"] = source
        if isinstance(item, Mapping):
            _record_leaves(item, source, sources, f"{prefix}{key}.")


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _find_parent(parent_name: str, path: Path, profiles_dir: Path) -> Path:
    """`extends = "NAME"`: a sibling file, else one in the profiles folder;
    `extends = "bundled:NAME"`: one of the example profiles shipped with vxdeploy."""
    from vxdeploy.paths import example_profiles_dir

    if parent_name.startswith(BUNDLED_PREFIX):
        name = parent_name[len(BUNDLED_PREFIX):]
        folders = [example_profiles_dir()]
        label = "bundled profile"
    else:
        name = parent_name
        sibling = path.parent / f"{name}.toml"
        folders = [path.parent if sibling.is_file() else profiles_dir]
        label = "extended profile"
    parent_path = folders[0] / f"{name}.toml"
    if name and "/" not in name and parent_path.is_file():
        return parent_path
    bundled = [BUNDLED_PREFIX + p.stem for p in list_profiles(example_profiles_dir())]
    if parent_name.startswith(BUNDLED_PREFIX):
        known = bundled
        hint = difflib.get_close_matches(parent_name, known, n=1, cutoff=0.8)
    else:
        known = [p.stem for p in list_profiles(folders[0])] + bundled
        hint = ([BUNDLED_PREFIX + name] if BUNDLED_PREFIX + name in bundled
                else difflib.get_close_matches(parent_name, known, n=1))
    extra = f"; did you mean {hint[0]!r}?" if hint else ""
    raise ProfileError([Problem(str(path), "extends",
                                f"{label} {name!r} not found in {folders[0]}{extra}",
                                ", ".join(known))])


def _layers(path: Path, profiles_dir: Path,
            seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """The file and its ancestors, furthest ancestor first; cycles are errors."""
    resolved = path.resolve()
    if resolved in seen:
        cycle = " -> ".join(p.stem for p in (*seen, resolved))
        raise ProfileError([Problem(str(path), "extends", f"inheritance cycle: {cycle}")])
    raw = _read_toml(path)
    layers: list[tuple[Path, dict[str, Any]]] = []
    for parent_name in _extends_list(raw, path):
        parent_path = _find_parent(parent_name, path, profiles_dir)
        layers.extend(_layers(parent_path, profiles_dir, (*seen, resolved)))
    layers.append((path, raw))
    return layers


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`VXDEPLOY_SECTION__FIELD=value` variables as a nested dict, read by pydantic-settings."""
    from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

    class ProfileEnvironment(BaseSettings, Profile):
        model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__",
                                          case_sensitive=False, extra="forbid")

    environ = os.environ if environ is None else environ
    source = EnvSettingsSource(ProfileEnvironment, case_sensitive=False)
    source.env_vars = {k.lower(): v for k, v in environ.items()}
    values = source()
    for key in _NOT_OVERRIDABLE:
        values.pop(key, None)
    return values


def _env_source_names(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    names: dict[str, str] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            names.update(_env_source_names(value, dotted + "."))
        else:
            names[dotted] = "env " + ENV_PREFIX + dotted.replace(".", "__").upper()
    return names


def parse_set_options(assignments: Sequence[str]) -> dict[str, Any]:
    """`--set machine.min_replicas=2` pairs as a nested dict; values parse as TOML if they can."""
    tree: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInputError(f"--set {assignment!r}: expected FIELD=VALUE, "
                                    "for example --set machine.min_replicas=2")
        parts = key.split(".")
        if key in _NOT_OVERRIDABLE:
            raise InvalidInputError(
                f"--set {assignment!r}: {key} cannot be overridden; it describes the profile "
                "file itself", hint="pick another profile with --profile, or edit the file")
        value = _parse_override(parts, text)
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InvalidInputError(f"--set {assignment!r}: {part} is set twice")
        node[parts[-1]] = value
    return tree


def _parse_override(parts: list[str], text: str) -> Any:
    """A TOML literal when it parses (`2`, `true`, `[10, 100]`); plain text for string
    fields, so `--set project=123456` stays the string it must be."""
    from vxdeploy.profile.fields import field_at

    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    info = field_at(parts)
    if info is not None and info.annotation is str and not isinstance(value, str):
        return text
    return value


def _resolve_relative_paths(merged: dict[str, Any], sources: dict[str, str]) -> None:
    """Make relative local paths absolute against the profile file that set them."""
    for dotted in _PATH_FIELDS:
        section, _, key = dotted.partition(".")
        value = merged.get(section, {}).get(key) if isinstance(merged.get(section), dict) else None
        if not isinstance(value, str) or not value or "://" in value or Path(value).is_absolute():
            continue
        origin = Path(sources.get(dotted, ""))
        base = origin.parent if origin.suffix == ".toml" else Path.cwd()
        merged[section][key] = str((base / value).resolve())


def load_profile(name_or_path: str, profiles_dir: Path, *,
                 cli_overrides: Sequence[str] = (),
                 environ: Mapping[str, str] | None = None,
                 check_rules: bool = True) -> LoadedProfile:
    """Load, merge, override and validate one profile; raises ProfileError with every problem."""
    from vxdeploy.profile.validate import validate_merged

    path = resolve_profile_path(name_or_path, profiles_dir)
    layers = _layers(path, profiles_dir)
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer_path, raw in layers:
        if "name" in raw:
            raise ProfileError([Problem(str(layer_path), "name",
                                        "a profile's name is its file name; remove this key",
                                        "(not settable)")])
        body = {k: v for k, v in raw.items() if k != "extends"}
        _merge(merged, body, str(layer_path), sources)
    env_values = env_overrides(environ)
    for dotted, label in _env_source_names(env_values).items():
        sources[dotted] = label
    _merge(merged, env_values, "env", {})
    cli_values = parse_set_options(cli_overrides)
    _merge(merged, cli_values, "cli --set", sources)
    merged["name"] = path.stem
    _resolve_relative_paths(merged, sources)
    sources.pop("name", None)
    profile = validate_merged(merged, sources, path, check_rules=check_rules)
    return LoadedProfile(profile, path, [p for p, _ in layers], sources)
