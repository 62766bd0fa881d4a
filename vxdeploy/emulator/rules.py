"""Vertex's own request rules, enforced so mistakes fail locally exactly as they would remotely.

Pure functions over plain values: every rule raises an ApiError whose message names the field
and, where there is a closed set, the allowed values.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from vxdeploy import catalog
from vxdeploy.emulator.errors import ApiError, bad_field, invalid

T = TypeVar("T")

# The REST reference's id rules. UploadModelRequest.model_id: up to 63 of [a-z0-9_-], not
# starting with a number or hyphen. CreateEndpointRequest.endpoint_id: a letter then up to
# 63 of [a-z0-9-] ending in a letter or number, or up to 9 digits without a leading zero
# (Vertex's own generated ids are longer; only a chosen id has these limits).
RESOURCE_ID = re.compile(r"^[a-z_][a-z0-9_-]{0,62}$")
ENDPOINT_ID = re.compile(r"^([1-9][0-9]{0,8}|[a-z]([a-z0-9-]{0,61}[a-z0-9])?)$")
MAX_LABELS = 64
MAX_LABEL_CHARS = 64
DEPLOYED_MODEL_ID = re.compile(r"^[0-9]{1,10}$")
ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$|^[a-z]$")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
SCALE_TO_ZERO_PERIOD_S = (300, 28800)


def check_machine(spec: Any, field: str) -> None:
    """machine_type known; accelerator allowed on it with an allowed count."""
    name = spec.machine_type or catalog.DEFAULT_MACHINE_TYPE
    machine = catalog.MACHINE_TYPES.get(name)
    if machine is None:
        families = sorted({m.family for m in catalog.MACHINE_TYPES.values()})
        raise invalid(f"Machine type \"{name}\" is not supported for online prediction. "
                      f"Allowed families: {', '.join(families)} (e.g. "
                      f"{catalog.DEFAULT_MACHINE_TYPE}, g2-standard-8, a2-highgpu-1g).",
                      f"{field}.machine_type")
    accelerator = _accelerator_name(spec.accelerator_type)
    count = int(spec.accelerator_count)
    allowed = machine.allowed_accelerators()
    if accelerator is None:
        if count:
            raise invalid(f"accelerator_count is {count} but no accelerator_type is set.",
                          f"{field}.accelerator_type")
        if machine.builtin_accelerator:
            # Vertex accepts a GPU machine without naming its built-in accelerator.
            return
        return
    if accelerator not in allowed:
        choices = ", ".join(f"{a} x{'/'.join(map(str, c))}" for a, c in allowed.items()) or "none"
        home = catalog.ACCELERATOR_HOMES.get(accelerator, "")
        raise invalid(f"Accelerator \"{accelerator}\" is not supported with machine type "
                      f"\"{name}\". Allowed on {name}: {choices}."
                      + (f" {accelerator} needs {home}." if home else ""),
                      f"{field}.accelerator_type")
    counts = allowed[accelerator]
    if count == 0 and machine.builtin_accelerator:
        return
    if count not in counts:
        raise invalid(f"accelerator_count {count} is not allowed for {accelerator} on "
                      f"\"{name}\"; allowed: {', '.join(map(str, counts))}.",
                      f"{field}.accelerator_count")


def _accelerator_name(value: Any) -> str | None:
    name = getattr(value, "name", None) or (str(value) if value else None)
    if not name or name == "ACCELERATOR_TYPE_UNSPECIFIED" or name == "0":
        return None
    return name


def check_split(split: dict[str, int], known_ids: Iterable[str], field: str,
                *, allow_zero_key: bool = False) -> None:
    """Values are percents summing to 100 (or the map is empty); keys name deployed models."""
    if not split:
        return
    known = set(known_ids)
    allowed_keys = sorted(known) + (["0 (the model being deployed)"] if allow_zero_key else [])
    for key, value in split.items():
        if key == "0" and allow_zero_key:
            pass
        elif key not in known:
            hint = "" if allow_zero_key else (
                ' ("0" is only allowed in DeployModel, for the model being deployed)'
                if key == "0" else "")
            raise invalid(f"traffic_split key \"{key}\" is not a DeployedModel id of this "
                          f"Endpoint{hint}; allowed: {', '.join(allowed_keys) or 'none'}.",
                          field)
        if value < 0 or value > 100:
            raise invalid(f"traffic_split[\"{key}\"] is {value}; each value must be 0-100.",
                          field)
    total = sum(split.values())
    if total != 100:
        raise invalid(f"The sum of traffic_split values must be 100, got {total} "
                      f"({', '.join(f'{k}={v}' for k, v in split.items())}).", field)


def check_scale_to_zero(resources: Any, field: str, *, version: str) -> None:
    """min_replica_count 0 needs scale_to_zero_spec (v1beta1 only) with periods in range."""
    min_count = int(resources.min_replica_count)
    max_count = int(resources.max_replica_count)
    has_stz = "scale_to_zero_spec" in resources and bool(
        type(resources).pb(resources).HasField("scale_to_zero_spec"))
    if has_stz and version == "v1":
        raise invalid("scale_to_zero_spec is only available through the v1beta1 API.",
                      f"{field}.scale_to_zero_spec")
    if min_count < 0:
        raise invalid(f"min_replica_count must be >= 0, got {min_count}.",
                      f"{field}.min_replica_count")
    if min_count == 0 and not has_stz:
        raise invalid("min_replica_count must be >= 1 unless scale_to_zero_spec is set "
                      "(v1beta1).", f"{field}.min_replica_count")
    if has_stz:
        if min_count != 0:
            raise invalid("scale_to_zero_spec requires min_replica_count = 0, got "
                          f"{min_count}.", f"{field}.min_replica_count")
        spec = resources.scale_to_zero_spec
        for name in ("min_scaleup_period", "idle_scaledown_period"):
            if name not in spec:
                continue
            seconds = getattr(spec, name).total_seconds()
            low, high = SCALE_TO_ZERO_PERIOD_S
            if seconds and not low <= seconds <= high:
                raise invalid(f"scale_to_zero_spec.{name} is {seconds:g}s; allowed: "
                              f"{low}s-{high}s.", f"{field}.scale_to_zero_spec.{name}")
    if max_count and max_count < max(min_count, 1):
        raise invalid(f"max_replica_count ({max_count}) must be >= min_replica_count "
                      f"({min_count}).", f"{field}.max_replica_count")


def check_alias(alias: str) -> None:
    if not ALIAS.match(alias) or alias.isdigit():
        raise invalid(f"Version alias \"{alias}\" is invalid: it must match "
                      "[a-z][a-zA-Z0-9-]{0,126}[a-z0-9] and not be a number.", "version_aliases")


# ---- List calls -----------------------------------------------------------------------
_TERM = re.compile(r'^\s*(?P<key>[a-zA-Z_][a-zA-Z0-9_.-]*)\s*(?P<op>=|!=|:)\s*'
                   r'(?P<value>"(?:[^"\\]|\\.)*"|[^\s"]+)\s*$')
FILTER_FORMS = ('display_name="NAME"', 'labels.KEY="VALUE"', "labels.KEY:*", "A AND B")


def parse_filter(text: str) -> Callable[[Any], bool]:
    """A predicate for the List filters vxdeploy and gcloud send: display_name and labels."""
    text = text.strip()
    if not text:
        return lambda _resource: True
    terms = []
    for part in re.split(r"\s+AND\s+", text):
        match = _TERM.match(part)
        if not match:
            raise invalid(f"Unsupported filter expression {part!r}; supported forms: "
                          f"{', '.join(FILTER_FORMS)}.", "filter")
        key, op, value = match["key"], match["op"], match["value"]
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"')
        if key in ("display_name", "displayName"):
            terms.append(_compare(lambda r: r.display_name, op, value))
        elif key.startswith("labels."):
            label = key.split(".", 1)[1]
            if op == ":" and value == "*":
                terms.append(_has_label(label))
            else:
                terms.append(_compare(_label_value(label), op, value))
        else:
            raise invalid(f"Unsupported filter field {key!r}; supported forms: "
                          f"{', '.join(FILTER_FORMS)}.", "filter")
    return lambda resource: all(term(resource) for term in terms)


def _compare(get: Callable[[Any], Any], op: str, value: str) -> Callable[[Any], bool]:
    if op == "!=":
        return lambda r: get(r) != value
    return lambda r: get(r) == value


def paginate(items: Sequence[T], page_size: int, page_token: str) -> tuple[list[T], str]:
    """One page and the next token ("" on the last page, or pagers loop forever)."""
    from vxdeploy.emulator.paging import PageError, page

    try:
        return page(items, page_size, page_token, default_size=DEFAULT_PAGE_SIZE,
                    max_size=MAX_PAGE_SIZE)
    except PageError as error:
        raise invalid(str(error), error.field) from error


ORDER_FIELDS = ("create_time", "update_time", "display_name", "name")


def order(items: list[T], order_by: str, default: Callable[[T], Any]) -> list[T]:
    """Sort for `order_by` ("create_time desc, display_name"); `default` when empty."""
    if not order_by.strip():
        return sorted(items, key=default)
    out = list(items)
    keys = [part.split() for part in order_by.split(",") if part.strip()]
    for words in reversed(keys):  # stable sorts, least significant key first
        field = words[0]
        if field not in ORDER_FIELDS or len(words) > 2 or (
                len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise invalid(f"Unsupported order_by {order_by!r}; allowed: fields "
                          f"{', '.join(ORDER_FIELDS)}, each optionally followed by asc or desc.",
                          "order_by")
        out.sort(key=operator.attrgetter(field),
                 reverse=len(words) == 2 and words[1].lower() == "desc")
    return out


def _label_chars_ok(text: str) -> bool:
    return all((ch.isalpha() and ch.islower()) or ch.isdigit() or ch in "_-" for ch in text)


def check_labels(labels: dict[str, str], field: str) -> None:
    """Label rules of the REST reference: at most 64 labels; keys and values at most 64
    Unicode characters of lowercase letters (international ones too), digits, `_` and `-`;
    a key starts with a lowercase letter and is not empty."""
    if len(labels) > MAX_LABELS:
        raise bad_field(field, f"At most {MAX_LABELS} labels are allowed, got {len(labels)}.")
    for key, value in labels.items():
        if not key or not (key[0].isalpha() and key[0].islower()) or \
                len(key) > MAX_LABEL_CHARS or not _label_chars_ok(key):
            raise bad_field(field, f"Label key \"{key}\" is invalid: it must start with a "
                            "lowercase letter and contain only lowercase letters, digits, _ and "
                            f"-, at most {MAX_LABEL_CHARS} characters.")
        if len(value) > MAX_LABEL_CHARS or not _label_chars_ok(value):
            raise bad_field(field, f"Label value \"{value}\" (key \"{key}\") is invalid: only "
                            f"lowercase letters, digits, _ and -, at most {MAX_LABEL_CHARS} "
                            "characters.")


def require(condition: bool, message: str, field: str) -> None:
    if not condition:
        raise invalid(message, field)


def precondition(condition: bool, message: str) -> None:
    if not condition:
        raise ApiError("FAILED_PRECONDITION", message)


def _has_label(label: str) -> Callable[[Any], bool]:
    return lambda resource: label in resource.labels


def _label_value(label: str) -> Callable[[Any], Any]:
    return lambda resource: resource.labels.get(label)
