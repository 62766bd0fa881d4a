"""The part of the Cloud Monitoring filter language vxdeploy and its users write.

Supported: terms joined by AND, each `key = value` or `key != value`, where value is a
quoted string, a bare word or number, or `starts_with("x")`, `ends_with("x")`,
`has_substring("x")`, `one_of("a", "b")`. Anything else (OR, NOT, parentheses) is
rejected with INVALID_ARGUMENT instead of being silently misread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from vxdeploy.emulator.monitoring.errors import invalid

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|=|:|\(|\)|,|<=|>=|<|>)
      | (?P<word>[A-Za-z0-9_./@\-]+)
    )""",
    re.VERBOSE,
)
FUNCTIONS = ("starts_with", "ends_with", "has_substring", "one_of")


@dataclass(frozen=True)
class Term:
    key: str
    negated: bool
    function: str  # "equals" or one of FUNCTIONS
    values: tuple[str, ...]

    def matches(self, actual: str | None) -> bool:
        if actual is None:
            hit = False
        elif self.function == "equals":
            hit = actual == self.values[0]
        elif self.function == "starts_with":
            hit = actual.startswith(self.values[0])
        elif self.function == "ends_with":
            hit = actual.endswith(self.values[0])
        elif self.function == "has_substring":
            hit = self.values[0] in actual
        else:
            hit = actual in self.values
        return hit != self.negated


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise invalid(f"filter {text!r}: cannot parse at character {pos}: {text[pos:]!r}")
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
    return tokens


def parse_filter(text: str) -> list[Term]:
    """Parse `text` into AND-ed terms (an empty filter is an empty list: match all)."""
    tokens = _tokens(text)
    terms: list[Term] = []
    i = 0

    def expect(kind: str, value: str | None = None) -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i][0] != kind or (value and tokens[i][1] != value):
            got = tokens[i][1] if i < len(tokens) else "end of filter"
            raise invalid(f"filter {text!r}: expected {value or kind}, got {got!r}")
        i += 1
        return tokens[i - 1][1]

    while i < len(tokens):
        if terms:
            word = tokens[i][1]
            if tokens[i][0] != "word" or word.upper() != "AND":
                raise invalid(
                    f"filter {text!r}: only terms joined by AND are supported, got {word!r}"
                )
            i += 1
        key = expect("word")
        if key.upper() in ("OR", "NOT", "AND"):
            raise invalid(f"filter {text!r}: {key} is not supported; join terms with AND")
        if i >= len(tokens) or tokens[i][1] not in ("=", "!="):
            got = tokens[i][1] if i < len(tokens) else "end of filter"
            raise invalid(f"filter {text!r}: after {key!r} expected = or !=, got {got!r}")
        negated = tokens[i][1] == "!="
        i += 1
        if i < len(tokens) and tokens[i][0] == "word" and tokens[i][1] in FUNCTIONS:
            function = tokens[i][1]
            i += 1
            expect("op", "(")
            values = [expect("string")]
            while i < len(tokens) and tokens[i][1] == ",":
                i += 1
                values.append(expect("string"))
            expect("op", ")")
            if function != "one_of" and len(values) != 1:
                raise invalid(f"filter {text!r}: {function} takes exactly one string")
            terms.append(Term(key, negated, function, tuple(values)))
        elif i < len(tokens) and tokens[i][0] in ("string", "word"):
            terms.append(Term(key, negated, "equals", (tokens[i][1],)))
            i += 1
        else:
            got = tokens[i][1] if i < len(tokens) else "end of filter"
            raise invalid(f"filter {text!r}: expected a value for {key!r}, got {got!r}")
    return terms


def canonical_key(key: str) -> str:
    """`metric.label.x` and `metric.labels.x` (and `resource.label(s).x`) are the same key."""
    for prefix in ("metric", "resource", "metadata.user_labels", "metadata.system_labels"):
        for form in (f"{prefix}.label.", f"{prefix}.labels."):
            if key.startswith(form):
                return f"{prefix}.labels.{key[len(form) :]}"
    if key.startswith("user_label."):
        return "user_labels." + key[len("user_label.") :]
    return key


def matches(terms: list[Term], lookup: Callable[[str], str | None]) -> bool:
    """Whether every term holds for the object `lookup` describes (by canonical key)."""
    return all(term.matches(lookup(canonical_key(term.key))) for term in terms)


def equality_value(terms: list[Term], key: str) -> str | None:
    """The value a positive `key = "v"` term pins, if any (e.g. the one metric.type)."""
    for term in terms:
        if canonical_key(term.key) == key and term.function == "equals" and not term.negated:
            return term.values[0]
    return None
